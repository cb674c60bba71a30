//! The friends-only rule at read time: whose friends-only posts a reader may see right now.
//!
//! The worker fans a friends-only post out to the author's friends of that moment; every read
//! (feed pages, resume replays, gap fills, `GET /v1/posts`) asks again, so an unfollow on
//! either side hides the author's earlier friends-only posts from then on.

use std::collections::HashSet;

use pushgate_protocol::{Audience, FeedItem};

use crate::backplane::{BackplaneResult, FollowGraph, UserId};

/// The authors, among those asked about, whose friends-only posts one reader may read now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FriendCheck {
    /// Who reads: its own posts are always readable.
    reader: UserId,
    /// The asked authors that are the reader's friends (each follows the other).
    friends: HashSet<UserId>,
}

impl FriendCheck {
    /// Asks the follow graph about the distinct `authors` other than `reader`, in one
    /// [`FollowGraph::friends`] call (two reads), or none when there is no one to ask about.
    pub async fn ask(
        follows: &dyn FollowGraph,
        reader: &str,
        authors: Vec<&str>,
    ) -> BackplaneResult<Self> {
        let mut others: Vec<UserId> = authors
            .into_iter()
            .filter(|author| *author != reader)
            .map(str::to_owned)
            .collect();
        others.sort_unstable();
        others.dedup();
        let friends = if others.is_empty() {
            HashSet::new()
        } else {
            let answers = follows.friends(reader, &others).await?;
            others
                .into_iter()
                .zip(answers)
                .filter(|(_, friend)| *friend)
                .map(|(author, _)| author)
                .collect()
        };
        Ok(Self {
            reader: reader.to_owned(),
            friends,
        })
    }

    /// The authors of the friends-only posts among `items`, to [`FriendCheck::ask`] about.
    pub fn authors<'a>(items: impl IntoIterator<Item = &'a FeedItem>) -> Vec<&'a str> {
        items.into_iter().filter_map(friends_only_author).collect()
    }

    /// Whether the reader may read a friends-only post by `author` (one asked about).
    pub fn allows(&self, author: &str) -> bool {
        author == self.reader || self.friends.contains(author)
    }

    /// Whether the reader may see `item` in a feed: anything but a friends-only post of an
    /// author who is not (or no longer) its friend.
    pub fn shows(&self, item: &FeedItem) -> bool {
        friends_only_author(item).is_none_or(|author| self.allows(author))
    }
}

/// The author of a friends-only post; `None` for every other item.
fn friends_only_author(item: &FeedItem) -> Option<&str> {
    match item {
        FeedItem::Post {
            author,
            audience: Audience::Friends,
            ..
        } => Some(author),
        FeedItem::Post { .. } | FeedItem::Notify { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backplane::Backplane;
    use crate::memory::MemoryConfig;

    fn post(author: &str, audience: Audience) -> FeedItem {
        FeedItem::Post {
            id: 1,
            author: author.into(),
            ts: 1,
            audience,
        }
    }

    #[tokio::test]
    async fn only_mutual_follows_and_the_author_see_friends_posts() {
        let bp = Backplane::memory(&MemoryConfig::default());
        for (user, author) in [
            ("reader", "friend"),
            ("friend", "reader"),
            ("reader", "idol"),
        ] {
            bp.follows.follow(user, author, 10).await.expect("follow");
        }
        // "fan" follows the reader, the reader does not follow back.
        bp.follows
            .follow("fan", "reader", 10)
            .await
            .expect("follow");
        let items = [
            post("friend", Audience::Friends),
            post("idol", Audience::Friends),
            post("fan", Audience::Friends),
            post("stranger", Audience::Friends),
            post("reader", Audience::Friends),
            post("stranger", Audience::Followers),
        ];
        let check = FriendCheck::ask(bp.follows.as_ref(), "reader", FriendCheck::authors(&items))
            .await
            .expect("check");
        let shown: Vec<bool> = items.iter().map(|i| check.shows(i)).collect();
        assert_eq!(shown, [true, false, false, false, true, true]);

        // An unfollow by the author hides its friends posts from the next check on.
        bp.follows
            .unfollow("friend", "reader")
            .await
            .expect("unfollow");
        let check = FriendCheck::ask(bp.follows.as_ref(), "reader", FriendCheck::authors(&items))
            .await
            .expect("check");
        assert!(!check.shows(&items[0]));
    }

    #[tokio::test]
    async fn followers_posts_and_notifications_are_always_shown() {
        let bp = Backplane::memory(&MemoryConfig::default());
        let notify = FeedItem::Notify {
            id: 1,
            kind: "k".into(),
            data: serde_json::Value::Null,
            ts: 1,
        };
        let items = [post("a", Audience::Followers), notify];
        let check = FriendCheck::ask(bp.follows.as_ref(), "reader", FriendCheck::authors(&items))
            .await
            .expect("check");
        assert!(check.friends.is_empty() && items.iter().all(|i| check.shows(i)));
    }
}
