//! Keeps this node in the membership table and its users' presence fresh.

use std::sync::Arc;
use std::time::Duration;

use pushgate_fanout::backplane::{BackplaneError, LeaseRenewal, NodeInfo};

use crate::gateway::Gateway;

/// Membership and presence entries live for this many heartbeat intervals unless renewed.
const TTL_INTERVALS: u32 = 3;

/// Heartbeat membership, renew presence leases and publish presence changes every interval.
///
/// A backplane that lost its data (a Redis restart without persistence) is repopulated: after
/// a failed round, and whenever the renewal finds this node's lease gone (the outage may fall
/// between two rounds, or a call may wait out the restart and succeed), every user is
/// published again.
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
        match beat(&gateway, ttl).await {
            Ok(()) => healthy = true,
            Err(e) => {
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

/// One round: membership, the presence lease, then the users whose counts changed (all of
/// them when the lease had lapsed). Changes that could not be published stay dirty.
async fn beat(gateway: &Gateway, ttl: Duration) -> Result<(), BackplaneError> {
    let info = NodeInfo {
        id: gateway.node_id.clone(),
        url: gateway.public_url.clone(),
        connections: gateway.registry.connections(),
        capacity: gateway.config.max_connections,
    };
    let presence = &gateway.backplane.presence;
    gateway.backplane.membership.heartbeat(&info, ttl).await?;
    if presence.renew(&gateway.node_id, ttl).await? == LeaseRenewal::Lapsed {
        gateway.registry.mark_all_dirty();
    }
    let changes = gateway.registry.take_changes();
    if let Err(e) = presence.publish(&gateway.node_id, &changes, ttl).await {
        gateway
            .registry
            .mark_dirty(changes.into_iter().map(|c| c.user));
        return Err(e);
    }
    Ok(())
}
