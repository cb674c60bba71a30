//! In-memory per-user capped feeds with dense positions.

use std::collections::VecDeque;

use async_trait::async_trait;
use dashmap::DashMap;
use pushgate_protocol::{FeedEntry, FeedItem};

use crate::backplane::{BackplaneResult, FeedSlice, FeedStore, UserHasher, UserId};

/// How far back `append` looks for the same item when deduplicating a retried event. Retries
/// come within seconds of the first attempt, so the item, if present, is among the newest.
const DEDUPE_WINDOW: usize = 64;

#[derive(Debug, Default)]
struct Feed {
    /// Position of the newest entry; positions are never reused, even after trimming.
    head: u64,
    /// The newest `cap` entries, oldest first.
    entries: VecDeque<FeedEntry>,
}

impl Feed {
    /// Position of the oldest entry still held (head + 1 when empty).
    fn first(&self) -> u64 {
        self.head + 1 - self.entries.len() as u64
    }
}

/// The embedded feed store.
#[derive(Debug)]
pub struct MemoryFeedStore {
    feeds: DashMap<UserId, Feed, UserHasher>,
    cap: usize,
}

impl MemoryFeedStore {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            feeds: DashMap::default(),
            cap: cap.max(1),
        }
    }
}

#[async_trait]
impl FeedStore for MemoryFeedStore {
    async fn append(&self, users: &[UserId], item: &FeedItem) -> BackplaneResult<Vec<u64>> {
        let mut positions = Vec::with_capacity(users.len());
        for user in users {
            let mut feed = self.feeds.entry(user.clone()).or_default();
            let existing = feed
                .entries
                .iter()
                .rev()
                .take(DEDUPE_WINDOW)
                .find(|e| e.item == *item);
            if let Some(entry) = existing {
                positions.push(entry.seq);
                continue;
            }
            feed.head += 1;
            let seq = feed.head;
            feed.entries.push_back(FeedEntry {
                seq,
                item: item.clone(),
            });
            if feed.entries.len() > self.cap {
                feed.entries.pop_front();
            }
            positions.push(seq);
        }
        Ok(positions)
    }

    async fn since(&self, user: &str, after: u64, limit: usize) -> BackplaneResult<FeedSlice> {
        let Some(feed) = self.feeds.get(user) else {
            return Ok(FeedSlice {
                entries: Vec::new(),
                complete: true,
            });
        };
        let first = feed.first();
        let skip = after.saturating_sub(first - 1) as usize;
        Ok(FeedSlice {
            entries: feed
                .entries
                .iter()
                .skip(skip)
                .take(limit)
                .cloned()
                .collect(),
            // Saturating: a client's cursor may say anything up to u64::MAX.
            complete: after.saturating_add(1) >= first,
        })
    }

    async fn before(
        &self,
        user: &str,
        before: Option<u64>,
        limit: usize,
    ) -> BackplaneResult<Vec<FeedEntry>> {
        let Some(feed) = self.feeds.get(user) else {
            return Ok(Vec::new());
        };
        let before = before.unwrap_or(u64::MAX);
        Ok(feed
            .entries
            .iter()
            .rev()
            .filter(|e| e.seq < before)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn head(&self, user: &str) -> BackplaneResult<u64> {
        Ok(self.feeds.get(user).map_or(0, |f| f.head))
    }
}
