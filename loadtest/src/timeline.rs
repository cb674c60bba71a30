//! Per-second buckets of the run: connected sockets, items published, deliveries, latency.

use std::collections::{BTreeMap, btree_map};

use serde::{Deserialize, Serialize};

use crate::{LatencyHistogram, LoadtestError};

#[derive(Clone, Debug, Default)]
struct Bucket {
    latency: LatencyHistogram,
    published: u64,
}

/// Second `n` of the run holds what happened from `n` to `n + 1` seconds after its start.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    seconds: BTreeMap<u64, Bucket>,
    /// Open sockets per worker, by the second it reported them. Kept per worker so a second
    /// whose tick from some worker is missing (a CPU-starved worker ticks late and skips
    /// seconds) counts that worker's last report instead of nothing.
    connected: BTreeMap<u32, BTreeMap<u64, u64>>,
}

/// One second of the run, as reports and charts show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    pub second: u64,
    /// Sockets open at the end of the second, over all workers.
    pub connected: u64,
    /// Items the server accepted in this second.
    pub published: u64,
    /// Live deliveries (first copies) in this second.
    pub deliveries: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Timeline {
    fn bucket(&mut self, second: u64) -> &mut Bucket {
        match self.seconds.entry(second) {
            btree_map::Entry::Occupied(entry) => entry.into_mut(),
            btree_map::Entry::Vacant(entry) => entry.insert(Bucket::default()),
        }
    }

    /// Add worker `worker`'s tick for `second`.
    pub fn add_tick(
        &mut self,
        worker: u32,
        second: u64,
        connected: u64,
        latency: &LatencyHistogram,
    ) -> Result<(), LoadtestError> {
        self.connected
            .entry(worker)
            .or_default()
            .insert(second, connected);
        self.bucket(second).latency.merge(latency)
    }

    /// Sockets open at `second`: each worker's latest report at or before it.
    fn connected_at(&self, second: u64) -> u64 {
        self.connected
            .values()
            .filter_map(|reports| reports.range(..=second).next_back().map(|(_, &n)| n))
            .sum()
    }

    /// Add the publisher's per-second counts.
    pub fn add_published(&mut self, per_second: &BTreeMap<u64, u64>) {
        for (&second, &count) in per_second {
            self.bucket(second).published += count;
        }
    }

    /// Every second from the first to the last, gaps included as zeros.
    pub fn points(&self) -> Vec<TimelinePoint> {
        let (Some(&first), Some(&last)) = (self.seconds.keys().next(), self.seconds.keys().last())
        else {
            return Vec::new();
        };
        (first..=last)
            .map(|second| {
                let connected = self.connected_at(second);
                let Some(bucket) = self.seconds.get(&second) else {
                    return TimelinePoint {
                        second,
                        connected,
                        ..TimelinePoint::default()
                    };
                };
                let summary = bucket.latency.summary();
                TimelinePoint {
                    second,
                    connected,
                    published: bucket.published,
                    deliveries: summary.count,
                    p50_us: summary.p50_us,
                    p99_us: summary.p99_us,
                    p999_us: summary.p999_us,
                    max_us: summary.max_us,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_workers_per_second_and_fills_gaps() {
        // Worker 1 skips second 4 (starved): its second-2 count still counts there.
        let mut timeline = Timeline::default();
        let mut fast = LatencyHistogram::default();
        fast.record(1_000);
        let mut slow = LatencyHistogram::default();
        slow.record(9_000);
        timeline.add_tick(0, 2, 10, &fast).expect("merges");
        timeline.add_tick(1, 2, 5, &slow).expect("merges");
        timeline
            .add_tick(0, 4, 15, &LatencyHistogram::default())
            .expect("merges");
        timeline.add_published(&BTreeMap::from([(2, 3), (3, 1)]));
        let points = timeline.points();
        assert_eq!(
            points.iter().map(|p| p.second).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert_eq!(
            (
                points[0].connected,
                points[0].deliveries,
                points[0].published
            ),
            (15, 2, 3)
        );
        assert!(points[0].max_us >= 8_990 && points[0].p50_us <= 1_001);
        assert_eq!((points[1].connected, points[1].published), (15, 1));
        assert_eq!((points[2].connected, points[2].deliveries), (20, 0));
        assert!(Timeline::default().points().is_empty());
    }
}
