//! Keeps this node in the membership table and its users' presence fresh.

use std::sync::Arc;

use pushgate_fanout::backplane::NodeInfo;

use crate::gateway::Gateway;

/// Membership and presence entries live for this many heartbeat intervals unless renewed.
const TTL_INTERVALS: u32 = 3;

/// Heartbeat membership, publish presence changes and renew presence leases every interval.
///
/// After a failed round everything is re-announced, so a backplane that lost its data (a
/// Redis restart without persistence) is repopulated by the next successful round.
pub async fn run(gateway: Arc<Gateway>) {
    let interval = gateway.config.membership_interval;
    let ttl = interval * TTL_INTERVALS;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut healthy = true;
    loop {
        tokio::select! {
            _ = gateway.drain.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if !healthy {
            gateway.registry.mark_all_dirty();
        }
        let info = NodeInfo {
            id: gateway.node_id.clone(),
            url: gateway.public_url.clone(),
            connections: gateway.registry.connections(),
            capacity: gateway.config.max_connections,
        };
        let changes = gateway.registry.take_changes();
        let round = async {
            gateway.backplane.membership.heartbeat(&info, ttl).await?;
            gateway
                .backplane
                .presence
                .publish(&gateway.node_id, &changes, ttl)
                .await?;
            gateway
                .backplane
                .presence
                .renew(&gateway.node_id, ttl)
                .await
        };
        match round.await {
            Ok(()) => healthy = true,
            Err(e) => {
                gateway
                    .registry
                    .mark_dirty(changes.into_iter().map(|c| c.user));
                if healthy {
                    tracing::warn!(error = %e, "node heartbeat failed; will re-announce when the backplane is back");
                }
                healthy = false;
            }
        }
    }
    // Leave at once so workers stop routing here before the TTL would expire.
    if let Err(e) = gateway.backplane.membership.leave(&gateway.node_id).await {
        tracing::warn!(error = %e, "leaving membership failed; the TTL will expire it");
    }
}
