//! In-memory celebrity timelines numbered by one global broadcast sequence.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use pushgate_protocol::{Audience, FeedItem, PostId};

use crate::backplane::{BackplaneResult, BroadcastEntry, BroadcastLog, BroadcastSlice, UserId};

#[derive(Debug, Default)]
struct Timeline {
    /// The newest `cap` entries of one author, oldest first.
    entries: VecDeque<BroadcastEntry>,
    /// Highest global position dropped from this timeline (0 = nothing dropped).
    trimmed_through: u64,
}

#[derive(Debug, Default)]
struct State {
    timelines: HashMap<UserId, Timeline>,
}

/// The embedded broadcast log.
#[derive(Debug)]
pub struct MemoryBroadcastLog {
    state: Mutex<State>,
    /// The newest position, written under `state`'s lock once its entry is in place. Kept
    /// outside the lock because every connect reads it, and taking the lock from both
    /// workers bounced its cache line between them.
    head: AtomicU64,
    cap: usize,
}

impl MemoryBroadcastLog {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            head: AtomicU64::new(0),
            cap: cap.max(1),
        }
    }
}

fn post_id(entry: &BroadcastEntry) -> Option<PostId> {
    match entry.item {
        FeedItem::Post { id, .. } => Some(id),
        FeedItem::Notify { .. } => None,
    }
}

#[async_trait]
impl BroadcastLog for MemoryBroadcastLog {
    async fn append(&self, author: &str, id: PostId, ts: u64) -> BackplaneResult<u64> {
        let mut state = self.state.lock().expect("broadcast log lock");
        if let Some(timeline) = state.timelines.get(author) {
            if let Some(entry) = timeline
                .entries
                .iter()
                .rev()
                .find(|e| post_id(e) == Some(id))
            {
                return Ok(entry.seq);
            }
        }
        let seq = self.head.load(Ordering::Relaxed) + 1;
        let timeline = state.timelines.entry(author.to_owned()).or_default();
        timeline.entries.push_back(BroadcastEntry {
            seq,
            item: FeedItem::Post {
                id,
                author: author.to_owned(),
                ts,
                // Friends-only posts never take the broadcast path.
                audience: Audience::Followers,
            },
        });
        if timeline.entries.len() > self.cap {
            if let Some(dropped) = timeline.entries.pop_front() {
                timeline.trimmed_through = dropped.seq;
            }
        }
        self.head.store(seq, Ordering::Release);
        Ok(seq)
    }

    async fn since(
        &self,
        authors: &[UserId],
        after: u64,
        limit: usize,
    ) -> BackplaneResult<BroadcastSlice> {
        let state = self.state.lock().expect("broadcast log lock");
        let mut complete = true;
        let mut entries = Vec::new();
        for timeline in authors.iter().filter_map(|a| state.timelines.get(a)) {
            complete &= timeline.trimmed_through <= after;
            entries.extend(
                timeline
                    .entries
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit)
                    .cloned(),
            );
        }
        entries.sort_by_key(|e| e.seq);
        entries.truncate(limit);
        Ok(BroadcastSlice { entries, complete })
    }

    async fn before(
        &self,
        authors: &[UserId],
        before: Option<u64>,
        limit: usize,
    ) -> BackplaneResult<Vec<BroadcastEntry>> {
        let state = self.state.lock().expect("broadcast log lock");
        let before = before.unwrap_or(u64::MAX);
        let mut entries: Vec<BroadcastEntry> = authors
            .iter()
            .filter_map(|a| state.timelines.get(a))
            .flat_map(|t| {
                t.entries
                    .iter()
                    .rev()
                    .filter(|e| e.seq < before)
                    .take(limit)
                    .cloned()
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
        entries.truncate(limit);
        Ok(entries)
    }

    async fn range(&self, after: u64, limit: usize) -> BackplaneResult<Vec<BroadcastEntry>> {
        let state = self.state.lock().expect("broadcast log lock");
        let mut entries: Vec<BroadcastEntry> = state
            .timelines
            .values()
            .flat_map(|t| {
                t.entries
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit)
                    .cloned()
            })
            .collect();
        entries.sort_by_key(|e| e.seq);
        entries.truncate(limit);
        Ok(entries)
    }

    async fn head(&self) -> BackplaneResult<u64> {
        Ok(self.head.load(Ordering::Acquire))
    }
}
