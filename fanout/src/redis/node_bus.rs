//! Node inboxes over Redis: pub/sub channels (default) or one capped stream per node.
//!
//! Either way a background pump per subscribed node feeds a bounded channel (the `Inbox`), so
//! a slow gateway pushes back on its pump. Neither transport can push back on remote senders:
//! pub/sub drops what arrives while a subscriber is disconnected (or so slow that Redis cuts
//! it off), and a stream inbox keeps only its newest `inbox_capacity` messages. That is
//! acceptable because a push is a hint and the feed is the source of truth; the stream keeps
//! messages across short reconnects, pub/sub costs Redis no memory.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use pushgate_protocol::NodeMessage;
use redis::Value;
use redis::streams::{StreamRangeReply, StreamReadReply};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::BusKind;
use super::connection::{Conn, Connector, decode, encode};
use super::event_log::MAX_BLOCK;
use super::keys::Keys;
use crate::backplane::{BackplaneResult, Inbox, Membership, NodeBus, Unavailable};

/// First pause before resubscribing after a lost connection; doubles up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How long a stream read waits before asking again (also how fast a closed inbox is noticed).
const STREAM_BLOCK_MS: u64 = 1000;

/// Stream entries read per call.
const STREAM_BATCH: usize = 512;

/// A node inbox stream nobody writes to expires after this (a node that went away for good).
const INBOX_TTL_MS: u64 = 60 * 60 * 1000;

/// The stream field holding the encoded message.
const FIELD: &str = "m";

/// The Redis node bus.
pub(crate) struct RedisNodeBus {
    conn: Conn,
    connector: Connector,
    keys: Keys,
    kind: BusKind,
    /// Messages one inbox holds before its pump waits.
    capacity: usize,
    /// Where a stream broadcast finds the nodes to write to.
    membership: Arc<dyn Membership>,
    /// node -> its pump; a later `subscribe` replaces (aborts) the earlier one.
    pumps: Mutex<HashMap<String, JoinHandle<()>>>,
}

impl RedisNodeBus {
    pub(crate) fn new(
        conn: Conn,
        connector: Connector,
        keys: Keys,
        kind: BusKind,
        capacity: usize,
        membership: Arc<dyn Membership>,
    ) -> Self {
        Self {
            conn,
            connector,
            keys,
            kind,
            capacity: capacity.max(1),
            membership,
            pumps: Mutex::new(HashMap::new()),
        }
    }

    fn xadd(&self, node: &str, payload: &[u8]) -> [redis::Cmd; 2] {
        let key = self.keys.node_inbox(node);
        let mut add = redis::cmd("XADD");
        add.arg(&key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.capacity)
            .arg("*")
            .arg(FIELD)
            .arg(payload);
        let mut expire = redis::cmd("PEXPIRE");
        expire.arg(&key).arg(INBOX_TTL_MS);
        [add, expire]
    }

    async fn subscribe_pubsub(
        &self,
        node: &str,
        inbox: mpsc::Sender<NodeMessage>,
    ) -> BackplaneResult<JoinHandle<()>> {
        let channels = vec![self.keys.node_channel(node), self.keys.all_nodes_channel()];
        // Subscribed before returning, so nothing sent after `subscribe` returns is missed.
        let pubsub = open_pubsub(&self.connector, &channels).await?;
        Ok(tokio::spawn(pump_pubsub(
            self.connector.clone(),
            channels,
            pubsub,
            inbox,
        )))
    }

    async fn subscribe_stream(
        &self,
        node: &str,
        inbox: mpsc::Sender<NodeMessage>,
    ) -> BackplaneResult<JoinHandle<()>> {
        let key = self.keys.node_inbox(node);
        let blocking = self.connector.connect(MAX_BLOCK * 2).await?;
        // Start after the newest entry now: a new inbox holds only what is sent from here on.
        let newest: StreamRangeReply = blocking
            .query(
                redis::cmd("XREVRANGE")
                    .arg(&key)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1),
            )
            .await?;
        let last = newest
            .ids
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_owned(), |e| e.id);
        Ok(tokio::spawn(pump_stream(blocking, key, last, inbox)))
    }
}

impl Drop for RedisNodeBus {
    fn drop(&mut self) {
        if let Ok(pumps) = self.pumps.lock() {
            for pump in pumps.values() {
                pump.abort();
            }
        }
    }
}

async fn open_pubsub(
    connector: &Connector,
    channels: &[String],
) -> BackplaneResult<redis::aio::PubSub> {
    let mut pubsub = connector.pubsub().await?;
    pubsub.subscribe(channels).await?;
    Ok(pubsub)
}

/// Wait `delay` unless the inbox closes meanwhile; returns false when it closed.
async fn pause(inbox: &mpsc::Sender<NodeMessage>, delay: Duration) -> bool {
    tokio::select! {
        _ = inbox.closed() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Retry `attempt` with exponential backoff until it works or the inbox closes.
async fn until_ok<T, F, Fut>(inbox: &mpsc::Sender<NodeMessage>, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = BackplaneResult<T>>,
{
    let mut delay = RETRY_MIN;
    loop {
        if !pause(inbox, delay).await {
            return None;
        }
        match attempt().await {
            Ok(value) => return Some(value),
            Err(e) => {
                tracing::warn!(error = %e, "node inbox reconnect failed");
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Forward one delivered payload; returns false when the inbox is gone.
async fn forward(inbox: &mpsc::Sender<NodeMessage>, payload: &[u8]) -> bool {
    match decode::<NodeMessage>(payload, "node message") {
        Ok(message) => inbox.send(message).await.is_ok(),
        Err(e) => {
            // One bad message must not stop the node's deliveries.
            tracing::warn!(error = %e, "dropping undecodable node message");
            true
        }
    }
}

async fn pump_pubsub(
    connector: Connector,
    channels: Vec<String>,
    mut pubsub: redis::aio::PubSub,
    inbox: mpsc::Sender<NodeMessage>,
) {
    loop {
        let mut messages = pubsub.into_on_message();
        loop {
            let message = tokio::select! {
                _ = inbox.closed() => return,
                message = messages.next() => message,
            };
            let Some(message) = message else { break };
            if !forward(&inbox, message.get_payload_bytes()).await {
                return;
            }
        }
        tracing::warn!(channel = %channels[0], "node inbox subscription lost; resubscribing");
        match until_ok(&inbox, || open_pubsub(&connector, &channels)).await {
            Some(resubscribed) => pubsub = resubscribed,
            None => return,
        }
    }
}

async fn pump_stream(
    blocking: Conn,
    key: String,
    mut last: String,
    inbox: mpsc::Sender<NodeMessage>,
) {
    let mut delay = RETRY_MIN;
    loop {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(STREAM_BATCH)
            .arg("BLOCK")
            .arg(STREAM_BLOCK_MS)
            .arg("STREAMS")
            .arg(&key)
            .arg(&last);
        let read = tokio::select! {
            _ = inbox.closed() => return,
            read = blocking.query::<Option<StreamReadReply>>(&cmd) => read,
        };
        match read {
            Ok(reply) => {
                delay = RETRY_MIN;
                for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                    let payload = match entry.map.get(FIELD) {
                        Some(Value::BulkString(bytes)) => bytes.as_slice(),
                        _ => &[],
                    };
                    if !forward(&inbox, payload).await {
                        return;
                    }
                    last = entry.id;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, stream = %key, "node inbox read failed; retrying");
                if !pause(&inbox, delay).await {
                    return;
                }
                delay = (delay * 2).min(RETRY_MAX);
            }
        }
    }
}

#[async_trait]
impl NodeBus for RedisNodeBus {
    async fn send(&self, node: &str, message: NodeMessage) -> BackplaneResult<()> {
        let payload = encode(&message)?;
        match self.kind {
            BusKind::PubSub => {
                let receivers: u64 = self
                    .conn
                    .query(
                        redis::cmd("PUBLISH")
                            .arg(self.keys.node_channel(node))
                            .arg(payload),
                    )
                    .await?;
                // A cluster counts only the receiving node's subscribers, so only a single
                // server can tell that nobody listens.
                if receivers == 0 && matches!(self.conn, Conn::Standalone(_)) {
                    return Err(Unavailable::NoInbox(node.to_owned()).into());
                }
                Ok(())
            }
            BusKind::Stream => {
                let mut pipe = redis::pipe();
                for cmd in self.xadd(node, &payload) {
                    pipe.add_command(cmd);
                }
                self.conn.pipe::<()>(&pipe).await
            }
        }
    }

    async fn broadcast(&self, message: NodeMessage) -> BackplaneResult<()> {
        let payload = encode(&message)?;
        match self.kind {
            BusKind::PubSub => {
                self.conn
                    .query::<()>(
                        redis::cmd("PUBLISH")
                            .arg(self.keys.all_nodes_channel())
                            .arg(payload),
                    )
                    .await
            }
            BusKind::Stream => {
                let cmds: Vec<redis::Cmd> = self
                    .membership
                    .live()
                    .await?
                    .iter()
                    .flat_map(|node| self.xadd(&node.id, &payload))
                    .collect();
                self.conn.scatter(&cmds).await?;
                Ok(())
            }
        }
    }

    async fn subscribe(&self, node: &str) -> BackplaneResult<Inbox> {
        let (sender, inbox) = mpsc::channel(self.capacity);
        let pump = match self.kind {
            BusKind::PubSub => self.subscribe_pubsub(node, sender).await?,
            BusKind::Stream => self.subscribe_stream(node, sender).await?,
        };
        let replaced = self
            .pumps
            .lock()
            .map_err(|_| Unavailable::Poisoned)?
            .insert(node.to_owned(), pump);
        if let Some(old) = replaced {
            old.abort();
        }
        Ok(inbox)
    }
}
