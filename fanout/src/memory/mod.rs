//! The embedded backplane: every concept in process memory, for `pushgate dev` and tests.
//!
//! Same contracts as the Redis backplane, minus durability across restarts. Each store keeps
//! its own lock so unrelated calls never contend.

mod broadcast_log;
mod event_log;
mod feed_store;
mod follow_graph;
mod membership;
mod node_bus;
mod post_store;
mod presence_store;
mod revocation_list;

use std::sync::Arc;
use std::time::Duration;

pub use broadcast_log::MemoryBroadcastLog;
pub use event_log::MemoryEventLog;
pub use feed_store::MemoryFeedStore;
pub use follow_graph::MemoryFollowGraph;
pub use membership::MemoryMembership;
pub use node_bus::MemoryNodeBus;
pub use post_store::MemoryPostStore;
pub use presence_store::MemoryPresenceStore;
pub use revocation_list::MemoryRevocationList;

use crate::backplane::{Backplane, DEFAULT_CLAIM_AFTER, DEFAULT_FEED_CAP};
use crate::invalid_setting::{InvalidSetting, Rule};

/// Sizes of the embedded backplane's bounded structures.
#[derive(Clone, Debug)]
pub struct MemoryConfig {
    /// Entries kept per user feed; older ones are trimmed (resume then says `complete: false`).
    pub feed_cap: usize,
    /// Entries kept per celebrity author timeline.
    pub broadcast_cap: usize,
    /// Unacknowledged fan-out events held before `create` answers 503 (load shedding).
    pub event_log_cap: usize,
    /// Messages a node inbox holds before senders wait.
    pub inbox_capacity: usize,
    /// How long an event may stay unacknowledged before another consumer may take it.
    pub claim_after: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            feed_cap: DEFAULT_FEED_CAP,
            broadcast_cap: 1000,
            event_log_cap: 100_000,
            inbox_capacity: 4096,
            claim_after: DEFAULT_CLAIM_AFTER,
        }
    }
}

impl MemoryConfig {
    /// Refuse sizes that cannot work; call before [`Backplane::memory`].
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        InvalidSetting::unless(self.feed_cap > 0, "feed-cap", Rule::Positive)
    }
}

impl Backplane {
    /// A fresh embedded backplane.
    pub fn memory(config: &MemoryConfig) -> Backplane {
        let events = Arc::new(MemoryEventLog::new(
            config.event_log_cap,
            config.claim_after,
        ));
        Backplane {
            posts: Arc::new(MemoryPostStore::new(events.clone())),
            events,
            follows: Arc::new(MemoryFollowGraph::default()),
            feeds: Arc::new(MemoryFeedStore::new(config.feed_cap)),
            broadcasts: Arc::new(MemoryBroadcastLog::new(config.broadcast_cap)),
            bus: Arc::new(MemoryNodeBus::new(config.inbox_capacity)),
            membership: Arc::new(MemoryMembership::default()),
            presence: Arc::new(MemoryPresenceStore::default()),
            revocations: Arc::new(MemoryRevocationList::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_feed_cap_is_refused_by_name() {
        assert!(MemoryConfig::default().validate().is_ok());
        let config = MemoryConfig {
            feed_cap: 0,
            ..MemoryConfig::default()
        };
        assert_eq!(config.validate().unwrap_err().setting, "feed-cap");
    }
}
