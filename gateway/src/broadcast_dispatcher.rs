//! Celebrity broadcasts on this node: released in log order, gaps filled from the log, each
//! pushed to the local users who follow its author.
//!
//! A task of its own rather than part of the node's dispatcher: finding a broadcast's local
//! followers and filling its gaps read Redis, and a slow Redis must not hold up deliveries.

use std::sync::Arc;

use pushgate_fanout::backplane::UserId;
use pushgate_fanout::trace;
use pushgate_protocol::{Audience, FeedItem, PostId, TraceParent};
use tokio::sync::mpsc;
use tracing::Span;
use tracing::field::Empty;

use crate::broadcast_order::BroadcastOrder;
use crate::dispatcher::shared_item;
use crate::gateway::Gateway;
use crate::mailbox::Push;

/// Local users checked per follow-graph call when delivering a broadcast.
const BROADCAST_CHUNK: usize = 1000;

/// A celebrity post announced to this node (a `NodeMessage::Broadcast`, unpacked by the
/// dispatcher so this queue holds nothing else).
#[derive(Debug)]
pub struct Announced {
    /// The post.
    pub id: PostId,
    /// Whose followers it is for.
    pub author: UserId,
    /// Creation time, microseconds since the Unix epoch.
    pub ts: u64,
    /// Its position in the broadcast log, which releases follow.
    pub seq: u64,
    /// The worker's span, when the post is traced.
    pub trace: Option<TraceParent>,
}

/// Deliver the broadcasts the dispatcher hands over, in log order, until drain.
pub async fn run(gateway: Arc<Gateway>, mut queue: mpsc::Receiver<Announced>) {
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
            message = queue.recv() => message,
        };
        let Some(Announced {
            id,
            author,
            ts,
            seq,
            trace,
        }) = message
        else {
            return; // Closed: the dispatcher has stopped.
        };
        // Friends-only posts never take the broadcast path.
        let item = Arc::new(FeedItem::Post {
            id,
            author,
            ts,
            audience: Audience::Followers,
        });
        let span = broadcast_span(&gateway, &item, trace.as_ref());
        // The span counts its own post's pushes only. A post held for an earlier one goes out
        // with a later release, untraced; its span ends without connections.
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
