//! Per-user capped feeds as Redis lists, with positions from a per-user counter.
//!
//! Positions are dense and only ever trimmed from the front, so the list's first element has
//! position `head - len + 1` and a position maps to a list index without storing it. Each
//! element is `<item key> <msgpack item>`; the index hash maps item keys to positions so a
//! retried append returns the position it already took, and loses entries as they are trimmed.

use async_trait::async_trait;
use pushgate_protocol::{FeedEntry, FeedItem};
use redis::{Script, Value};

use super::connection::{Conn, ScriptCall, decode, encode};
use super::keys::Keys;
use crate::backplane::{BackplaneError, BackplaneResult, FeedSlice, FeedStore, UserId};

/// Appends ARGV[2] under item key ARGV[1] unless present, then trims to ARGV[3] entries.
const APPEND: &str = r"
local seq = redis.call('HGET', KEYS[3], ARGV[1])
if seq then return tonumber(seq) end
seq = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], seq)
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  for _, e in ipairs(redis.call('LPOP', KEYS[1], over)) do
    redis.call('HDEL', KEYS[3], string.sub(e, 1, string.find(e, ' ', 1, true) - 1))
  end
end
return seq
";

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
        let calls: Vec<ScriptCall> = users
            .iter()
            .map(|user| {
                ScriptCall::default()
                    .key(self.keys.feed(user))
                    .key(self.keys.feed_seq(user))
                    .key(self.keys.feed_index(user))
                    .arg(&key)
                    .arg(element.as_slice())
                    .arg(self.cap)
            })
            .collect();
        self.conn
            .scatter_scripts(&self.append, &calls)
            .await?
            .into_iter()
            .map(|v: Value| Ok(redis::from_redis_value::<u64>(v)?))
            .collect()
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
