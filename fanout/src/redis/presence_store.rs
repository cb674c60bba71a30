//! Presence: one hash per user (node -> `connections:epoch`), node leases as expiring keys.
//!
//! A node's entries count only while its lease key exists, so a crashed node's users go
//! offline when the lease runs out, without anyone deleting their entries. A change whose
//! epoch is below the stored one is dropped by the script; a disconnect keeps its epoch as
//! `0:<epoch>`, so a reordered older connect can never resurrect the entry.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::connection::{Conn, ScriptCall};
use super::keys::Keys;
use crate::backplane::{
    BackplaneResult, LeaseRenewal, Presence, PresenceChange, PresenceStore, UserId,
};
use crate::clock::now_millis;

/// The hash field holding when the user was last seen (the publish script writes it too).
const LAST_SEEN: &str = "seen";

/// What node hash fields start with, so a node ID never collides with `seen`.
const NODE_FIELD: &str = "n:";

/// For each user hash KEYS[i]: sets node field ARGV[1] to `connections:epoch` (ARGV[2i+2],
/// ARGV[2i+3]) unless the stored epoch is higher, stamps last seen ARGV[2] and keeps the hash
/// ARGV[3] ms after the last change.
const PUBLISH: &str = r"
for i, key in ipairs(KEYS) do
  local connections, epoch = ARGV[2 * i + 2], ARGV[2 * i + 3]
  local cur = redis.call('HGET', key, ARGV[1])
  local stale = false
  if cur then
    stale = tonumber(epoch) < tonumber(string.sub(cur, string.find(cur, ':', 1, true) + 1))
  end
  if not stale then
    redis.call('HSET', key, ARGV[1], connections .. ':' .. epoch, 'seen', ARGV[2])
    redis.call('PEXPIRE', key, ARGV[3])
  end
end
return 1
";

/// Changes per script call on a single server (a cluster spreads users over slots, so there
/// each call holds one); small enough that no call holds Redis up for long.
const CHANGES_PER_CALL: usize = 64;

/// The Redis presence store.
pub(crate) struct RedisPresenceStore {
    conn: Conn,
    keys: Keys,
    /// How long a user's hash (and so `last_seen`) outlives the user's last change.
    retention: Duration,
    publish: Script,
}

impl RedisPresenceStore {
    pub(crate) fn new(conn: Conn, keys: Keys, retention: Duration) -> Self {
        Self {
            conn,
            keys,
            retention,
            publish: Script::new(PUBLISH),
        }
    }

    fn lease_cmd(&self, node: &str, lease: Duration) -> redis::Cmd {
        if lease.is_zero() {
            // PX 0 is an error; a zero lease is one that already ran out.
            let mut cmd = redis::cmd("DEL");
            cmd.arg(self.keys.lease(node));
            cmd
        } else {
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.keys.lease(node))
                .arg(1)
                .arg("PX")
                .arg(lease.as_millis() as u64);
            cmd
        }
    }
}

#[async_trait]
impl PresenceStore for RedisPresenceStore {
    async fn publish(
        &self,
        node: &str,
        changes: &[PresenceChange],
        lease: Duration,
    ) -> BackplaneResult<()> {
        self.conn.query::<()>(&self.lease_cmd(node, lease)).await?;
        let field = format!("{NODE_FIELD}{node}");
        let now = now_millis();
        let retention = self.retention.as_millis().max(1) as u64;
        let per_call = match self.conn {
            Conn::Standalone(_) => CHANGES_PER_CALL,
            Conn::Cluster(_) => 1,
        };
        let calls: Vec<ScriptCall> = changes
            .chunks(per_call)
            .map(|chunk| {
                let call = ScriptCall::default().arg(&field).arg(now).arg(retention);
                chunk.iter().fold(call, |call, change| {
                    call.key(self.keys.presence(&change.user))
                        .arg(change.connections)
                        .arg(change.epoch)
                })
            })
            .collect();
        self.conn.scatter_scripts(&self.publish, &calls).await?;
        Ok(())
    }

    async fn renew(&self, node: &str, lease: Duration) -> BackplaneResult<LeaseRenewal> {
        if lease.is_zero() {
            self.conn.query::<()>(&self.lease_cmd(node, lease)).await?;
            return Ok(LeaseRenewal::Lapsed);
        }
        // `SET .. GET` (Redis 6.2+) answers the previous value: nil means the lease ran out or
        // the server lost it, in one round trip with the renewal.
        let mut cmd = self.lease_cmd(node, lease);
        cmd.arg("GET");
        let previous: Option<String> = self.conn.query(&cmd).await?;
        Ok(match previous {
            Some(_) => LeaseRenewal::Held,
            None => LeaseRenewal::Lapsed,
        })
    }

    async fn query(&self, users: &[UserId]) -> BackplaneResult<Vec<Presence>> {
        let cmds: Vec<redis::Cmd> = users
            .iter()
            .map(|user| {
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(self.keys.presence(user));
                cmd
            })
            .collect();
        let hashes: Vec<HashMap<String, String>> = self
            .conn
            .scatter(&cmds)
            .await?
            .into_iter()
            .map(|v| Ok(redis::from_redis_value(v)?))
            .collect::<BackplaneResult<_>>()?;
        let nodes: Vec<&str> = hashes
            .iter()
            .flat_map(|h| h.keys())
            .filter_map(|f| f.strip_prefix(NODE_FIELD))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let lease_cmds: Vec<redis::Cmd> = nodes
            .iter()
            .map(|node| {
                let mut cmd = redis::cmd("EXISTS");
                cmd.arg(self.keys.lease(node));
                cmd
            })
            .collect();
        let leases = self.conn.scatter(&lease_cmds).await?;
        let mut live = HashSet::new();
        for (node, exists) in nodes.iter().zip(leases) {
            if redis::from_redis_value::<u64>(exists)? > 0 {
                live.insert(*node);
            }
        }
        let now = now_millis();
        Ok(users
            .iter()
            .zip(&hashes)
            .map(|(user, hash)| {
                let connections: u32 = hash
                    .iter()
                    .filter_map(|(field, value)| {
                        let node = field.strip_prefix(NODE_FIELD)?;
                        let (count, _epoch) = value.split_once(':')?;
                        live.contains(node).then(|| count.parse::<u32>().ok())?
                    })
                    .sum();
                Presence {
                    user: user.clone(),
                    online: connections > 0,
                    connections,
                    last_seen: if connections > 0 {
                        Some(now)
                    } else {
                        hash.get(LAST_SEEN).and_then(|s| s.parse().ok())
                    },
                }
            })
            .collect())
    }
}
