//! Celebrity posts, kept once per author and merged into followers' feeds at read time.

use async_trait::async_trait;
use pushgate_protocol::{FeedItem, PostId};

use super::{BackplaneResult, UserId};

/// A celebrity post at its position in the global broadcast log.
#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastEntry {
    /// Global, dense broadcast sequence number assigned when written.
    pub seq: u64,
    /// The post (always a `FeedItem::Post`).
    pub item: FeedItem,
}

/// A run of broadcast entries, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BroadcastSlice {
    /// The entries.
    pub entries: Vec<BroadcastEntry>,
    /// False when an asked author's timeline was trimmed past the asked position.
    pub complete: bool,
}

/// The broadcast log.
#[async_trait]
pub trait BroadcastLog: Send + Sync {
    /// Record a celebrity post and return its global position; idempotent per post ID.
    async fn append(&self, author: &str, id: PostId, ts: u64) -> BackplaneResult<u64>;

    /// Entries by any of `authors` after global position `after`, oldest first, at most `limit`.
    async fn since(
        &self,
        authors: &[UserId],
        after: u64,
        limit: usize,
    ) -> BackplaneResult<BroadcastSlice>;

    /// Entries by any of `authors` before `before` (`None` = newest), newest first, at most `limit`.
    async fn before(
        &self,
        authors: &[UserId],
        before: Option<u64>,
        limit: usize,
    ) -> BackplaneResult<Vec<BroadcastEntry>>;

    /// Every author's entries after global position `after`, oldest first, at most `limit`;
    /// entries trimmed by now are absent. Gateways use it to fill a gap in the broadcasts
    /// they received (a lost or reordered message).
    async fn range(&self, after: u64, limit: usize) -> BackplaneResult<Vec<BroadcastEntry>>;

    /// The newest global position (0 when empty).
    async fn head(&self) -> BackplaneResult<u64>;
}
