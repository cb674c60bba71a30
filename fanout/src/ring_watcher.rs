//! Keeps an up-to-date ring from the membership table, shared through a watch channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::backplane::Membership;
use crate::drain::Drain;
use crate::ring::{DEFAULT_VNODES, Ring};

/// The current ring; cheap to clone, `borrow()` for the latest.
pub type RingView = watch::Receiver<Arc<Ring>>;

/// Polls membership every `interval` and publishes a new ring when the node set changes.
///
/// Polling rather than change notifications keeps one code path for every backplane, and a
/// dead node leaves the ring within TTL + interval.
///
/// The first read happens before this returns, so a process answers `/v1/connect` and routes
/// from its first request on (an unreachable backplane just starts it with an empty ring).
pub async fn watch_ring(
    membership: Arc<dyn Membership>,
    interval: Duration,
    drain: &Drain,
) -> RingView {
    let first = membership
        .live()
        .await
        .map(|nodes| Ring::new(nodes, DEFAULT_VNODES))
        .unwrap_or_default();
    let (sender, view) = watch::channel(Arc::new(first));
    let drain_handle = drain.clone();
    drain.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = drain_handle.cancelled() => break,
                _ = ticker.tick() => {}
            }
            match membership.live().await {
                Ok(nodes) => {
                    sender.send_if_modified(|current| {
                        let ring = current.renewed(nodes, DEFAULT_VNODES);
                        let changed = !current.same_nodes(&ring);
                        // Load figures change every heartbeat; republish them without waking
                        // watchers that only care about routing.
                        *current = Arc::new(ring);
                        changed
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "membership read failed; keeping the last ring")
                }
            }
        }
    });
    view
}
