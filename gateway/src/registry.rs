//! The node-local map from user to open connections, and presence bookkeeping for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use pushgate_fanout::backplane::{PresenceChange, UserHasher, UserId};

use crate::change_feed::{ChangeFeed, Reader};
use crate::mailbox::{Mailbox, Push};

/// A registered connection: its ID (to unregister the right one) and its mailbox.
#[derive(Clone, Debug)]
pub struct Registration {
    pub id: u64,
    pub mailbox: Arc<Mailbox>,
}

/// Every connection on this node, by user.
///
/// Presence is not written per connect: changed users go into the change feed, and the
/// presence reporter publishes their current counts in batches (the gateway adds users homed
/// elsewhere to the feed's relay side), so a connect storm costs one backplane call per batch.
#[derive(Debug)]
pub struct Registry {
    users: DashMap<UserId, Vec<Registration>, UserHasher>,
    /// Users whose count changed, for presence and (written by the gateway) the relay.
    changes: ChangeFeed,
    next_id: AtomicU64,
    /// Total open connections (for membership load and metrics).
    connections: AtomicU64,
    /// `pushgate_connections`, looked up once: `gauge!` finds its handle by name on every
    /// call, a hash and a map lookup per connect.
    connections_gauge: metrics::Gauge,
    /// `pushgate_connections_opened_total` (the connect rate), looked up once likewise.
    opened_counter: metrics::Counter,
    /// Monotonic per node; fences presence writes (see `PresenceChange::epoch`).
    epoch: AtomicU64,
    /// Bumped by every register and unregister, so a list computed from `users` can tell it
    /// is still current (the broadcast follower cache keys on it).
    generation: AtomicU64,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            users: DashMap::default(),
            changes: ChangeFeed::default(),
            next_id: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connections_gauge: metrics::gauge!("pushgate_connections"),
            opened_counter: metrics::counter!("pushgate_connections_opened_total"),
            // Seeded from the clock: a node restarted under the same ID must not start below
            // the epochs its previous life stored, or its presence writes would be refused.
            epoch: AtomicU64::new(pushgate_fanout::clock::now_micros()),
            generation: AtomicU64::new(0),
        }
    }
}

impl Registry {
    /// Add a connection of `user` unless it already has `max_per_user` here (0 = no limit);
    /// returns its registration.
    ///
    /// The count is checked and the connection added under the lock of the user's map shard,
    /// so concurrent registrations of one user never pass the limit together.
    pub fn register(
        &self,
        user: &str,
        mailbox: Arc<Mailbox>,
        max_per_user: u32,
    ) -> Option<Registration> {
        // Room for exactly one: almost every user has one socket per node, and the default
        // first growth (four) would cost every idle socket 48 bytes for nothing.
        let mut conns = self
            .users
            .entry(user.to_owned())
            .or_insert_with(|| Vec::with_capacity(1));
        if max_per_user > 0 && conns.len() >= max_per_user as usize {
            return None;
        }
        let registration = Registration {
            id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            mailbox,
        };
        conns.push(registration.clone());
        drop(conns);
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changes.record(Reader::Presence, user);
        self.connections_gauge.increment(1.0);
        self.opened_counter.increment(1);
        Some(registration)
    }

    /// Remove a connection of `user`; whether it was still here (a connection unregisters
    /// twice: when it finishes and when it drops).
    pub fn unregister(&self, user: &str, id: u64) -> bool {
        let mut removed = false;
        if let Some(mut conns) = self.users.get_mut(user) {
            let before = conns.len();
            conns.retain(|r| r.id != id);
            removed = conns.len() < before;
        }
        // Checked again under the shard lock, so a concurrent register is never dropped.
        self.users.remove_if(user, |_, conns| conns.is_empty());
        if removed {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.changes.record(Reader::Presence, user);
            self.connections_gauge.decrement(1.0);
        }
        removed
    }

    /// Push to every connection of `user` on this node; returns how many got it.
    pub fn push(&self, user: &str, push: &Push) -> usize {
        let Some(conns) = self.users.get(user) else {
            return 0;
        };
        for registration in conns.iter() {
            registration.mailbox.push(push.clone());
        }
        conns.len()
    }

    /// Users with at least one connection here.
    pub fn users(&self) -> Vec<UserId> {
        self.users.iter().map(|entry| entry.key().clone()).collect()
    }

    /// Changes whenever a connection registers or leaves: read it before [`Registry::users`]
    /// and a result derived from those users is current while it stays the same.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether `user` has a connection on this node.
    pub fn is_connected(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Open connections on this node.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Presence changes since the last call, with current counts and fresh epochs.
    pub fn take_changes(&self) -> Vec<PresenceChange> {
        self.changes
            .take(Reader::Presence)
            .into_iter()
            .map(|user| {
                let connections = self.users.get(&user).map_or(0, |c| c.len() as u32);
                let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
                PresenceChange {
                    user,
                    connections,
                    epoch,
                }
            })
            .collect()
    }

    /// Publish these users' counts again next round (their last publish failed).
    pub fn mark_dirty(&self, users: impl IntoIterator<Item = UserId>) {
        self.changes.again(Reader::Presence, users);
    }

    /// Every user here as a presence change (re-announce after a backplane restart).
    pub fn mark_all_dirty(&self) {
        self.changes.again(Reader::Presence, self.users());
    }

    /// The change feed, which the relay announcer reads too.
    pub fn changes(&self) -> &ChangeFeed {
        &self.changes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::write_coalescer::WriteCoalescer;

    fn mailbox() -> Arc<Mailbox> {
        Arc::new(Mailbox::new(4, WriteCoalescer::new(Duration::ZERO)))
    }

    #[test]
    fn counts_and_presence_follow_register_and_unregister() {
        let registry = Registry::default();
        let a = registry.register("u", mailbox(), 0).expect("no limit");
        let b = registry.register("u", mailbox(), 0).expect("no limit");
        assert_eq!(registry.connections(), 2);
        let changes = registry.take_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].connections, 2);
        assert!(registry.unregister("u", a.id));
        assert!(registry.unregister("u", b.id));
        assert!(!registry.unregister("u", b.id), "already gone");
        assert_eq!(registry.connections(), 0);
        let changes = registry.take_changes();
        assert_eq!(changes[0].connections, 0);
        assert!(changes[0].epoch > 1);
        assert!(registry.users().is_empty());
    }

    #[test]
    fn concurrent_registrations_of_one_user_never_pass_the_limit() {
        let registry = Arc::new(Registry::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let registry = registry.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| registry.register("u", mailbox(), 5).is_some())
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().expect("joins")).sum();
        assert_eq!(admitted, 5);
        assert_eq!(registry.connections(), 5);
        // Other users are not affected, and a freed slot can be taken again.
        assert!(registry.register("v", mailbox(), 5).is_some());
        let changes = registry.take_changes();
        assert!(changes.iter().any(|c| c.user == "u" && c.connections == 5));
    }

    #[test]
    fn a_freed_slot_can_be_taken_again() {
        let registry = Registry::default();
        let first = registry.register("u", mailbox(), 1).expect("room");
        assert!(registry.register("u", mailbox(), 1).is_none());
        registry.unregister("u", first.id);
        assert!(registry.register("u", mailbox(), 1).is_some());
        assert_eq!(registry.connections(), 1);
    }
}
