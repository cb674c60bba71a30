//! How far one connection has delivered the user's feed, and what each push or replayed entry
//! means against that: deliver, duplicate, gap, store reset, replay overlap.

use pushgate_protocol::Cursor;

/// The delivery bookkeeping of one connection, without I/O: the connection asks it what a
/// push means, does the reads it calls for, and tells it what was delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryCursor {
    /// Highest positions pushed to the client, per source: every frame carries it.
    delivered: Cursor,
    /// Creation time of the entry at `delivered.feed` (0 = unknown): a push at that same
    /// position with another time comes from a store that was reset, not a duplicate.
    last_feed_ts: u64,
    /// The head when the connection went live: positions in (floor, delivered] were pushed
    /// live, so a late `resume` does not repeat them.
    floor: Cursor,
}

/// What a feed push at some position means for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedPush {
    /// The next position: deliver it.
    Deliver,
    /// Already delivered: drop it.
    Duplicate,
    /// Another item at the position last delivered: the store lost its data and positions
    /// started over; [`DeliveryCursor::restart_feed`], then deliver.
    StoreReset,
    /// Behind what was delivered and nothing to compare it with: a duplicate unless the
    /// store's head is behind too ([`DeliveryCursor::head_shows_reset`]).
    CheckHead,
    /// Positions `(after, after + missing]` never arrived as pushes: read them from the feed
    /// and deliver them first.
    Gap { after: u64, missing: usize },
}

/// Whether a replayed entry goes to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// Not delivered yet: send it.
    Send,
    /// Pushed live already (a `resume` that came after the connection went live): skip it.
    Overlap,
}

/// Where a replay starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayStart {
    /// Read the feed after this position.
    pub after: Cursor,
    /// The client's cursor is past anything the feed handed out (the store was reset, or the
    /// cursor made up): the replay is everything the feed holds, and incomplete.
    pub store_reset: bool,
}

impl DeliveryCursor {
    /// A connection that starts at the feed's `head`: nothing before it is pushed.
    pub fn at_head(head: Cursor) -> Self {
        Self {
            delivered: head,
            last_feed_ts: 0,
            floor: head,
        }
    }

    /// Highest positions delivered so far.
    pub fn delivered(&self) -> Cursor {
        self.delivered
    }

    /// What a push at feed position `seq`, created at `ts`, means.
    pub fn feed_push(&self, seq: u64, ts: u64) -> FeedPush {
        let delivered = self.delivered.feed;
        if seq <= delivered {
            if seq == delivered && self.last_feed_ts != 0 {
                return if ts == self.last_feed_ts {
                    FeedPush::Duplicate
                } else {
                    FeedPush::StoreReset
                };
            }
            return FeedPush::CheckHead;
        }
        if seq > delivered.saturating_add(1) {
            return FeedPush::Gap {
                after: delivered,
                missing: (seq - delivered - 1) as usize,
            };
        }
        FeedPush::Deliver
    }

    /// After [`FeedPush::CheckHead`]: whether the store's feed `head` shows a reset (heads
    /// only move forward, so one behind what was delivered started over).
    pub fn head_shows_reset(&self, head: u64) -> bool {
        head < self.delivered.feed
    }

    /// The store started over: follow its positions down so the push at `seq` is delivered
    /// next instead of muted.
    pub fn restart_feed(&mut self, seq: u64) {
        self.delivered.feed = seq.saturating_sub(1);
    }

    /// Record the delivery of the feed entry at `seq`, created at `ts`; returns the cursor
    /// its frame carries.
    pub fn deliver_feed(&mut self, seq: u64, ts: u64) -> Cursor {
        self.delivered.feed = seq;
        self.last_feed_ts = ts;
        self.delivered
    }

    /// A broadcast push at `seq`: the cursor its frame carries, or `None` for a duplicate.
    pub fn deliver_broadcast(&mut self, seq: u64) -> Option<Cursor> {
        if seq <= self.delivered.broadcast {
            return None;
        }
        self.delivered.broadcast = seq;
        Some(self.delivered)
    }

    /// Pushes folded up to `cursor` count as delivered (the client pages them); returns the
    /// cursor `feed_advanced` carries.
    pub fn fold(&mut self, cursor: Cursor) -> Cursor {
        self.delivered = self.delivered.max(cursor);
        self.delivered
    }

    /// Where a replay after the client's cursor `after` starts.
    pub fn replay_start(&self, after: Cursor) -> ReplayStart {
        let store_reset = after.is_beyond(self.delivered);
        ReplayStart {
            after: if store_reset {
                Cursor::default()
            } else {
                after
            },
            store_reset,
        }
    }

    /// A replayed entry at `entry` (created at `ts`) that follows the one at `previous`:
    /// each entry advances exactly one component, that of the source it came from.
    pub fn replayed(&mut self, previous: Cursor, entry: Cursor, ts: u64) -> Replayed {
        let from_feed = entry.feed != previous.feed;
        let pushed_live = if from_feed {
            entry.feed > self.floor.feed && entry.feed <= self.delivered.feed
        } else {
            entry.broadcast > self.floor.broadcast && entry.broadcast <= self.delivered.broadcast
        };
        if from_feed && entry.feed >= self.delivered.feed {
            self.last_feed_ts = ts;
        }
        if pushed_live {
            Replayed::Overlap
        } else {
            Replayed::Send
        }
    }

    /// The replay read up to `last`: that counts as delivered, and the connection is live
    /// from here.
    pub fn replay_done(&mut self, last: Cursor) {
        self.delivered = self.delivered.max(last);
        self.floor = self.delivered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cursor that delivered feed entries 1..=3 live (the last created at 30) from a head
    /// of 0.
    fn after_three() -> DeliveryCursor {
        let mut cursor = DeliveryCursor::at_head(Cursor::default());
        for seq in 1..=3 {
            assert_eq!(cursor.feed_push(seq, seq * 10), FeedPush::Deliver);
            assert_eq!(cursor.deliver_feed(seq, seq * 10), Cursor::new(seq, 0));
        }
        cursor
    }

    #[test]
    fn the_next_position_is_delivered() {
        let cursor = after_three();
        assert_eq!(cursor.feed_push(4, 40), FeedPush::Deliver);
        assert_eq!(cursor.delivered(), Cursor::new(3, 0));
    }

    #[test]
    fn the_same_item_again_is_a_duplicate() {
        let cursor = after_three();
        assert_eq!(cursor.feed_push(3, 30), FeedPush::Duplicate);
    }

    #[test]
    fn another_item_at_the_last_position_is_a_store_reset() {
        let mut cursor = after_three();
        assert_eq!(cursor.feed_push(3, 99), FeedPush::StoreReset);
        cursor.restart_feed(3);
        assert_eq!(cursor.feed_push(3, 99), FeedPush::Deliver);
        assert_eq!(cursor.deliver_feed(3, 99), Cursor::new(3, 0));
        // Positions that started over at 1 are followed down the same way.
        assert_eq!(cursor.feed_push(1, 5), FeedPush::CheckHead);
        assert!(cursor.head_shows_reset(1));
        cursor.restart_feed(1);
        assert_eq!(cursor.feed_push(1, 5), FeedPush::Deliver);
    }

    #[test]
    fn an_older_position_asks_the_head_which_tells_a_duplicate_from_a_reset() {
        let cursor = after_three();
        assert_eq!(cursor.feed_push(2, 20), FeedPush::CheckHead);
        assert!(
            !cursor.head_shows_reset(3),
            "a head at 3 means 2 was delivered"
        );
        assert!(cursor.head_shows_reset(2), "a head behind 3 started over");
        // Nothing to compare with right after welcome either.
        let fresh = DeliveryCursor::at_head(Cursor::new(5, 0));
        assert_eq!(fresh.feed_push(5, 1), FeedPush::CheckHead);
    }

    #[test]
    fn a_jump_is_a_gap_to_fill_first() {
        let mut cursor = after_three();
        assert_eq!(
            cursor.feed_push(7, 70),
            FeedPush::Gap {
                after: 3,
                missing: 3
            }
        );
        for seq in 4..=6 {
            cursor.deliver_feed(seq, seq * 10);
        }
        assert_eq!(cursor.feed_push(7, 70), FeedPush::Deliver);
    }

    #[test]
    fn broadcasts_are_delivered_once_beside_the_feed() {
        let mut cursor = after_three();
        assert_eq!(cursor.deliver_broadcast(9), Some(Cursor::new(3, 9)));
        assert_eq!(cursor.deliver_broadcast(9), None);
        assert_eq!(cursor.deliver_broadcast(4), None);
        assert_eq!(cursor.deliver_broadcast(10), Some(Cursor::new(3, 10)));
    }

    #[test]
    fn a_fold_moves_the_cursor_to_what_it_covers() {
        let mut cursor = after_three();
        assert_eq!(cursor.fold(Cursor::new(8, 2)), Cursor::new(8, 2));
        assert_eq!(cursor.fold(Cursor::new(1, 5)), Cursor::new(8, 5));
        assert_eq!(cursor.feed_push(9, 90), FeedPush::Deliver);
    }

    #[test]
    fn a_cursor_past_the_delivered_head_is_a_store_reset_replayed_from_the_start() {
        let cursor = DeliveryCursor::at_head(Cursor::new(3, 1));
        assert_eq!(
            cursor.replay_start(Cursor::new(9, 0)),
            ReplayStart {
                after: Cursor::default(),
                store_reset: true
            }
        );
        assert_eq!(
            cursor.replay_start(Cursor::new(2, 1)),
            ReplayStart {
                after: Cursor::new(2, 1),
                store_reset: false
            }
        );
    }

    #[test]
    fn a_late_replay_skips_what_went_out_live() {
        // Welcomed at 1, then 2 and 3 pushed live before the client asked to resume after 0.
        let mut cursor = DeliveryCursor::at_head(Cursor::new(1, 0));
        cursor.deliver_feed(2, 20);
        cursor.deliver_feed(3, 30);
        assert_eq!(cursor.deliver_broadcast(5), Some(Cursor::new(3, 5)));
        let start = cursor.replay_start(Cursor::default());
        assert!(!start.store_reset);
        let entries = [
            (Cursor::new(1, 0), 10, Replayed::Send),
            (Cursor::new(2, 0), 20, Replayed::Overlap),
            (Cursor::new(2, 5), 25, Replayed::Overlap),
            (Cursor::new(3, 5), 30, Replayed::Overlap),
            (Cursor::new(4, 5), 40, Replayed::Send),
            (Cursor::new(4, 6), 45, Replayed::Send),
        ];
        let mut previous = start.after;
        for (entry, ts, want) in entries {
            assert_eq!(cursor.replayed(previous, entry, ts), want, "{entry}");
            previous = entry;
        }
        cursor.replay_done(previous);
        assert_eq!(cursor.delivered(), Cursor::new(4, 6));
        // The replay's last feed entry is what a same-position push is compared with.
        assert_eq!(cursor.feed_push(4, 40), FeedPush::Duplicate);
        // Live from here: a later replay of the same range repeats it (nothing went live).
        assert_eq!(
            cursor.replayed(Cursor::new(3, 5), Cursor::new(4, 5), 40),
            Replayed::Send
        );
    }
}
