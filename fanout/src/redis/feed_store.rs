//! Per-user capped feeds as Redis lists, with positions from a per-user counter.
//!
//! Positions are dense and only ever trimmed from the front, so the list's first element has
//! position `head - len + 1` and a position maps to a list index without storing it. Each
//! element is `<item key> <msgpack item>`; the index hash maps item keys to positions so a
//! retried append returns the position it already took, and loses entries as they are trimmed.

use async_trait::async_trait;
use pushgate_protocol::{FeedEntry, FeedItem};
use redis::Script;

use super::connection::{Conn, ScriptCall, decode, encode};
use super::keys::Keys;
use crate::backplane::{BackplaneError, BackplaneResult, FeedSlice, FeedStore, UserId};

/// For each (feed, head, index) key triple: appends ARGV[2] under item key ARGV[1] unless
/// present, then trims to ARGV[3] entries. Returns each feed's position of the item.
///
/// Every call here runs inside Redis's single thread, so it is kept to four per user: the
/// length for trimming comes from RPUSH's reply (an LLEN cost 6 % more per append).
const APPEND: &str = r"
local out = {}
for k = 1, #KEYS, 3 do
  local feed, head, index = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local seq = redis.call('HGET', index, ARGV[1])
  if not seq then
    seq = redis.call('INCR', head)
    local over = redis.call('RPUSH', feed, ARGV[2]) - tonumber(ARGV[3])
    redis.call('HSET', index, ARGV[1], seq)
    if over > 0 then
      for _, e in ipairs(redis.call('LPOP', feed, over)) do
        redis.call('HDEL', index, string.sub(e, 1, string.find(e, ' ', 1, true) - 1))
      end
    end
  end
  table.insert(out, tonumber(seq))
end
return out
";

/// Users per script call on a single server: batching saves per-call overhead, and a small
/// batch keeps each script short so other clients never wait long behind it.
const USERS_PER_CALL: usize = 64;

/// Returns {first position held, first position returned, elements} for positions ARGV[1] to
/// ARGV[2], clamped to what is held; with ARGV[3] > 0, only the newest ARGV[3] of them.
const RANGE: &str = r"
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = head - redis.call('LLEN', KEYS[1]) + 1
local from = math.max(tonumber(ARGV[1]), first)
local to = math.min(tonumber(ARGV[2]), head)
local newest = tonumber(ARGV[3])
if newest > 0 then from = math.max(from, to - newest + 1) end
if from > to then return {first, from, {}} end
return {first, from, redis.call('LRANGE', KEYS[1], from - first, to - first)}
";

/// The key identifying an item for deduplication.
fn item_key(item: &FeedItem) -> String {
    match item {
        FeedItem::Post { id, .. } => format!("p{id}"),
        FeedItem::Notify { id, .. } => format!("n{id}"),
    }
}

/// The Redis feed store.
pub(crate) struct RedisFeedStore {
    conn: Conn,
    keys: Keys,
    cap: usize,
    append: Script,
    range: Script,
}

/// Positions fit Lua's doubles exactly below 2^53; larger bounds mean "unbounded".
const MAX_POSITION: u64 = 1 << 53;

impl RedisFeedStore {
    pub(crate) fn new(conn: Conn, keys: Keys, cap: usize) -> Self {
        Self {
            conn,
            keys,
            cap: cap.max(1),
            append: Script::new(APPEND),
            range: Script::new(RANGE),
        }
    }

    /// Entries at positions `from..=to` (clamped; only the newest `newest` when non-zero),
    /// oldest first, and the first position held.
    async fn range(
        &self,
        user: &str,
        from: u64,
        to: u64,
        newest: usize,
    ) -> BackplaneResult<(u64, Vec<FeedEntry>)> {
        let call = ScriptCall::default()
            .key(self.keys.feed(user))
            .key(self.keys.feed_seq(user))
            .arg(from.min(MAX_POSITION))
            .arg(to.min(MAX_POSITION))
            .arg((newest as u64).min(MAX_POSITION));
        let (first, start, elements): (u64, u64, Vec<Vec<u8>>) =
            self.conn.script(&self.range, &call).await?;
        let entries = elements
            .iter()
            .zip(start..)
            .map(|(element, seq)| {
                let encoded = element
                    .iter()
                    .position(|b| *b == b' ')
                    .map(|sep| &element[sep + 1..])
                    .ok_or_else(|| BackplaneError::Corrupt("feed element".into()))?;
                Ok(FeedEntry {
                    seq,
                    item: decode(encoded, "feed item")?,
                })
            })
            .collect::<BackplaneResult<_>>()?;
        Ok((first, entries))
    }
}

#[async_trait]
impl FeedStore for RedisFeedStore {
    async fn append(&self, users: &[UserId], item: &FeedItem) -> BackplaneResult<Vec<u64>> {
        let key = item_key(item);
        let mut element = Vec::with_capacity(key.len() + 48);
        element.extend_from_slice(key.as_bytes());
        element.push(b' ');
        element.extend_from_slice(&encode(item)?);
        // A cluster spreads users over slots, so there each call holds one user.
        let per_call = match self.conn {
            Conn::Standalone(_) => USERS_PER_CALL,
            Conn::Cluster(_) => 1,
        };
        let calls: Vec<ScriptCall> = users
            .chunks(per_call)
            .map(|chunk| {
                chunk
                    .iter()
                    .fold(ScriptCall::default(), |call, user| {
                        call.key(self.keys.feed(user))
                            .key(self.keys.feed_seq(user))
                            .key(self.keys.feed_index(user))
                    })
                    .arg(&key)
                    .arg(element.as_slice())
                    .arg(self.cap)
            })
            .collect();
        let mut positions = Vec::with_capacity(users.len());
        for reply in self.conn.scatter_scripts(&self.append, &calls).await? {
            positions.extend(redis::from_redis_value::<Vec<u64>>(reply)?);
        }
        if positions.len() != users.len() {
            return Err(BackplaneError::Corrupt("feed append reply".into()));
        }
        Ok(positions)
    }

    async fn since(&self, user: &str, after: u64, limit: usize) -> BackplaneResult<FeedSlice> {
        let from = after.saturating_add(1);
        // With no room asked for, the call still answers whether the position is held.
        let to = after.saturating_add(limit as u64);
        let (first, entries) = self.range(user, from, to, 0).await?;
        Ok(FeedSlice {
            entries,
            complete: from >= first,
        })
    }

    async fn before(
        &self,
        user: &str,
        before: Option<u64>,
        limit: usize,
    ) -> BackplaneResult<Vec<FeedEntry>> {
        let to = match before {
            Some(0) => return Ok(Vec::new()),
            Some(b) => b - 1,
            None => u64::MAX,
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (_, mut entries) = self.range(user, 1, to, limit).await?;
        entries.reverse();
        Ok(entries)
    }

    async fn head(&self, user: &str) -> BackplaneResult<u64> {
        let head: Option<u64> = self
            .conn
            .query(redis::cmd("GET").arg(self.keys.feed_seq(user)))
            .await?;
        Ok(head.unwrap_or(0))
    }
}
