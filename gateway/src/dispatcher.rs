//! Consumes the node inbox and hands each delivery to local connections' mailboxes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pushgate_fanout::backplane::Inbox;
use pushgate_fanout::clock::age_seconds;
use pushgate_fanout::trace;
use pushgate_protocol::{ErrorCode, FeedItem, NodeMessage, Recipient, SharedItem, WriteObserver};
use tracing::Span;
use tracing::field::Empty;

use tokio::sync::mpsc;

use crate::broadcast_dispatcher::{self, Announced};
use crate::gateway::Gateway;
use crate::mailbox::Push;
use crate::relay;

/// Messages handed to the relay forwarder or the broadcast dispatcher before this loop waits:
/// room for a slow Redis round trip's worth of batches at any realistic rate.
const HANDOFF_QUEUE: usize = 1024;

/// Drive `inbox` until drain. One task per node: deliveries stay in inbox order, which keeps
/// each user's pushes in position order on the fast path (gaps are filled by connections).
///
/// Nothing on this loop waits for Redis, so a slow Redis never holds up a delivery: relayed
/// batches go to the relay forwarder and broadcasts to the broadcast dispatcher, each a task
/// of its own behind a bounded queue (policy "block the producer", only once a queue is full).
pub async fn run(gateway: Arc<Gateway>, mut inbox: Inbox) {
    let drain = gateway.drain.clone();
    let (relays, relay_queue) = mpsc::channel(HANDOFF_QUEUE);
    drain.spawn(relay::forward(gateway.clone(), relay_queue));
    let (broadcasts, broadcast_queue) = mpsc::channel(HANDOFF_QUEUE);
    drain.spawn(broadcast_dispatcher::run(gateway.clone(), broadcast_queue));
    loop {
        let message = tokio::select! {
            _ = drain.cancelled() => return,
            message = inbox.recv() => message,
        };
        let Some(message) = message else {
            tracing::warn!("node inbox closed");
            return;
        };
        let created = match &message {
            NodeMessage::Deliver { item, .. } | NodeMessage::Relay { item, .. } => Some(item.ts()),
            NodeMessage::Broadcast { ts, .. } => Some(*ts),
            NodeMessage::Attach { .. }
            | NodeMessage::Detach { .. }
            | NodeMessage::Disconnect { .. } => None,
        };
        if let Some(created) = created {
            metrics::histogram!("pushgate_dispatch_age_seconds").record(age_seconds(created));
        }
        match message {
            NodeMessage::Deliver {
                item,
                recipients,
                trace,
            } => {
                let span = trace::child_of(trace.as_ref(), || {
                    dispatch_span!("dispatch", gateway, &item, recipients.len())
                });
                let routes = gateway.relay.route(&recipients);
                let item = Arc::new(shared_item(item, &span));
                let reached = deliver_local(&gateway, item.clone(), &recipients);
                span.record("pushgate.connections", trace::int(reached));
                let relay_trace = trace::handed_on(&span, trace.as_ref());
                let mut relayed = 0;
                for (node, recipients) in routes {
                    relayed += recipients.len();
                    let message = NodeMessage::Relay {
                        item: item.item().clone(),
                        recipients,
                        trace: relay_trace.clone(),
                    };
                    if relays.send((node, message)).await.is_err() {
                        return; // The forwarder only stops at drain.
                    }
                }
                span.record("pushgate.relayed", trace::int(relayed));
            }
            NodeMessage::Relay {
                item,
                recipients,
                trace,
            } => {
                let span = trace::child_of(trace.as_ref(), || {
                    dispatch_span!("relay", gateway, &item, recipients.len())
                });
                let item = Arc::new(shared_item(item, &span));
                let reached = deliver_local(&gateway, item, &recipients);
                span.record("pushgate.connections", trace::int(reached));
            }
            NodeMessage::Attach { node, users } => gateway.relay.attach(&node, users),
            NodeMessage::Detach { node, users } => gateway.relay.detach(&node, users),
            NodeMessage::Disconnect {
                user,
                revoked_before,
            } => {
                // Refuse the old tokens here first, so a client reconnecting at once with one
                // is refused even before this node's next look at the revocation list.
                if let Some(before) = revoked_before {
                    gateway.verifier.revoked().note(&user, before);
                }
                let closed = gateway
                    .registry
                    .push(&user, &Push::Close(ErrorCode::Unauthorized));
                tracing::info!(%user, closed, "disconnected by the service");
            }
            NodeMessage::Broadcast {
                id,
                author,
                ts,
                seq,
                trace,
            } => {
                let announced = Announced {
                    id,
                    author,
                    ts,
                    seq,
                    trace,
                };
                if broadcasts.send(announced).await.is_err() {
                    return; // The broadcast dispatcher only stops at drain.
                }
            }
        }
    }
}

/// The span of one batch's dispatch on this node (`name`: dispatch or relay); its
/// `pushgate.socket_writes` is recorded when the last socket has written the push.
macro_rules! dispatch_span {
    ($name:literal, $gateway:expr, $item:expr, $recipients:expr) => {
        tracing::info_span!(target: trace::TARGET, $name,
            otel.kind = "consumer",
            pushgate.node = %$gateway.node_id,
            pushgate.item.kind = trace::item_kind($item),
            pushgate.item.id = trace::int($item.id()),
            pushgate.recipients = trace::int($recipients),
            pushgate.connections = Empty,
            pushgate.relayed = Empty,
            pushgate.socket_writes = Empty,
        )
    };
}
use dispatch_span;

/// `item` shared among its local recipients; in a traced dispatch, counting socket writes.
pub(crate) fn shared_item(item: FeedItem, span: &Span) -> SharedItem {
    if span.is_disabled() {
        SharedItem::new(item)
    } else {
        SharedItem::observed(
            item,
            Box::new(SocketWrites {
                span: span.clone(),
                count: AtomicU64::new(0),
            }),
        )
    }
}

/// Counts a traced push's socket writes, and records the count on the dispatch span when the
/// last recipient is done with the item; the span ends then, so its duration runs from the
/// inbox to the last socket write.
#[derive(Debug)]
struct SocketWrites {
    /// The dispatch span, kept open by this handle until the item is gone.
    span: Span,
    /// Sockets the push frame was encoded for (one write each).
    count: AtomicU64,
}

impl WriteObserver for SocketWrites {
    fn written(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for SocketWrites {
    fn drop(&mut self) {
        self.span.record(
            "pushgate.socket_writes",
            trace::int(self.count.load(Ordering::Relaxed)),
        );
    }
}

/// Push `item` to the local connections of each recipient; returns how many were reached.
fn deliver_local(gateway: &Gateway, item: Arc<SharedItem>, recipients: &[Recipient]) -> usize {
    let mut reached = 0;
    for recipient in recipients {
        let push = Push::Feed {
            seq: recipient.seq,
            item: item.clone(),
        };
        reached += gateway.registry.push(&recipient.user, &push);
    }
    metrics::counter!("pushgate_deliveries_total").increment(reached as u64);
    reached
}
