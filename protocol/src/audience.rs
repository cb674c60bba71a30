//! Who a fanned-out post is for, carried with it so reads can apply the rule again.

use serde::{Deserialize, Serialize};

/// Which readers a post in feeds and pushes is for.
///
/// Feed entries carry it (rather than the read side looking each post up) because a read
/// that filters friends-only posts must know which entries they are without fetching every
/// post body of a page or a resume: the visibility never changes after creation, and a
/// feed entry costs no byte more for the other posts (the default is not written).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Everyone who follows the author (`public` and `followers` posts).
    #[default]
    Followers,
    /// Only the author's friends (mutual follows), checked again whenever it is read.
    Friends,
}

impl Audience {
    /// True for the default, which encodings leave out.
    pub fn is_followers(&self) -> bool {
        *self == Audience::Followers
    }
}
