//! Loss, duplicates-aside, per client: what each client should have received against what it
//! did.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::Counters;

/// One item the run published: its id (post id, or publish timestamp in generic mode) and
/// its topic (author index, or channel index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published(pub u64, pub u32);

/// What one client ended with.
#[derive(Clone, Debug, Default)]
pub struct ClientOutcome {
    /// Topics it subscribes to (authors it follows, or its channel).
    pub topics: Vec<u32>,
    /// Distinct item ids it received.
    pub received: HashSet<u64>,
    /// Whether a socket was ever open.
    pub ever_connected: bool,
    /// Whether it was one of the clients that stopped reading.
    pub slow: bool,
}

/// Items published per topic.
#[derive(Debug, Default)]
pub struct DeliveryTally {
    by_topic: HashMap<u32, Vec<u64>>,
}

impl DeliveryTally {
    /// Index what was published.
    pub fn new(published: &[Published]) -> Self {
        let mut by_topic: HashMap<u32, Vec<u64>> = HashMap::new();
        for &Published(id, topic) in published {
            by_topic.entry(topic).or_default().push(id);
        }
        Self { by_topic }
    }

    /// Add one client's expected, received, lost and unexpected counts to `counters`.
    pub fn count(&self, client: &ClientOutcome, counters: &mut Counters) {
        if !client.ever_connected {
            counters.never_connected += 1;
            return;
        }
        let mut expected = 0;
        let mut received = 0;
        for id in client
            .topics
            .iter()
            .filter_map(|topic| self.by_topic.get(topic))
            .flatten()
        {
            expected += 1;
            received += u64::from(client.received.contains(id));
        }
        let unexpected = client.received.len() as u64 - received;
        counters.unexpected += unexpected;
        if client.slow {
            counters.slow_expected += expected;
            counters.slow_received += received;
        } else {
            counters.expected += expected;
            counters.received += received;
            counters.lost += expected - received;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(topics: &[u32], received: &[u64]) -> ClientOutcome {
        ClientOutcome {
            topics: topics.to_vec(),
            received: received.iter().copied().collect(),
            ever_connected: true,
            slow: false,
        }
    }

    #[test]
    fn counts_loss_and_strays_per_client() {
        let tally = DeliveryTally::new(&[Published(1, 0), Published(2, 1), Published(3, 0)]);
        let mut counters = Counters::default();
        tally.count(&client(&[0], &[1, 3]), &mut counters);
        tally.count(&client(&[0, 1], &[1, 2]), &mut counters);
        tally.count(&client(&[1], &[2, 99]), &mut counters);
        assert_eq!(
            (
                counters.expected,
                counters.received,
                counters.lost,
                counters.unexpected
            ),
            (6, 5, 1, 1)
        );
    }

    #[test]
    fn slow_and_never_connected_clients_are_kept_apart() {
        let tally = DeliveryTally::new(&[Published(1, 0), Published(2, 0)]);
        let mut counters = Counters::default();
        tally.count(
            &ClientOutcome {
                slow: true,
                ..client(&[0], &[2])
            },
            &mut counters,
        );
        tally.count(
            &ClientOutcome {
                ever_connected: false,
                ..client(&[0], &[])
            },
            &mut counters,
        );
        assert_eq!((counters.slow_expected, counters.slow_received), (2, 1));
        assert_eq!(
            (counters.expected, counters.lost, counters.never_connected),
            (0, 0, 1)
        );
    }
}
