//! What a worker's clients record, shared by all its client tasks.

use crate::{Counters, LatencyHistogram, unix_micros};

/// Counters and histograms of one worker. Workers run a single-threaded runtime, so the
/// mutex around this is never contended.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    pub counters: Counters,
    /// Live latencies of the current second (emptied by every tick).
    pub live: LatencyHistogram,
    /// Latencies of items replayed after a resume.
    pub replay: LatencyHistogram,
    /// Latencies seen by slow clients.
    pub slow: LatencyHistogram,
}

/// How a received item reached the client, which decides the histogram it lands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    Live,
    Replay,
    Slow,
}

impl WorkerStats {
    /// Stats for a worker simulating `clients` clients.
    pub fn new(clients: u32) -> Self {
        let mut stats = Self::default();
        stats.counters.clients = u64::from(clients);
        stats
    }

    /// A socket opened; notes when the worker is at full strength.
    pub fn opened(&mut self) {
        let counters = &mut self.counters;
        counters.connected += 1;
        if counters.connected == counters.clients {
            let now = unix_micros();
            counters.first_full_us.get_or_insert(now);
            counters.last_full_us = Some(now);
        }
    }

    /// A socket closed.
    pub fn closed(&mut self) {
        self.counters.connected -= 1;
    }

    /// A first copy of an item arrived `latency_us` after it was created.
    pub fn delivered(&mut self, latency_us: i64, arrival: Arrival) {
        self.counters.deliveries += 1;
        match arrival {
            Arrival::Live => self.live.record(latency_us),
            Arrival::Replay => {
                self.counters.replayed += 1;
                self.replay.record(latency_us);
            }
            Arrival::Slow => self.slow.record(latency_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_strength_is_noted_each_time_it_is_regained() {
        let mut stats = WorkerStats::new(2);
        stats.opened();
        assert_eq!(stats.counters.first_full_us, None);
        stats.opened();
        let first = stats.counters.first_full_us.expect("full");
        stats.closed();
        std::thread::sleep(std::time::Duration::from_millis(2));
        stats.opened();
        assert_eq!(stats.counters.first_full_us, Some(first));
        assert!(stats.counters.last_full_us.expect("full again") > first);
    }

    #[test]
    fn arrivals_land_in_their_histogram() {
        let mut stats = WorkerStats::new(1);
        stats.delivered(10, Arrival::Live);
        stats.delivered(20, Arrival::Replay);
        stats.delivered(30, Arrival::Slow);
        assert_eq!(
            (stats.live.len(), stats.replay.len(), stats.slow.len()),
            (1, 1, 1)
        );
        assert_eq!((stats.counters.deliveries, stats.counters.replayed), (3, 1));
    }
}
