//! The counters a worker keeps and reports, and how the parent adds them up.

use serde::{Deserialize, Serialize};

/// Cumulative counts of one worker (or, merged, of the whole run).
///
/// The loss fields stay zero until a worker finishes: only then does it know every
/// published item and can compare what each client should have received with what it did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Clients this worker simulates.
    pub clients: u64,
    /// Sockets open right now.
    pub connected: u64,
    /// Connection attempts, first ones and reconnects.
    pub attempts: u64,
    /// Attempts that failed before the WebSocket was open.
    pub handshake_errors: u64,
    /// Open sockets the server or the network closed (not the client's own churn).
    pub disconnects: u64,
    /// Successful connections after a client's first one.
    pub reconnects: u64,
    /// `resume` frames sent after reconnecting.
    pub resumes: u64,
    /// `resumed {complete: false}` answers: the feed no longer held the gap.
    pub incomplete_resumes: u64,
    /// Items received, first copies only.
    pub deliveries: u64,
    /// Of those, received while a resume replay was running.
    pub replayed: u64,
    /// A second copy of an item on the same client.
    pub duplicates: u64,
    /// Pushes the server folded into `feed_advanced` for slow clients.
    pub folded: u64,
    /// `error` frames received.
    pub error_frames: u64,
    /// `reconnect` frames received.
    pub reconnect_frames: u64,
    /// Wall time (µs since the epoch) this worker first had every client connected.
    pub first_full_us: Option<u64>,
    /// Wall time it last got back to every client connected.
    pub last_full_us: Option<u64>,
    /// Deliveries expected by readers (not slow clients), per client and published item.
    pub expected: u64,
    /// Of those, received.
    pub received: u64,
    /// Expected but never received.
    pub lost: u64,
    /// Received though the client does not follow the topic (or the item was not published by
    /// this run).
    pub unexpected: u64,
    /// Clients that never got a socket open, left out of the loss count.
    pub never_connected: u64,
    /// Deliveries expected by slow clients.
    pub slow_expected: u64,
    /// Of those, received once they read again.
    pub slow_received: u64,
}

impl Counters {
    /// Add another worker's counts. Full-connection times take the latest worker, since the
    /// run is full only when every worker is.
    pub fn merge(&mut self, other: &Counters) {
        let Counters {
            clients,
            connected,
            attempts,
            handshake_errors,
            disconnects,
            reconnects,
            resumes,
            incomplete_resumes,
            deliveries,
            replayed,
            duplicates,
            folded,
            error_frames,
            reconnect_frames,
            first_full_us,
            last_full_us,
            expected,
            received,
            lost,
            unexpected,
            never_connected,
            slow_expected,
            slow_received,
        } = *other;
        self.clients += clients;
        self.connected += connected;
        self.attempts += attempts;
        self.handshake_errors += handshake_errors;
        self.disconnects += disconnects;
        self.reconnects += reconnects;
        self.resumes += resumes;
        self.incomplete_resumes += incomplete_resumes;
        self.deliveries += deliveries;
        self.replayed += replayed;
        self.duplicates += duplicates;
        self.folded += folded;
        self.error_frames += error_frames;
        self.reconnect_frames += reconnect_frames;
        self.first_full_us = latest(self.first_full_us, first_full_us);
        self.last_full_us = latest(self.last_full_us, last_full_us);
        self.expected += expected;
        self.received += received;
        self.lost += lost;
        self.unexpected += unexpected;
        self.never_connected += never_connected;
        self.slow_expected += slow_expected;
        self.slow_received += slow_received;
    }

    /// The sum of many workers' counts; a run is full only if every worker was.
    pub fn total<'a>(all: impl IntoIterator<Item = &'a Counters>) -> Counters {
        let mut total = Counters::default();
        let mut all_full = true;
        for counters in all {
            all_full &= counters.first_full_us.is_some();
            total.merge(counters);
        }
        if !all_full {
            total.first_full_us = None;
            total.last_full_us = None;
        }
        total
    }
}

fn latest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_and_need_every_worker_full() {
        let a = Counters {
            clients: 3,
            deliveries: 10,
            first_full_us: Some(5),
            ..Default::default()
        };
        let b = Counters {
            clients: 4,
            deliveries: 1,
            first_full_us: Some(9),
            ..Default::default()
        };
        let total = Counters::total([&a, &b]);
        assert_eq!(
            (total.clients, total.deliveries, total.first_full_us),
            (7, 11, Some(9))
        );
        let c = Counters {
            clients: 1,
            ..Default::default()
        };
        assert_eq!(Counters::total([&a, &c]).first_full_us, None);
    }
}
