//! In-memory presence with node leases and epoch fencing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::backplane::{
    BackplaneResult, LeaseRenewal, Presence, PresenceChange, PresenceStore, UserHasher, UserId,
};
use crate::clock::now_millis;

#[derive(Debug, Default)]
struct UserPresence {
    /// (node, connections, epoch of the change that set it). A list rather than a map: a user
    /// is on one node or a few, and a map per user would cost each connected user ~200 bytes.
    /// The node's name is shared by the users one publish added, not copied for each.
    nodes: Vec<(Arc<str>, u32, u64)>,
    last_seen: Option<u64>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<UserId, UserPresence, UserHasher>,
    /// node -> lease expiry; a node past it counts as holding nobody.
    leases: HashMap<String, Instant>,
}

/// The embedded presence store.
#[derive(Debug, Default)]
pub struct MemoryPresenceStore {
    state: Mutex<State>,
}

#[async_trait]
impl PresenceStore for MemoryPresenceStore {
    async fn publish(
        &self,
        node: &str,
        changes: &[PresenceChange],
        lease: Duration,
    ) -> BackplaneResult<()> {
        let mut state = self.state.lock().expect("presence lock");
        state.leases.insert(node.to_owned(), Instant::now() + lease);
        let now = now_millis();
        let mut shared_node: Option<Arc<str>> = None;
        for change in changes {
            let user = state.users.entry(change.user.clone()).or_default();
            let stored = user.nodes.iter().position(|(n, ..)| **n == *node);
            let stored_epoch = stored.map_or(0, |i| user.nodes[i].2);
            if change.epoch < stored_epoch {
                continue;
            }
            user.last_seen = Some(now);
            // A disconnect stays as 0 connections with its epoch, so a reordered older
            // connect can never resurrect the entry (as in Redis).
            match stored {
                Some(i) => {
                    user.nodes[i].1 = change.connections;
                    user.nodes[i].2 = change.epoch;
                }
                None => {
                    // Exactly one more: a first push would reserve room for four.
                    user.nodes.reserve_exact(1);
                    let name = shared_node.get_or_insert_with(|| Arc::from(node));
                    user.nodes
                        .push((name.clone(), change.connections, change.epoch));
                }
            }
        }
        Ok(())
    }

    async fn renew(&self, node: &str, lease: Duration) -> BackplaneResult<LeaseRenewal> {
        let mut state = self.state.lock().expect("presence lock");
        let now = Instant::now();
        let previous = state.leases.insert(node.to_owned(), now + lease);
        Ok(match previous {
            Some(expiry) if expiry > now => LeaseRenewal::Held,
            _ => LeaseRenewal::Lapsed,
        })
    }

    async fn query(&self, users: &[UserId]) -> BackplaneResult<Vec<Presence>> {
        let state = self.state.lock().expect("presence lock");
        let now = Instant::now();
        let live = |node: &str| state.leases.get(node).is_some_and(|expiry| *expiry > now);
        Ok(users
            .iter()
            .map(|user| {
                let entry = state.users.get(user);
                let connections = entry.map_or(0, |p| {
                    p.nodes
                        .iter()
                        .filter(|(node, ..)| live(node))
                        .map(|(_, n, _)| *n)
                        .sum()
                });
                Presence {
                    user: user.clone(),
                    online: connections > 0,
                    connections,
                    last_seen: if connections > 0 {
                        Some(now_millis())
                    } else {
                        entry.and_then(|p| p.last_seen)
                    },
                }
            })
            .collect())
    }
}
