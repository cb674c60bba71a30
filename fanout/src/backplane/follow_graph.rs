//! Who follows whom, read in chunks so huge follower sets never load at once.

use async_trait::async_trait;

use super::{BackplaneResult, UserId};

/// One chunk of an author's followers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FollowerPage {
    /// Followers in this chunk.
    pub users: Vec<UserId>,
    /// Where the next chunk starts; `None` when this was the last.
    pub next: Option<String>,
}

/// What a follow did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followed {
    /// `user` follows `author` now and did not before.
    New,
    /// `user` already followed `author` (a repeated follow succeeds, even at the limit).
    Already,
    /// `user` already follows the most authors allowed; nothing changed.
    LimitReached,
}

/// One follow edge: `user` follows `author`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub user: UserId,
    pub author: UserId,
}

/// What a batch of follows and unfollows did, edge by edge in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Per follow edge.
    pub followed: Vec<Followed>,
    /// Per unfollow edge: whether the user was following.
    pub unfollowed: Vec<bool>,
}

/// The follow graph.
#[async_trait]
pub trait FollowGraph: Send + Sync {
    /// `user` follows `author`, unless it already follows `max_following` others. The check
    /// and the change are one atomic step, so concurrent follows cannot pass the limit.
    async fn follow(
        &self,
        user: &str,
        author: &str,
        max_following: usize,
    ) -> BackplaneResult<Followed>;

    /// `user` stops following `author`; returns whether it was following.
    async fn unfollow(&self, user: &str, author: &str) -> BackplaneResult<bool>;

    /// How many followers `author` has (decides celebrity fan-out).
    async fn follower_count(&self, author: &str) -> BackplaneResult<u64>;

    /// Up to `limit` followers of `author` starting at `from` (a page's `next`).
    async fn followers(
        &self,
        author: &str,
        from: Option<&str>,
        limit: usize,
    ) -> BackplaneResult<FollowerPage>;

    /// For each of `users`, whether it follows `author` (same order).
    async fn filter_followers(&self, author: &str, users: &[UserId]) -> BackplaneResult<Vec<bool>>;

    /// A value that changes whenever `author`'s followers change (0 while nothing is known),
    /// so a caller may keep what [`FollowGraph::filter_followers`] said until it moves.
    async fn followers_revision(&self, author: &str) -> BackplaneResult<u64>;

    /// Everyone `user` follows (feeds merge celebrity timelines from it).
    async fn following(&self, user: &str) -> BackplaneResult<Vec<UserId>>;

    /// The follows, then the unfollows, each as [`FollowGraph::follow`] and
    /// [`FollowGraph::unfollow`] would do it (so a retried batch converges). One edge at a
    /// time here; a store with round trips to save overrides it.
    async fn apply(
        &self,
        follow: &[Edge],
        unfollow: &[Edge],
        max_following: usize,
    ) -> BackplaneResult<BatchOutcome> {
        let mut outcome = BatchOutcome::default();
        for edge in follow {
            let done = self.follow(&edge.user, &edge.author, max_following).await?;
            outcome.followed.push(done);
        }
        for edge in unfollow {
            let done = self.unfollow(&edge.user, &edge.author).await?;
            outcome.unfollowed.push(done);
        }
        Ok(outcome)
    }

    /// For each of `others`, whether it is `user`'s friend: `user` follows it and it follows
    /// `user` back (same order). Two reads whatever the number of others: `user`'s follow
    /// list is bounded by the follow limit.
    async fn friends(&self, user: &str, others: &[UserId]) -> BackplaneResult<Vec<bool>> {
        let followed: std::collections::HashSet<UserId> =
            self.following(user).await?.into_iter().collect();
        let follow_back = self.filter_followers(user, others).await?;
        Ok(others
            .iter()
            .zip(follow_back)
            .map(|(other, back)| back && followed.contains(other))
            .collect())
    }
}
