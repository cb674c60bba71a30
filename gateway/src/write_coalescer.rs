//! Holds connection wake-ups for up to the write delay so close pushes share one socket write.

use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use pushgate_fanout::drain::Drain;
use tokio::sync::Notify;

/// The node's write-delay policy: wake a connection with a push at once, or hold the wake-up
/// for at most `delay` so that the pushes that reach its mailbox meanwhile leave in the same
/// write.
///
/// Why: on loopback a socket write costs the gateway ~5 us in the kernel whatever it carries
/// (BENCHMARKS.md, "The kernel's floor"), so a socket receiving a push every few milliseconds
/// spends most of its CPU on writes of one push. Holding the wake-up trades up to `delay` of
/// latency for writes carrying several pushes; with `delay` zero (the default) nothing is
/// held. The held wake-ups are released together, by one node-wide task, rather than by a
/// timer per connection: a per-socket timer costs a timer-wheel entry and a second task poll
/// per write, which ate the saving in an earlier experiment.
#[derive(Debug)]
pub struct WriteCoalescer {
    /// How long a wake-up may be held; zero wakes at once.
    delay: Duration,
    /// Wake-ups waiting for the next release. Bounded by the node's connections: a mailbox
    /// hands over its waiter once and gets a new one only after its connection ran.
    held: Mutex<Held>,
    /// Tells the release task that the first wake-up since the last release is held, so an
    /// idle node runs no timer at all.
    first_held: Notify,
}

#[derive(Debug)]
struct Held {
    wakers: Vec<Waker>,
    /// False once the node drains: the release task is gone and wake-ups go through at once.
    open: bool,
}

impl WriteCoalescer {
    /// A policy that holds wake-ups for at most `delay` (zero: never).
    pub fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            held: Mutex::new(Held {
                wakers: Vec::new(),
                open: !delay.is_zero(),
            }),
            first_held: Notify::new(),
        })
    }

    /// Wake the connection behind `waker` now, or at the next release.
    pub fn wake(&self, waker: Waker) {
        let mut held = self.held.lock().expect("coalescer lock");
        if !held.open {
            drop(held);
            waker.wake();
            return;
        }
        held.wakers.push(waker);
        if held.wakers.len() == 1 {
            self.first_held.notify_one();
        }
    }

    /// Release held wake-ups `delay` after the first of each batch, until drain; then release
    /// the rest and let every later wake-up through at once (draining connections must still
    /// see their `reconnect`).
    pub async fn run(self: Arc<Self>, drain: Drain) {
        if self.delay.is_zero() {
            return;
        }
        // Swapped with the held list each round so neither allocates once warmed up.
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = drain.cancelled() => break,
                () = self.first_held.notified() => {}
            }
            tokio::select! {
                _ = drain.cancelled() => break,
                () = tokio::time::sleep(self.delay) => {}
            }
            std::mem::swap(
                &mut batch,
                &mut self.held.lock().expect("coalescer lock").wakers,
            );
            metrics::histogram!("pushgate_coalesced_wakeups").record(batch.len() as f64);
            batch.drain(..).for_each(Waker::wake);
        }
        let rest = {
            let mut held = self.held.lock().expect("coalescer lock");
            held.open = false;
            std::mem::take(&mut held.wakers)
        };
        rest.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_counter::WakeCounter;

    #[test]
    fn without_a_delay_wakes_at_once() {
        let coalescer = WriteCoalescer::new(Duration::ZERO);
        let (counter, waker) = WakeCounter::new();
        coalescer.wake(waker);
        assert_eq!(counter.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn holds_wakeups_for_the_delay_then_releases_them_together() {
        let drain = Drain::new();
        let coalescer = WriteCoalescer::new(Duration::from_millis(10));
        tokio::spawn(coalescer.clone().run(drain.clone()));
        tokio::task::yield_now().await;

        let (a, waker_a) = WakeCounter::new();
        let (b, waker_b) = WakeCounter::new();
        coalescer.wake(waker_a);
        tokio::time::sleep(Duration::from_millis(4)).await;
        coalescer.wake(waker_b);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(a.count(), 0, "held for the delay");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(a.count(), 1);
        assert_eq!(b.count(), 1, "released with the first");

        // Drain lets everything through at once, so draining connections still close.
        drain.drain();
        tokio::task::yield_now().await;
        let (c, waker_c) = WakeCounter::new();
        coalescer.wake(waker_c);
        assert_eq!(c.count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_releases_what_is_held() {
        let drain = Drain::new();
        let coalescer = WriteCoalescer::new(Duration::from_secs(1));
        let task = tokio::spawn(coalescer.clone().run(drain.clone()));
        tokio::task::yield_now().await;
        let (a, waker_a) = WakeCounter::new();
        coalescer.wake(waker_a);
        tokio::task::yield_now().await;
        drain.drain();
        task.await.expect("release task");
        assert_eq!(a.count(), 1);
    }
}
