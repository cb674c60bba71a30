//! Live gateway nodes, kept by heartbeats with a TTL.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::BackplaneResult;

/// What a gateway announces about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeInfo {
    /// Stable node ID; the hash ring is built from these.
    pub id: String,
    /// Where clients connect, e.g. `ws://10.0.0.5:8080/v1/ws`.
    pub url: String,
    /// Open sockets, for dashboards and for routing around full nodes.
    pub connections: u64,
    /// Sockets the node accepts at most (0 = no limit), so `/v1/connect` can send users
    /// whose home is full to the next node with room instead of to a node that refuses them.
    #[serde(default)]
    pub capacity: u64,
}

impl NodeInfo {
    /// Whether the node has no room for another socket (as of its last heartbeat).
    pub fn is_full(&self) -> bool {
        self.capacity > 0 && self.connections >= self.capacity
    }
}

/// Node membership.
#[async_trait]
pub trait Membership: Send + Sync {
    /// Announce (or renew) `node` for `ttl`; a node that stops heartbeating leaves after it.
    async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> BackplaneResult<()>;

    /// Leave at once (drain), without waiting for the TTL.
    async fn leave(&self, node_id: &str) -> BackplaneResult<()>;

    /// Every live node, sorted by ID so every process sees the same list.
    async fn live(&self) -> BackplaneResult<Vec<NodeInfo>>;
}
