//! A connection's bounded outbound queue, which folds pushes instead of growing.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::task::{Poll, Waker};

use pushgate_protocol::{Cursor, ErrorCode, SharedItem};

use crate::write_coalescer::WriteCoalescer;

/// Something to tell one connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Push {
    /// An entry at position `seq` of the user's own feed.
    Feed { seq: u64, item: Arc<SharedItem> },
    /// A celebrity post at position `seq` of the broadcast log.
    Broadcast { seq: u64, item: Arc<SharedItem> },
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
    /// The connection task waiting in `ready`, woken by the next push.
    waiter: Option<Waker>,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.pushes.is_empty() && self.folded.is_none()
    }
}

/// The outbound queue of one connection.
///
/// Backpressure policy "fold": when `capacity` pushes are waiting, every queued feed push is
/// folded into one `feed_advanced` marker (a cursor and a count), and so is every later one
/// until the connection catches up. Memory per connection is therefore bounded by
/// `capacity` whatever the publish rate, the feed stays the source of truth, and a client that
/// is merely slow loses nothing: it pages the gap over REST. A client that stays stuck is
/// closed by the write timeout instead.
///
/// The waker sits under the queue's own lock instead of in a `tokio::sync::Notify`: one lock
/// per push instead of a lock plus the notifier's atomics, and `ready` holds no waiter node,
/// which every idle connection's future would otherwise carry.
#[derive(Debug)]
pub struct Mailbox {
    queue: Mutex<Queue>,
    capacity: usize,
    /// Decides when the waiting connection is woken: at once, or with the node's next
    /// release so close pushes share a write.
    coalescer: Arc<WriteCoalescer>,
}

impl Mailbox {
    /// An empty mailbox holding at most `capacity` unfolded pushes, whose connection is woken
    /// through `coalescer`.
    pub fn new(capacity: usize, coalescer: Arc<WriteCoalescer>) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            capacity: capacity.max(1),
            coalescer,
        }
    }

    /// Queue a push, folding feed pushes when full. Control pushes are never folded.
    pub fn push(&self, push: Push) {
        let mut queue = self.queue.lock().expect("mailbox lock");
        let is_feed = matches!(push, Push::Feed { .. } | Push::Broadcast { .. });
        if is_feed && (queue.folded.is_some() || queue.pushes.len() >= self.capacity) {
            let Queue { pushes, folded, .. } = &mut *queue;
            let folded = folded.get_or_insert_with(Folded::default);
            pushes.retain(|queued| !fold(folded, queued));
            fold(folded, &push);
            metrics::counter!("pushgate_pushes_folded_total").increment(1);
        } else {
            queue.pushes.push_back(push);
        }
        let waiter = queue.waiter.take();
        drop(queue);
        if let Some(waiter) = waiter {
            self.coalescer.wake(waiter);
        }
    }

    /// Take everything queued: pushes in order, then the folded marker if any. The queue's
    /// buffer goes with them, so an idle connection holds no allocation here.
    pub fn take(&self) -> (VecDeque<Push>, Option<Folded>) {
        let mut queue = self.queue.lock().expect("mailbox lock");
        (std::mem::take(&mut queue.pushes), queue.folded.take())
    }

    /// Whether something is queued.
    pub fn is_pending(&self) -> bool {
        !self.queue.lock().expect("mailbox lock").is_empty()
    }

    /// Wait until something is queued.
    pub fn ready(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::poll_fn(|cx| {
            let mut queue = self.queue.lock().expect("mailbox lock");
            if !queue.is_empty() {
                return Poll::Ready(());
            }
            match &mut queue.waiter {
                Some(waiter) => waiter.clone_from(cx.waker()),
                None => queue.waiter = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
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
    use std::time::Duration;

    use pushgate_protocol::{Audience, FeedItem};

    use super::*;

    fn feed(seq: u64) -> Push {
        Push::Feed {
            seq,
            item: Arc::new(SharedItem::new(FeedItem::Post {
                id: seq,
                author: "a".into(),
                ts: 0,
                audience: Audience::Followers,
            })),
        }
    }

    #[test]
    fn folds_when_full_and_keeps_control_pushes() {
        let mailbox = Mailbox::new(2, WriteCoalescer::new(Duration::ZERO));
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
        assert_eq!(mailbox.take(), (VecDeque::from([feed(4)]), None));
    }

    #[test]
    fn ready_only_when_something_is_queued() {
        use futures_util::FutureExt;
        let mailbox = Mailbox::new(2, WriteCoalescer::new(Duration::ZERO));
        assert!(mailbox.ready().now_or_never().is_none());
        mailbox.push(feed(1));
        assert!(mailbox.ready().now_or_never().is_some());
        let _ = mailbox.take();
        assert!(mailbox.ready().now_or_never().is_none());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let mailbox = Mailbox::new(8, WriteCoalescer::new(Duration::ZERO));
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
