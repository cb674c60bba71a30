//! Celebrity timelines in one `{b}` slot, numbered by one global counter.
//!
//! The counter and every timeline share a slot so an append is one script: the global position
//! stays dense, a retried post gets its old position back, and a reader never sees position
//! k+1 without k (which a cursor would then skip forever). The cost is one hot slot; it holds
//! only `authors x broadcast_cap` small entries and celebrity posts are rare, and reads of many
//! authors are one pipeline to that slot.

use async_trait::async_trait;
use pushgate_protocol::{Audience, FeedItem, PostId};
use redis::{Script, Value};

use super::connection::{Conn, ScriptCall};
use super::keys::Keys;
use crate::backplane::{
    BackplaneError, BackplaneResult, BroadcastEntry, BroadcastLog, BroadcastSlice, UserId,
};

/// Appends post ARGV[1] (member ARGV[2]) unless indexed, then trims the timeline to ARGV[3],
/// remembering the highest trimmed position; also records it in the all-authors log KEYS[5]
/// (member ARGV[4] = `<post id>:<ts>:<author>`), capped at ARGV[5] entries.
const APPEND: &str = r"
local seq = redis.call('HGET', KEYS[3], ARGV[1])
if seq then return tonumber(seq) end
seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], seq)
redis.call('ZADD', KEYS[5], seq, ARGV[4])
local global_over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[5])
if global_over > 0 then redis.call('ZPOPMIN', KEYS[5], global_over) end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #popped, 2 do
    redis.call('HDEL', KEYS[3], string.sub(popped[i], 1, string.find(popped[i], ':', 1, true) - 1))
    redis.call('SET', KEYS[4], popped[i + 1])
  end
end
return seq
";

/// The all-authors log keeps this many times the per-author cap: gap fills only ever look at
/// the last few seconds of broadcasts.
const GLOBAL_CAP_FACTOR: usize = 10;

/// The Redis broadcast log.
pub(crate) struct RedisBroadcastLog {
    conn: Conn,
    keys: Keys,
    cap: usize,
    append: Script,
}

impl RedisBroadcastLog {
    pub(crate) fn new(conn: Conn, keys: Keys, cap: usize) -> Self {
        Self {
            conn,
            keys,
            cap: cap.max(1),
            append: Script::new(APPEND),
        }
    }
}

/// `ZRANGE` of the (at most `limit`) members of `key` positioned after `after`, with their
/// positions: one shape for a per-author timeline and for the all-authors log.
fn entries_after(key: String, after: u64, limit: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(key)
        .arg(format!("({after}"))
        .arg("+inf")
        .arg("BYSCORE")
        .arg("LIMIT")
        .arg(0)
        .arg(limit)
        .arg("WITHSCORES");
    cmd
}

/// Entries from a `ZRANGE ... WITHSCORES` reply whose members are `<post id>:<ts>` followed,
/// when `author` is `None`, by `:<author>` (the all-authors log).
fn entries(author: Option<&str>, reply: Value) -> BackplaneResult<Vec<BroadcastEntry>> {
    let flat: Vec<String> = redis::from_redis_value(reply)?;
    flat.chunks_exact(2)
        .map(|pair| {
            let corrupt = || BackplaneError::Corrupt(format!("broadcast entry {pair:?}"));
            let mut parts = pair[0].splitn(3, ':');
            let (id, ts) = (
                parts.next().ok_or_else(corrupt)?,
                parts.next().ok_or_else(corrupt)?,
            );
            let author = match author {
                Some(author) => author,
                None => parts.next().ok_or_else(corrupt)?,
            };
            Ok(BroadcastEntry {
                seq: pair[1].parse().map_err(|_| corrupt())?,
                item: FeedItem::Post {
                    id: id.parse().map_err(|_| corrupt())?,
                    author: author.to_owned(),
                    ts: ts.parse().map_err(|_| corrupt())?,
                    // Friends-only posts never take the broadcast path.
                    audience: Audience::Followers,
                },
            })
        })
        .collect()
}

#[async_trait]
impl BroadcastLog for RedisBroadcastLog {
    async fn append(&self, author: &str, id: PostId, ts: u64) -> BackplaneResult<u64> {
        let call = ScriptCall::default()
            .key(self.keys.broadcast_seq())
            .key(self.keys.timeline(author))
            .key(self.keys.timeline_index(author))
            .key(self.keys.timeline_trimmed(author))
            .key(self.keys.broadcast_all())
            .arg(id)
            .arg(format!("{id}:{ts}"))
            .arg(self.cap)
            .arg(format!("{id}:{ts}:{author}"))
            .arg(self.cap.saturating_mul(GLOBAL_CAP_FACTOR));
        self.conn.script(&self.append, &call).await
    }

    async fn since(
        &self,
        authors: &[UserId],
        after: u64,
        limit: usize,
    ) -> BackplaneResult<BroadcastSlice> {
        if authors.is_empty() || limit == 0 {
            let complete = self
                .trimmed_through(authors)
                .await?
                .iter()
                .all(|t| *t <= after);
            return Ok(BroadcastSlice {
                entries: Vec::new(),
                complete,
            });
        }
        let mut pipe = redis::pipe();
        for author in authors {
            pipe.add_command(entries_after(self.keys.timeline(author), after, limit));
            pipe.cmd("GET").arg(self.keys.timeline_trimmed(author));
        }
        let replies: Vec<Value> = self.conn.pipe(&pipe).await?;
        let mut complete = true;
        let mut all = Vec::new();
        for (author, pair) in authors.iter().zip(replies.chunks_exact(2)) {
            all.extend(entries(Some(author), pair[0].clone())?);
            let trimmed: Option<u64> = redis::from_redis_value(pair[1].clone())?;
            complete &= trimmed.unwrap_or(0) <= after;
        }
        all.sort_by_key(|e| e.seq);
        all.truncate(limit);
        Ok(BroadcastSlice {
            entries: all,
            complete,
        })
    }

    async fn before(
        &self,
        authors: &[UserId],
        before: Option<u64>,
        limit: usize,
    ) -> BackplaneResult<Vec<BroadcastEntry>> {
        if authors.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let upper = before.map_or_else(|| "+inf".to_owned(), |b| format!("({b}"));
        let mut pipe = redis::pipe();
        for author in authors {
            pipe.cmd("ZRANGE")
                .arg(self.keys.timeline(author))
                .arg(&upper)
                .arg("-inf")
                .arg("BYSCORE")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .arg("WITHSCORES");
        }
        let replies: Vec<Value> = self.conn.pipe(&pipe).await?;
        let mut all = Vec::new();
        for (author, reply) in authors.iter().zip(replies) {
            all.extend(entries(Some(author), reply)?);
        }
        all.sort_by_key(|e| std::cmp::Reverse(e.seq));
        all.truncate(limit);
        Ok(all)
    }

    async fn range(&self, after: u64, limit: usize) -> BackplaneResult<Vec<BroadcastEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let reply: Value = self
            .conn
            .query(&entries_after(self.keys.broadcast_all(), after, limit))
            .await?;
        entries(None, reply)
    }

    async fn head(&self) -> BackplaneResult<u64> {
        let head: Option<u64> = self
            .conn
            .query(redis::cmd("GET").arg(self.keys.broadcast_seq()))
            .await?;
        Ok(head.unwrap_or(0))
    }
}

impl RedisBroadcastLog {
    /// Each author's highest trimmed position (0 = nothing trimmed).
    async fn trimmed_through(&self, authors: &[UserId]) -> BackplaneResult<Vec<u64>> {
        if authors.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = authors
            .iter()
            .map(|a| self.keys.timeline_trimmed(a))
            .collect();
        let trimmed: Vec<Option<u64>> = self.conn.query(redis::cmd("MGET").arg(keys)).await?;
        Ok(trimmed.into_iter().map(|t| t.unwrap_or(0)).collect())
    }
}
