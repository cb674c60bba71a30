//! In-memory node membership with TTL expiry.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::backplane::{BackplaneResult, Membership, NodeInfo};

/// The embedded membership table.
#[derive(Debug, Default)]
pub struct MemoryMembership {
    /// id -> (info, expiry); a BTreeMap so `live` is sorted by ID for free.
    nodes: Mutex<BTreeMap<String, (NodeInfo, Instant)>>,
}

#[async_trait]
impl Membership for MemoryMembership {
    async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> BackplaneResult<()> {
        let expiry = Instant::now() + ttl;
        self.nodes
            .lock()
            .expect("membership lock")
            .insert(node.id.clone(), (node.clone(), expiry));
        Ok(())
    }

    async fn leave(&self, node_id: &str) -> BackplaneResult<()> {
        self.nodes.lock().expect("membership lock").remove(node_id);
        Ok(())
    }

    async fn live(&self) -> BackplaneResult<Vec<NodeInfo>> {
        let now = Instant::now();
        let mut nodes = self.nodes.lock().expect("membership lock");
        nodes.retain(|_, (_, expiry)| *expiry > now);
        Ok(nodes.values().map(|(info, _)| info.clone()).collect())
    }
}
