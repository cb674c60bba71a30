//! Who is online where: leases renewed by node heartbeats, fenced by per-connection epochs.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::{BackplaneResult, UserId};

/// A user's connection count on one node changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceChange {
    /// Whose count changed.
    pub user: UserId,
    /// Open connections of `user` on the reporting node after the change (0 = gone).
    pub connections: u32,
    /// Increases with every connect and disconnect on the node; a change with an epoch lower
    /// than the stored one is stale (reordered or from a replaced writer) and is ignored.
    pub epoch: u64,
}

/// A user's presence as answered by `GET /v1/presence`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Presence {
    pub user: UserId,
    /// Whether any live node holds a connection of the user.
    pub online: bool,
    /// Open connections across all live nodes.
    pub connections: u32,
    /// When the user was last seen connected, milliseconds since the Unix epoch; `None` if never.
    pub last_seen: Option<u64>,
}

/// What a renewal found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseRenewal {
    /// The node's lease was live: its entries are as it last published them.
    Held,
    /// The lease had run out or was lost (the store restarted without persistence, or the node
    /// stalled past its lease): the node must publish every user again.
    Lapsed,
}

/// Presence storage.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// Apply a batch of changes from `node`, each valid for `lease` unless renewed.
    async fn publish(
        &self,
        node: &str,
        changes: &[PresenceChange],
        lease: Duration,
    ) -> BackplaneResult<()>;

    /// Extend every entry of `node` by `lease` (called from the node heartbeat), and say
    /// whether the lease was still held: a lapsed one means the entries may be gone.
    async fn renew(&self, node: &str, lease: Duration) -> BackplaneResult<LeaseRenewal>;

    /// Presence of each of `users` (same order).
    async fn query(&self, users: &[UserId]) -> BackplaneResult<Vec<Presence>>;
}
