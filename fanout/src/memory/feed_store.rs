//! In-memory per-user capped feeds with dense positions.

use std::collections::VecDeque;

use async_trait::async_trait;
use dashmap::DashMap;
use pushgate_protocol::{FeedEntry, FeedItem};

use crate::backplane::{BackplaneResult, FeedSlice, FeedStore, UserId};

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
    feeds: DashMap<UserId, Feed>,
    cap: usize,
}

impl MemoryFeedStore {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            feeds: DashMap::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use pushgate_protocol::Audience;

    fn post(id: u64) -> FeedItem {
        FeedItem::Post {
            id,
            author: "a".into(),
            ts: id,
            audience: Audience::Followers,
        }
    }

    #[tokio::test]
    async fn positions_are_dense_per_user_and_retries_dedupe() {
        let store = MemoryFeedStore::new(10);
        let users = vec!["x".to_owned(), "y".to_owned()];
        assert_eq!(
            store.append(&users[..1], &post(1)).await.expect("append"),
            vec![1]
        );
        assert_eq!(
            store.append(&users, &post(2)).await.expect("append"),
            vec![2, 1]
        );
        assert_eq!(
            store.append(&users, &post(2)).await.expect("retry"),
            vec![2, 1]
        );
        assert_eq!(store.head("x").await.expect("head"), 2);
    }

    #[tokio::test]
    async fn trimming_makes_old_cursors_incomplete() {
        let store = MemoryFeedStore::new(3);
        let users = vec!["x".to_owned()];
        for id in 1..=5 {
            store.append(&users, &post(id)).await.expect("append");
        }
        let old = store.since("x", 1, 10).await.expect("since");
        assert!(!old.complete);
        assert_eq!(
            old.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        let recent = store.since("x", 2, 10).await.expect("since");
        assert!(recent.complete);
        assert_eq!(recent.entries.len(), 3);
        let page = store.before("x", Some(5), 2).await.expect("before");
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 3]);
    }
}
