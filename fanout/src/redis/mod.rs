//! The Redis backplane: every concept on standalone Redis or Redis Cluster, for scale-out.
//!
//! Same contracts as the embedded backplane, plus durability and sharing across processes.
//! Each concept has its own file; `keys` is the whole key schema (every key carries the hash
//! tag of the slot its multi-key calls touch), `redis_target` reads the URL (TLS, credentials,
//! Cluster seeds), `connection` hides standalone vs Cluster.
//! Multi-step changes are Lua scripts on one slot; calls over many users are one pipeline on a
//! single server and concurrent requests on a cluster, never a round trip per user.
//! Needs Redis 6.2 or later (XAUTOCLAIM, LPOP with a count, ZRANGE BYLEX/REV, ZMSCORE).

mod broadcast_log;
mod connection;
mod event_log;
mod feed_store;
mod follow_graph;
mod keys;
mod membership;
mod node_bus;
mod post_store;
mod presence_store;
mod redis_target;
mod revocation_list;
mod stream_entry;

use std::sync::Arc;
use std::time::Duration;

use broadcast_log::RedisBroadcastLog;
use event_log::{MAX_BLOCK, RedisEventLog};
use feed_store::RedisFeedStore;
use follow_graph::RedisFollowGraph;
use keys::Keys;
use membership::RedisMembership;
use node_bus::RedisNodeBus;
use post_store::RedisPostStore;
use presence_store::RedisPresenceStore;
use revocation_list::RedisRevocationList;

pub use redis_target::{RedisTarget, RedisTargetError, redact_url};

use crate::backplane::{Backplane, BackplaneResult, DEFAULT_CLAIM_AFTER, DEFAULT_FEED_CAP};
use crate::invalid_setting::{InvalidSetting, Rule};

/// Redis calls that failed (unreachable, timed out, an error reply, an unreadable answer).
pub(crate) const REDIS_ERRORS: &str = "pushgate_redis_errors_total";

/// Key and channel prefix unless configured.
pub const DEFAULT_KEY_PREFIX: &str = "pg";

/// How workers reach gateway node inboxes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BusKind {
    /// Pub/sub channel per node: no Redis memory, but messages sent while a node is
    /// reconnecting are lost (its clients catch up from the feed on resume).
    #[default]
    PubSub,
    /// Capped stream per node: survives short disconnects at the cost of Redis memory.
    Stream,
}

/// Where the Redis backplane connects and how big its bounded structures are.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The server or cluster, its credentials and TLS trust.
    pub target: RedisTarget,
    /// Prefix of every key and channel, so deployments (or tests) can share one Redis.
    pub key_prefix: String,
    /// Entries kept per user feed; older ones are trimmed (resume then says `complete: false`).
    pub feed_cap: usize,
    /// Entries kept per celebrity author timeline.
    pub broadcast_cap: usize,
    /// Fan-out backlog (unacknowledged events) at which `create` answers 503; 0 = unbounded.
    pub event_log_cap: usize,
    /// Messages a node inbox holds before its pump waits (and a stream inbox's length cap).
    pub inbox_capacity: usize,
    /// How long an event may stay unacknowledged before another worker may take it.
    pub claim_after: Duration,
    /// Node inbox transport.
    pub bus: BusKind,
    /// How long one call may wait for Redis before it fails as unavailable.
    pub response_timeout: Duration,
    /// How long a user's presence (and so `last_seen`) is kept after the last change.
    pub presence_retention: Duration,
}

impl RedisConfig {
    /// Defaults sized like the embedded backplane's, for `target`.
    pub fn new(target: RedisTarget) -> Self {
        Self {
            target,
            key_prefix: DEFAULT_KEY_PREFIX.into(),
            feed_cap: DEFAULT_FEED_CAP,
            broadcast_cap: 1000,
            event_log_cap: 100_000,
            inbox_capacity: 4096,
            claim_after: DEFAULT_CLAIM_AFTER,
            bus: BusKind::PubSub,
            response_timeout: Duration::from_secs(2),
            presence_retention: Duration::from_secs(30 * 24 * 60 * 60),
        }
    }

    /// Refuse sizes and timeouts that cannot work; call before [`Backplane::redis`].
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        InvalidSetting::unless(self.feed_cap > 0, "feed-cap", Rule::Positive)?;
        InvalidSetting::unless(
            !self.claim_after.is_zero(),
            "claim-after-ms",
            Rule::Positive,
        )
    }
}

impl Backplane {
    /// Connect to Redis (standalone or Cluster, by URL) and open every concept on it.
    ///
    /// Connections reconnect by themselves; a call made while Redis is down fails with
    /// `Unavailable` and the same backplane works again once Redis is back.
    pub async fn redis(config: &RedisConfig) -> BackplaneResult<Backplane> {
        // At zero from the start, so a rate and an alert have a series before the first error.
        metrics::counter!(REDIS_ERRORS).increment(0);
        let connector = config.target.connector.clone();
        let conn = connector.connect(config.response_timeout).await?;
        // Blocking reads get their own connection: on the shared one they would hold up every
        // other call queued behind them.
        let blocking = connector
            .connect(MAX_BLOCK + config.response_timeout)
            .await?;
        let keys = Keys::new(&config.key_prefix);
        let events = RedisEventLog::open(
            conn.clone(),
            blocking,
            keys.clone(),
            config.claim_after,
            config.event_log_cap,
        )
        .await?;
        let membership = Arc::new(RedisMembership::new(conn.clone(), keys.clone()));
        Ok(Backplane {
            posts: Arc::new(RedisPostStore::new(
                conn.clone(),
                keys.clone(),
                config.event_log_cap,
            )),
            events: Arc::new(events),
            follows: Arc::new(RedisFollowGraph::new(conn.clone(), keys.clone())),
            feeds: Arc::new(RedisFeedStore::new(
                conn.clone(),
                keys.clone(),
                config.feed_cap,
            )),
            broadcasts: Arc::new(RedisBroadcastLog::new(
                conn.clone(),
                keys.clone(),
                config.broadcast_cap,
            )),
            bus: Arc::new(RedisNodeBus::new(
                conn.clone(),
                connector,
                keys.clone(),
                config.bus,
                config.inbox_capacity,
                membership.clone(),
            )),
            membership,
            revocations: Arc::new(RedisRevocationList::new(conn.clone(), keys.clone())),
            presence: Arc::new(RedisPresenceStore::new(
                conn,
                keys,
                config.presence_retention,
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_feed_cap_or_claim_timeout_is_refused_by_name() {
        let fresh = || RedisConfig::new(RedisTarget::new("redis://h", None).expect("parses"));
        assert!(fresh().validate().is_ok());
        let mut config = fresh();
        config.feed_cap = 0;
        assert_eq!(config.validate().unwrap_err().setting, "feed-cap");
        let mut config = fresh();
        config.claim_after = Duration::ZERO;
        assert_eq!(config.validate().unwrap_err().setting, "claim-after-ms");
    }
}
