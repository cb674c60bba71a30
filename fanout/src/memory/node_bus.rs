//! In-memory node inboxes: one bounded channel per subscribed node.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use pushgate_protocol::NodeMessage;
use tokio::sync::mpsc;

use crate::backplane::{BackplaneResult, Inbox, NodeBus, Unavailable};

/// The embedded node bus.
#[derive(Debug)]
pub struct MemoryNodeBus {
    inboxes: Mutex<HashMap<String, mpsc::Sender<NodeMessage>>>,
    /// Messages one inbox holds before senders wait (backpressure onto the workers).
    capacity: usize,
}

impl MemoryNodeBus {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inboxes: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn sender(&self, node: &str) -> Option<mpsc::Sender<NodeMessage>> {
        self.inboxes
            .lock()
            .expect("node bus lock")
            .get(node)
            .cloned()
    }
}

#[async_trait]
impl NodeBus for MemoryNodeBus {
    async fn send(&self, node: &str, message: NodeMessage) -> BackplaneResult<()> {
        let sender = self
            .sender(node)
            .ok_or_else(|| Unavailable::NoInbox(node.to_owned()))?;
        sender
            .send(message)
            .await
            .map_err(|_| Unavailable::InboxClosed(node.to_owned()).into())
    }

    async fn broadcast(&self, message: NodeMessage) -> BackplaneResult<()> {
        let senders: Vec<_> = self
            .inboxes
            .lock()
            .expect("node bus lock")
            .values()
            .cloned()
            .collect();
        for sender in senders {
            // A node that went away mid-broadcast misses nothing it could still deliver.
            let _ = sender.send(message.clone()).await;
        }
        Ok(())
    }

    async fn subscribe(&self, node: &str) -> BackplaneResult<Inbox> {
        let (sender, inbox) = mpsc::channel(self.capacity);
        self.inboxes
            .lock()
            .expect("node bus lock")
            .insert(node.to_owned(), sender);
        Ok(inbox)
    }
}
