//! Puts celebrity broadcasts back in global order before they reach connections.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pushgate_fanout::backplane::BroadcastEntry;
use pushgate_protocol::FeedItem;
use tokio::time::Instant;

/// How long a gap in broadcast positions may stay open before it is filled from the log.
/// Reordering between workers closes within milliseconds; a message lost on the bus never does.
pub const GAP_WAIT: Duration = Duration::from_millis(300);
/// Held broadcasts beyond which the gap is filled at once, bounding memory.
const MAX_HELD: usize = 1024;
/// A position this far behind the next expected one means the log was reset (Redis restarted
/// without persistence), not a duplicate.
const RESET_DISTANCE: u64 = 10_000;

/// Every node receives every broadcast, so it can see the whole global sequence and release
/// broadcasts strictly in position order. That matters because connections advance their
/// cursor to the newest broadcast delivered: with two workers, position 11 could otherwise
/// overtake 10, and a client resuming after 11 would never see 10.
#[derive(Debug, Default)]
pub struct BroadcastOrder {
    /// The next position to release; `None` until the first broadcast or head is known.
    next: Option<u64>,
    /// Received out of order, waiting for the gap before them to close.
    held: BTreeMap<u64, Arc<FeedItem>>,
    /// When the oldest open gap was first seen.
    gap_since: Option<Instant>,
}

impl BroadcastOrder {
    /// Start after the log's `head` (positions up to it are history, not live).
    pub fn new(head: Option<u64>) -> Self {
        Self {
            next: head.map(|h| h.saturating_add(1)),
            ..Self::default()
        }
    }

    /// Take a received broadcast; returns what can now be released, in order.
    pub fn accept(&mut self, seq: u64, item: Arc<FeedItem>) -> Vec<(u64, Arc<FeedItem>)> {
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            if next - seq < RESET_DISTANCE {
                return Vec::new();
            }
            self.held.clear();
            self.next = Some(seq);
        }
        self.held.insert(seq, item);
        self.release()
    }

    /// When the open gap must be filled from the log, if one is open.
    pub fn deadline(&self) -> Option<Instant> {
        let since = self.gap_since?;
        Some(if self.held.len() > MAX_HELD {
            since
        } else {
            since + GAP_WAIT
        })
    }

    /// The missing positions: (after, count) for a log read.
    pub fn gap(&self) -> Option<(u64, usize)> {
        let next = self.next?;
        let (first_held, _) = self.held.first_key_value()?;
        Some((next.saturating_sub(1), (first_held - next) as usize))
    }

    /// Fill the gap with what the log holds; positions it no longer holds are skipped.
    pub fn fill(&mut self, entries: Vec<BroadcastEntry>) -> Vec<(u64, Arc<FeedItem>)> {
        let next = self.next.unwrap_or(0);
        for entry in entries.into_iter().filter(|e| e.seq >= next) {
            self.held
                .entry(entry.seq)
                .or_insert_with(|| Arc::new(entry.item));
        }
        if let Some((&first, _)) = self.held.first_key_value() {
            self.next = Some(first);
        }
        self.release()
    }

    fn release(&mut self) -> Vec<(u64, Arc<FeedItem>)> {
        let mut ready = Vec::new();
        while let (Some(next), Some((&seq, _))) = (self.next, self.held.first_key_value()) {
            if seq != next {
                break;
            }
            if let Some(item) = self.held.remove(&seq) {
                ready.push((seq, item));
            }
            self.next = Some(next.saturating_add(1));
        }
        self.gap_since = match (self.held.is_empty(), self.gap_since) {
            (true, _) => None,
            (false, Some(since)) if ready.is_empty() => Some(since),
            (false, _) => Some(Instant::now()),
        };
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pushgate_protocol::Audience;

    fn item(id: u64) -> Arc<FeedItem> {
        Arc::new(FeedItem::Post {
            id,
            author: "star".into(),
            ts: id,
            audience: Audience::Followers,
        })
    }

    fn seqs(released: Vec<(u64, Arc<FeedItem>)>) -> Vec<u64> {
        released.into_iter().map(|(seq, _)| seq).collect()
    }

    #[test]
    fn releases_in_order_and_drops_duplicates() {
        let mut order = BroadcastOrder::new(Some(9));
        assert_eq!(seqs(order.accept(11, item(11))), Vec::<u64>::new());
        assert!(order.deadline().is_some());
        assert_eq!(order.gap(), Some((9, 1)));
        assert_eq!(seqs(order.accept(10, item(10))), vec![10, 11]);
        assert!(order.deadline().is_none());
        assert_eq!(seqs(order.accept(10, item(10))), Vec::<u64>::new());
    }

    #[test]
    fn fills_lost_positions_from_the_log_and_skips_trimmed_ones() {
        let mut order = BroadcastOrder::new(Some(0));
        order.accept(4, item(4));
        let from_log = vec![BroadcastEntry {
            seq: 2,
            item: FeedItem::Post {
                id: 2,
                author: "star".into(),
                ts: 2,
                audience: Audience::Followers,
            },
        }];
        // Position 1 is gone from the log, 3 is missing: release what exists, in order.
        assert_eq!(seqs(order.fill(from_log)), vec![2]);
        assert_eq!(order.gap(), Some((2, 1)));
        assert_eq!(seqs(order.fill(Vec::new())), vec![4]);
    }

    #[test]
    fn a_far_older_position_means_the_log_was_reset() {
        let mut order = BroadcastOrder::new(Some(50_000));
        assert_eq!(seqs(order.accept(1, item(1))), vec![1]);
        assert_eq!(seqs(order.accept(2, item(2))), vec![2]);
    }
}
