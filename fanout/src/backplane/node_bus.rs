//! Node inboxes: how fan-out workers hand batches to gateway nodes.

use async_trait::async_trait;
use pushgate_protocol::NodeMessage;
use tokio::sync::mpsc;

use super::BackplaneResult;

/// The receiving end of a node's inbox; bounded, so a slow gateway pushes back on workers.
pub type Inbox = mpsc::Receiver<NodeMessage>;

/// Message transport to gateway nodes.
#[async_trait]
pub trait NodeBus: Send + Sync {
    /// Send one batch to `node`'s inbox. Waits while that inbox is full (backpressure).
    async fn send(&self, node: &str, message: NodeMessage) -> BackplaneResult<()>;

    /// Send one message to every subscribed node.
    async fn broadcast(&self, message: NodeMessage) -> BackplaneResult<()>;

    /// Open `node`'s inbox. A gateway calls this once at start; a later call replaces it.
    async fn subscribe(&self, node: &str) -> BackplaneResult<Inbox>;
}
