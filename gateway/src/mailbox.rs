//! A connection's bounded outbound queue, which folds pushes instead of growing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;

use pushgate_protocol::{Cursor, ErrorCode, FeedItem};
use tokio::sync::Notify;

/// Something to tell one connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Push {
    /// An entry at position `seq` of the user's own feed.
    Feed { seq: u64, item: Arc<FeedItem> },
    /// A celebrity post at position `seq` of the broadcast log.
    Broadcast { seq: u64, item: Arc<FeedItem> },
    /// Move to another node (drain).
    Reconnect {
        url: String,
        after_ms: u64,
        reason: String,
    },
    /// End the connection with this error.
    Close(ErrorCode),
}

/// Pushes folded away because the queue was full: what `feed_advanced` reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    /// Highest positions among the folded pushes.
    pub cursor: Cursor,
    /// How many pushes were folded.
    pub count: u64,
}

#[derive(Debug, Default)]
struct Queue {
    pushes: VecDeque<Push>,
    folded: Option<Folded>,
}

/// The outbound queue of one connection.
///
/// Backpressure policy "fold": when `capacity` pushes are waiting, every queued feed push is
/// folded into one `feed_advanced` marker (a cursor and a count), and so is every later one
/// until the connection catches up. Memory per connection is therefore bounded by
/// `capacity` whatever the publish rate, the feed stays the source of truth, and a client that
/// is merely slow loses nothing: it pages the gap over REST. A client that stays stuck is
/// closed by the write timeout instead.
#[derive(Debug)]
pub struct Mailbox {
    queue: Mutex<Queue>,
    /// Wakes the connection task; a permit is stored when nobody waits, so no wake-up is lost.
    ready: Notify,
    capacity: usize,
}

impl Mailbox {
    /// An empty mailbox holding at most `capacity` unfolded pushes.
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queue a push, folding feed pushes when full. Control pushes are never folded.
    pub fn push(&self, push: Push) {
        let mut queue = self.queue.lock().expect("mailbox lock");
        let is_feed = matches!(push, Push::Feed { .. } | Push::Broadcast { .. });
        if is_feed && (queue.folded.is_some() || queue.pushes.len() >= self.capacity) {
            let Queue { pushes, folded } = &mut *queue;
            let folded = folded.get_or_insert_with(Folded::default);
            pushes.retain(|queued| !fold(folded, queued));
            fold(folded, &push);
            metrics::counter!("pushgate_pushes_folded_total").increment(1);
        } else {
            queue.pushes.push_back(push);
        }
        drop(queue);
        self.ready.notify_one();
    }

    /// Take everything queued: pushes in order, then the folded marker if any.
    pub fn take(&self) -> (Vec<Push>, Option<Folded>) {
        let mut queue = self.queue.lock().expect("mailbox lock");
        (queue.pushes.drain(..).collect(), queue.folded.take())
    }

    /// Wait until something is queued.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

/// Fold `push` into `folded` if it is a feed push; returns whether it was.
fn fold(folded: &mut Folded, push: &Push) -> bool {
    match push {
        Push::Feed { seq, .. } => folded.cursor.feed = folded.cursor.feed.max(*seq),
        Push::Broadcast { seq, .. } => folded.cursor.broadcast = folded.cursor.broadcast.max(*seq),
        Push::Reconnect { .. } | Push::Close(_) => return false,
    }
    folded.count += 1;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seq: u64) -> Push {
        Push::Feed {
            seq,
            item: Arc::new(FeedItem::Post {
                id: seq,
                author: "a".into(),
                ts: 0,
            }),
        }
    }

    #[test]
    fn folds_when_full_and_keeps_control_pushes() {
        let mailbox = Mailbox::new(2);
        mailbox.push(feed(1));
        mailbox.push(Push::Close(ErrorCode::Draining));
        mailbox.push(feed(2));
        mailbox.push(feed(3));
        let (pushes, folded) = mailbox.take();
        assert_eq!(pushes, vec![Push::Close(ErrorCode::Draining)]);
        assert_eq!(
            folded,
            Some(Folded {
                cursor: Cursor::new(3, 0),
                count: 3
            })
        );
        // Once drained it queues normally again.
        mailbox.push(feed(4));
        assert_eq!(mailbox.take(), (vec![feed(4)], None));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let mailbox = Mailbox::new(8);
        for seq in 1..=100_000 {
            mailbox.push(feed(seq));
        }
        let (pushes, folded) = mailbox.take();
        assert!(pushes.is_empty());
        assert_eq!(
            folded,
            Some(Folded {
                cursor: Cursor::new(100_000, 0),
                count: 100_000
            })
        );
    }
}
