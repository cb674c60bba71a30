//! Post bodies and the atomic "store post + append fan-out event" step.

use async_trait::async_trait;
use pushgate_protocol::{Audience, PostId};
use serde::{Deserialize, Serialize};

use super::{BackplaneResult, UserId};

/// Who may read a post: `public` anyone with a token; `followers` the author and its
/// followers (anyone may follow anyone, so this keeps out only who did not choose to follow:
/// it is not consent); `friends` the author and its friends, mutual follows (the author
/// consents by following back), checked at every read and push, so an unfollow on either side
/// hides it from then on; `private` the author only, never pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone with a valid token.
    Public,
    /// The author and the author's followers.
    Followers,
    /// The author and the users it follows that follow it back.
    Friends,
    /// The author only; never fanned out.
    Private,
}

impl Visibility {
    /// The fan-out rule, for every store: whom a post's event is fanned out to, or `None`
    /// for a post that is never fanned out.
    pub fn audience(self) -> Option<Audience> {
        match self {
            Visibility::Public | Visibility::Followers => Some(Audience::Followers),
            Visibility::Friends => Some(Audience::Friends),
            Visibility::Private => None,
        }
    }
}

/// A post as stored and as returned by the REST API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Post {
    /// Assigned by the store in creation order.
    pub id: PostId,
    /// The author's user ID.
    pub author: UserId,
    /// The text body.
    pub content: String,
    /// Optional attachment link, passed through.
    pub media_url: Option<String>,
    /// Who may read it.
    pub visibility: Visibility,
    /// Creation time, microseconds since the Unix epoch.
    pub ts: u64,
}

/// A post to create; the store assigns ID and time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPost {
    pub author: UserId,
    pub content: String,
    pub media_url: Option<String>,
    pub visibility: Visibility,
}

/// What `create` did.
#[derive(Clone, Debug, PartialEq)]
pub enum CreateOutcome {
    /// A new post was stored and its fan-out event appended.
    Created(Post),
    /// The idempotency key was seen before with the same body: the earlier post, nothing appended.
    Replayed(Post),
}

/// Post storage.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Store `post` and append its fan-out event in one atomic step, so a post is never stored
    /// without being fanned out, nor fanned out without being stored.
    ///
    /// With an `idempotency_key` (scoped to the author) seen before: the same body replays the
    /// stored post; another body is a `Conflict`.
    async fn create(
        &self,
        post: NewPost,
        idempotency_key: Option<&str>,
    ) -> BackplaneResult<CreateOutcome>;

    /// The posts that exist among `ids`, in the order asked; missing or deleted ones are left out.
    async fn get_many(&self, ids: &[PostId]) -> BackplaneResult<Vec<Post>>;

    /// Delete a post; returns whether it existed. Feeds keep the ID; fetching it finds nothing.
    async fn delete(&self, id: PostId) -> BackplaneResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_posts_are_not_fanned_out_and_friends_posts_only_to_friends() {
        assert_eq!(Visibility::Public.audience(), Some(Audience::Followers));
        assert_eq!(Visibility::Followers.audience(), Some(Audience::Followers));
        assert_eq!(Visibility::Friends.audience(), Some(Audience::Friends));
        assert_eq!(Visibility::Private.audience(), None);
    }

    #[test]
    fn visibilities_have_their_wire_names() {
        for (visibility, name) in [
            (Visibility::Public, "public"),
            (Visibility::Followers, "followers"),
            (Visibility::Friends, "friends"),
            (Visibility::Private, "private"),
        ] {
            assert_eq!(serde_json::to_value(visibility).expect("encodes"), name);
        }
    }
}
