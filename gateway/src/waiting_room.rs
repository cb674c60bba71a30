//! Sockets accepted before their request arrived, waiting inside the accept loop for their
//! first bytes or their header timeout.
//!
//! Written by hand rather than as a `FuturesUnordered` of readiness futures: whenever
//! `FuturesUnordered::poll_next` has polled every future it holds, it wakes its own task
//! (futures-util's guard against starving the executor) and returns pending. With the one or
//! two sockets that usually wait here, that is nearly every poll, and tokio answers a task
//! that woke itself by queueing it behind the others and waking a second worker thread to
//! run it: a `futex` and a thread's wake-up on about one connect in five (strace: 0.30 `futex`
//! per connect before, 0.11 after). Here a socket's readiness wakes the loop and nothing else
//! does.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::Stream;
use futures_util::task::AtomicWaker;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Slots an empty room keeps; past this it gives its vectors back, so that a storm of silent
/// sockets does not leave the accept loop holding their peak for the life of the process.
/// A room that empties between one or two sockets, as it does under normal load, keeps its
/// slots and their wakers.
const KEPT_SLOTS: usize = 64;

/// A socket that had no bytes yet when it was accepted.
#[derive(Debug)]
pub struct Waiting {
    /// The accepted socket, registered with the runtime.
    pub tcp: TcpStream,
    /// Its TCP peer, for the handshake limiter and logs once the request is read.
    pub peer: SocketAddr,
    /// When its header timeout ends; a socket that comes back keeps it.
    pub deadline: Instant,
}

/// The waiting sockets: a stream of those that became readable. One whose deadline passes
/// first is dropped, closing it without an answer as hyper does on a header timeout.
///
/// Bounded by the open-file limit: every socket here holds a descriptor until it leaves; a
/// room that grew past [`KEPT_SLOTS`] gives that memory back once it is empty.
#[derive(Debug, Default)]
pub struct WaitingRoom {
    /// The sockets by slot; `None` where a slot is free.
    slots: Vec<Option<Waiting>>,
    /// Free slots, taken before the vectors grow.
    free: Vec<usize>,
    /// Each slot's waker, made once and handed to every socket that sits in it.
    wakers: Vec<Arc<SlotWaker>>,
    /// The slots whose socket may have become readable, and the accept loop's waker.
    woken: Arc<Woken>,
    /// Slots taken from `woken` but not looked at yet: a poll stops at the first ready one.
    due: Vec<usize>,
    /// Every socket's deadline, earliest first, with its slot.
    deadlines: BTreeSet<(Instant, usize)>,
    /// Fires at the earliest deadline; made at the first.
    timer: Option<Pin<Box<Sleep>>>,
}

/// What slot wakers report to the room.
#[derive(Debug, Default)]
struct Woken {
    /// Slots woken since the room last looked; each at most once (see `SlotWaker::queued`).
    slots: Mutex<Vec<usize>>,
    /// The task polling the room.
    room: AtomicWaker,
}

/// The waker a slot's socket is polled with.
#[derive(Debug)]
struct SlotWaker {
    /// The slot it lists when woken.
    slot: usize,
    /// Whether `slot` is in `woken` or `due` already, so a socket woken many times is listed
    /// once and `woken` holds at most one entry per slot.
    queued: AtomicBool,
    /// Where it lists the slot and whom it wakes.
    woken: Arc<Woken>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.woken
                .slots
                .lock()
                .expect("waiting room lock")
                .push(self.slot);
        }
        self.woken.room.wake();
    }
}

impl WaitingRoom {
    /// Let `waiting` wait here. It is first looked at on the room's next poll, which the
    /// accept loop makes before it sleeps, so this wakes nobody.
    pub fn insert(&mut self, waiting: Waiting) {
        let slot = self.free.pop().unwrap_or_else(|| {
            let slot = self.slots.len();
            self.slots.push(None);
            self.wakers.push(Arc::new(SlotWaker {
                slot,
                queued: AtomicBool::new(false),
                woken: self.woken.clone(),
            }));
            slot
        });
        self.deadlines.insert((waiting.deadline, slot));
        self.slots[slot] = Some(waiting);
        if !self.wakers[slot].queued.swap(true, Ordering::AcqRel) {
            self.due.push(slot);
        }
    }

    /// How many sockets wait.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether no socket waits.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }

    /// Take the socket out of `slot`, freeing it; the last one out of a large room gives its
    /// vectors back (see [`KEPT_SLOTS`]).
    fn remove(&mut self, slot: usize) -> Option<Waiting> {
        let waiting = self.slots[slot].take()?;
        self.deadlines.remove(&(waiting.deadline, slot));
        if self.deadlines.is_empty() && self.slots.len() > KEPT_SLOTS {
            // A socket that left may still hold its slot's waker and list that slot later:
            // `poll_woken` passes over slots it no longer has.
            self.slots = Vec::new();
            self.free = Vec::new();
            self.wakers = Vec::new();
            self.due = Vec::new();
        } else {
            self.free.push(slot);
        }
        Some(waiting)
    }

    /// The first socket among the woken ones that is readable (or failed: then the early
    /// path's read finds out), if any.
    fn poll_woken(&mut self) -> Option<Waiting> {
        loop {
            if self.due.is_empty() {
                self.due =
                    std::mem::take(&mut *self.woken.slots.lock().expect("waiting room lock"));
                if self.due.is_empty() {
                    return None;
                }
            }
            while let Some(slot) = self.due.pop() {
                let Some(waker) = self.wakers.get(slot) else {
                    continue;
                };
                // Cleared before the look, so a wake-up from now on lists the slot again.
                waker.queued.store(false, Ordering::Release);
                // A slot freed (or refilled) since it was woken is merely looked at again.
                let Some(waiting) = &self.slots[slot] else {
                    continue;
                };
                let waker = Waker::from(waker.clone());
                let ready = waiting
                    .tcp
                    .poll_read_ready(&mut Context::from_waker(&waker));
                if ready.is_ready() {
                    return self.remove(slot);
                }
            }
        }
    }

    /// Drop the sockets whose deadline has passed, and arm the timer for the next one.
    fn expire(&mut self, cx: &mut Context<'_>) {
        while let Some(&(deadline, slot)) = self.deadlines.first() {
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return;
            }
            self.remove(slot);
        }
    }
}

impl Stream for WaitingRoom {
    type Item = Waiting;

    /// The next socket that became readable. Never ends: pending while nothing waits.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Waiting>> {
        let room = self.get_mut();
        room.woken.room.register(cx.waker());
        if let Some(waiting) = room.poll_woken() {
            return Poll::Ready(Some(waiting));
        }
        room.expire(cx);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::listener::Listener;
    use crate::wake_counter::WakeCounter;

    use super::*;

    /// The gateway's own listener, whose sockets start with no readiness known.
    fn listener() -> (Listener, SocketAddr) {
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let address = std.local_addr().expect("address");
        (Listener::new(std).expect("watches"), address)
    }

    /// A connected client and the room's side of it, waiting until `timeout` from now.
    async fn waiting_pair(
        (listener, address): &(Listener, SocketAddr),
        timeout: Duration,
    ) -> (TcpStream, Waiting) {
        let client = TcpStream::connect(address).await.expect("connects");
        let (tcp, peer) = listener.accept().await.expect("accepts");
        let waiting = Waiting {
            tcp,
            peer,
            deadline: Instant::now() + timeout,
        };
        (client, waiting)
    }

    /// `client` speaks, and the room hands out the socket that became readable.
    async fn answered(room: &mut WaitingRoom, client: &mut TcpStream) -> Waiting {
        client.write_all(b"x").await.expect("writes");
        tokio::time::timeout(Duration::from_secs(10), room.next())
            .await
            .expect("in time")
            .expect("never ends")
    }

    #[tokio::test]
    async fn wakes_its_task_only_when_a_socket_becomes_readable() {
        let listener = listener();
        let (mut client, waiting) = waiting_pair(&listener, Duration::from_secs(60)).await;
        let peer = waiting.peer;
        let mut room = WaitingRoom::default();
        room.insert(waiting);
        let (counter, waker) = WakeCounter::new();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..3 {
            assert!(Pin::new(&mut room).poll_next(&mut cx).is_pending());
        }
        assert_eq!(counter.count(), 0, "polls with nothing ready wake nobody");
        client.write_all(b"GET").await.expect("writes");
        while counter.count() == 0 {
            tokio::task::yield_now().await;
        }
        let Poll::Ready(Some(ready)) = Pin::new(&mut room).poll_next(&mut cx) else {
            panic!("the readable socket comes out");
        };
        assert_eq!(ready.peer, peer);
        assert!(room.is_empty());
    }

    #[tokio::test]
    async fn hands_out_every_socket_once_as_it_becomes_readable() {
        let listener = listener();
        let mut room = WaitingRoom::default();
        let mut clients = Vec::new();
        for _ in 0..3 {
            for _ in 0..20 {
                let (client, waiting) = waiting_pair(&listener, Duration::from_secs(60)).await;
                clients.push((client.local_addr().expect("address"), client));
                room.insert(waiting);
            }
            // Answered in reverse, each in turn; the slots are used again in the next round.
            while let Some((address, mut client)) = clients.pop() {
                assert_eq!(answered(&mut room, &mut client).await.peer, address);
            }
            assert!(room.is_empty());
        }
        assert_eq!(room.slots.len(), 20, "freed slots are reused");
    }

    #[tokio::test]
    async fn a_large_room_gives_its_slots_back_once_empty() {
        let listener = listener();
        let mut room = WaitingRoom::default();
        let mut clients = Vec::new();
        for _ in 0..KEPT_SLOTS + 1 {
            let (client, waiting) = waiting_pair(&listener, Duration::from_secs(60)).await;
            clients.push(client);
            room.insert(waiting);
        }
        let mut handed_out = Vec::new();
        for client in &mut clients {
            handed_out.push(answered(&mut room, client).await);
        }
        assert!(room.is_empty());
        let held = room.slots.capacity() + room.free.capacity() + room.wakers.capacity();
        assert_eq!(held, 0, "the empty room holds no slots");

        // A slot listed by a waker of the old vectors is passed over, and the room works on.
        room.woken
            .slots
            .lock()
            .expect("waiting room lock")
            .push(KEPT_SLOTS);
        let (mut client, waiting) = waiting_pair(&listener, Duration::from_secs(60)).await;
        let peer = waiting.peer;
        room.insert(waiting);
        assert_eq!(answered(&mut room, &mut client).await.peer, peer);
    }

    #[tokio::test]
    async fn a_socket_silent_past_its_deadline_is_closed() {
        let listener = listener();
        let mut room = WaitingRoom::default();
        let (mut silent, waiting) = waiting_pair(&listener, Duration::from_millis(50)).await;
        room.insert(waiting);
        let (mut patient, waiting) = waiting_pair(&listener, Duration::from_secs(60)).await;
        room.insert(waiting);
        assert_eq!(room.len(), 2);
        let mut rest = Vec::new();
        let closed = tokio::select! {
            read = silent.read_to_end(&mut rest) => read,
            _ = room.next() => panic!("nothing was readable"),
        };
        assert_eq!(closed.expect("an orderly close"), 0);
        assert_eq!(room.len(), 1, "the other keeps waiting");
        patient.write_all(b"x").await.expect("writes");
        let ready = room.next().await.expect("never ends");
        assert_eq!(ready.peer, patient.local_addr().expect("address"));
    }
}
