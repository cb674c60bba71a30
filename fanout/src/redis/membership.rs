//! Node membership: a sorted set scored by lease expiry plus a hash of announced info.
//!
//! Expiry is computed from the Redis server's clock (`TIME` inside the scripts), so nodes with
//! skewed clocks still agree on who is alive.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::connection::{Conn, ScriptCall, decode, encode};
use super::keys::Keys;
use crate::backplane::{BackplaneResult, Membership, NodeInfo};

/// Renews node ARGV[1] until server time + ARGV[3] ms and stores its info ARGV[2].
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
";

/// Drops expired nodes and returns the info of the live ones.
const LIVE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('HDEL', KEYS[2], unpack(dead))
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(live))
";

/// The Redis membership table.
pub(crate) struct RedisMembership {
    conn: Conn,
    keys: Keys,
    heartbeat: Script,
    live: Script,
}

impl RedisMembership {
    pub(crate) fn new(conn: Conn, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            heartbeat: Script::new(HEARTBEAT),
            live: Script::new(LIVE),
        }
    }
}

#[async_trait]
impl Membership for RedisMembership {
    async fn heartbeat(&self, node: &NodeInfo, ttl: Duration) -> BackplaneResult<()> {
        let call = ScriptCall::default()
            .key(self.keys.nodes())
            .key(self.keys.node_info())
            .arg(&node.id)
            .arg(encode(node)?)
            .arg(ttl.as_millis() as u64);
        self.conn.script::<()>(&self.heartbeat, &call).await
    }

    async fn leave(&self, node_id: &str) -> BackplaneResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZREM")
            .arg(self.keys.nodes())
            .arg(node_id)
            .cmd("HDEL")
            .arg(self.keys.node_info())
            .arg(node_id);
        self.conn.pipe::<()>(&pipe).await
    }

    async fn live(&self) -> BackplaneResult<Vec<NodeInfo>> {
        let call = ScriptCall::default()
            .key(self.keys.nodes())
            .key(self.keys.node_info());
        let infos: Vec<Option<Vec<u8>>> = self.conn.script(&self.live, &call).await?;
        let mut nodes = infos
            .into_iter()
            // A member without info cannot be routed to, so it does not count as live.
            .flatten()
            .map(|info| decode::<NodeInfo>(&info, "node info"))
            .collect::<BackplaneResult<Vec<_>>>()?;
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }
}
