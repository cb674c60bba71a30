//! Consumes the node inbox and hands each delivery to local connections' mailboxes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pushgate_fanout::backplane::{Inbox, UserId};
use pushgate_fanout::clock::age_seconds;
use pushgate_fanout::trace;
use pushgate_protocol::{
    Audience, ErrorCode, FeedItem, NodeMessage, Recipient, SharedItem, TraceParent, WriteObserver,
};
use tracing::Span;
use tracing::field::Empty;

use crate::broadcast_order::BroadcastOrder;
use crate::gateway::Gateway;
use crate::mailbox::Push;

/// Local users checked per follow-graph call when delivering a broadcast.
const BROADCAST_CHUNK: usize = 1000;

/// Drive `inbox` until drain. One task per node: deliveries stay in inbox order, which keeps
/// each user's pushes in position order on the fast path (gaps are filled by connections).
pub async fn run(gateway: Arc<Gateway>, mut inbox: Inbox) {
    let drain = gateway.drain.clone();
    let mut order = BroadcastOrder::new(gateway.backplane.broadcasts.head().await.ok());
    loop {
        let gap_deadline = order.deadline();
        let message = tokio::select! {
            _ = drain.cancelled() => return,
            _ = sleep_until_some(gap_deadline) => {
                for (seq, item) in fill_broadcast_gap(&gateway, &mut order).await {
                    deliver_broadcast(&gateway, seq, item, &Span::none()).await;
                }
                continue;
            }
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
                    if let Err(e) = gateway.backplane.bus.send(&node, message).await {
                        // Those sockets catch up through gap fill or resume.
                        tracing::warn!(error = %e, %node, "relay failed");
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
                // Friends-only posts never take the broadcast path.
                let item = Arc::new(FeedItem::Post {
                    id,
                    author,
                    ts,
                    audience: Audience::Followers,
                });
                let span = broadcast_span(&gateway, &item, trace.as_ref());
                // The span counts its own post's pushes only. A post held for an earlier one
                // goes out with a later release, untraced; its span ends without connections.
                for (released, item) in order.accept(seq, item) {
                    let span = if released == seq {
                        &span
                    } else {
                        &Span::none()
                    };
                    let reached = deliver_broadcast(&gateway, released, item, span).await;
                    span.record("pushgate.connections", trace::int(reached));
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

/// The span of a celebrity broadcast's dispatch on this node.
fn broadcast_span(gateway: &Gateway, item: &FeedItem, parent: Option<&TraceParent>) -> Span {
    trace::child_of(parent, || {
        tracing::info_span!(target: trace::TARGET, "broadcast",
            otel.kind = "consumer",
            pushgate.node = %gateway.node_id,
            pushgate.item.kind = trace::item_kind(item),
            pushgate.item.id = trace::int(item.id()),
            pushgate.connections = Empty,
            pushgate.socket_writes = Empty,
        )
    })
}

/// `item` shared among its local recipients; in a traced dispatch, counting socket writes.
fn shared_item(item: FeedItem, span: &Span) -> SharedItem {
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

/// Resolves at `deadline`, or never when there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Read the broadcasts this node missed from the log and release what is now in order.
async fn fill_broadcast_gap(
    gateway: &Gateway,
    order: &mut BroadcastOrder,
) -> Vec<(u64, Arc<FeedItem>)> {
    let Some((after, count)) = order.gap() else {
        return Vec::new();
    };
    match gateway.backplane.broadcasts.range(after, count).await {
        Ok(entries) => {
            metrics::counter!("pushgate_broadcast_gaps_filled_total").increment(1);
            order.fill(entries)
        }
        Err(e) => {
            // Release what is held rather than stall every celebrity push behind an outage;
            // clients still find the missing posts in their merged feed.
            tracing::warn!(error = %e, "broadcast gap fill failed");
            order.fill(Vec::new())
        }
    }
}

/// A celebrity post reaches the local users who follow its author; returns how many
/// connections it reached. Socket writes count on `span` when it is traced.
async fn deliver_broadcast(gateway: &Gateway, seq: u64, item: Arc<FeedItem>, span: &Span) -> usize {
    let followers = match &*item {
        FeedItem::Post { author, .. } => local_followers(gateway, author).await,
        FeedItem::Notify { .. } => return 0,
    };
    let item = Arc::new(shared_item(Arc::unwrap_or_clone(item), span));
    let push = Push::Broadcast { seq, item };
    let reached: usize = followers
        .iter()
        .map(|user| gateway.registry.push(user, &push))
        .sum();
    metrics::counter!("pushgate_deliveries_total").increment(reached as u64);
    reached
}

/// The local users who follow `author`: from the node's cache while neither the author's
/// followers nor the node's users changed, else checked against the follow graph in batches.
async fn local_followers(gateway: &Gateway, author: &str) -> Arc<[UserId]> {
    // Both stamps are read before the users are, so a change racing the check leaves the
    // cached entry stale-stamped (checked again next time) rather than stale.
    let generation = gateway.registry.generation();
    let revision = match gateway.backplane.follows.followers_revision(author).await {
        // Zero: nothing recorded (data from before revisions, or no follower ever): no cache.
        Ok(0) => None,
        Ok(revision) => Some(revision),
        Err(e) => {
            tracing::warn!(error = %e, "followers revision read failed");
            None
        }
    };
    if let Some(hit) =
        revision.and_then(|revision| gateway.follower_cache.get(author, revision, generation))
    {
        return hit;
    }
    let users = gateway.registry.users();
    let mut followers = Vec::new();
    let mut complete = true;
    for chunk in users.chunks(BROADCAST_CHUNK) {
        match gateway
            .backplane
            .follows
            .filter_followers(author, chunk)
            .await
        {
            Ok(follows) => followers.extend(
                chunk
                    .iter()
                    .zip(follows)
                    .filter(|(_, follows)| *follows)
                    .map(|(user, _)| user.clone()),
            ),
            // Clients miss only the live hint: the post is in the broadcast log and their
            // next resume or feed read includes it.
            Err(e) => {
                complete = false;
                tracing::warn!(error = %e, "broadcast follower check failed");
            }
        }
    }
    let followers: Arc<[UserId]> = followers.into();
    if let (true, Some(revision)) = (complete, revision) {
        gateway
            .follower_cache
            .put(author, revision, generation, followers.clone());
    }
    followers
}
