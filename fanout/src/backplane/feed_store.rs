//! Per-user capped feeds with dense per-user positions: the source of truth for delivery.

use async_trait::async_trait;
use pushgate_protocol::{FeedEntry, FeedItem};

use super::{BackplaneResult, UserId};

/// Entries kept per user feed unless configured; a client that missed more resumes
/// incompletely (`complete: false`).
pub const DEFAULT_FEED_CAP: usize = 1000;

/// A run of feed entries, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeedSlice {
    /// The entries.
    pub entries: Vec<FeedEntry>,
    /// False when entries right after the asked position were already trimmed by the cap.
    pub complete: bool,
}

/// Per-user feeds.
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Append `item` to each user's feed and return the position it took there (same order).
    ///
    /// Idempotent per (user, item): a retried event gets back the position it already has,
    /// so at-least-once fan-out never shows a client the same item twice.
    async fn append(&self, users: &[UserId], item: &FeedItem) -> BackplaneResult<Vec<u64>>;

    /// Entries after position `after`, oldest first, at most `limit`.
    async fn since(&self, user: &str, after: u64, limit: usize) -> BackplaneResult<FeedSlice>;

    /// Entries before position `before` (`None` = the newest), newest first, at most `limit`.
    async fn before(
        &self,
        user: &str,
        before: Option<u64>,
        limit: usize,
    ) -> BackplaneResult<Vec<FeedEntry>>;

    /// The position of the user's newest entry (0 for an empty feed).
    async fn head(&self, user: &str) -> BackplaneResult<u64>;
}
