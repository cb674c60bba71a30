//! Posts in Redis, stored together with their fan-out event by one script.
//!
//! Atomic "store + append" needs the post key and the fan-out stream in one Cluster slot, so
//! everything here carries the `{fo}` tag. The trade-off: the post bodies and the one stream
//! live on one Cluster node, so that node bounds post throughput and body memory. It is
//! acceptable because a post is written once and read in batches, and the stream only carries
//! small IDs; the per-follower work (feeds, presence, follows) spreads over every slot.

use async_trait::async_trait;
use pushgate_protocol::PostId;
use redis::Script;
use serde::{Deserialize, Serialize};

use super::connection::{Conn, ScriptCall, decode, encode};
use super::keys::Keys;
use super::stream_entry::{POST_ID, StreamEntry};
use crate::backplane::{
    BackplaneError, BackplaneResult, CreateOutcome, NewPost, Post, PostStore, Visibility,
};
use crate::clock::now_micros;
use crate::trace;

/// How long an idempotency key is remembered: clients retry within minutes, never a day later.
pub(crate) const IDEMPOTENCY_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// Replays an idempotency key, or refuses a full log, or stores the post (ID from INCR) and
/// appends its event: field ARGV[8] with the ID, then the rest of the entry (ARGV[9..], from
/// `StreamEntry`). Only small fields go into the stream; the worker never needs the body.
const CREATE: &str = r"
if ARGV[4] == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    local sep = string.find(prev, ':', 1, true)
    local id = string.sub(prev, 1, sep - 1)
    if string.sub(prev, sep + 1) ~= ARGV[3] then return {'conflict', id} end
    local body = redis.call('GET', ARGV[1] .. id)
    if not body then return {'deleted', id} end
    return {'replayed', id, body}
  end
end
local cap = tonumber(ARGV[7])
if ARGV[6] == '1' and cap > 0 and redis.call('XLEN', KEYS[2]) >= cap then
  return {'full'}
end
redis.call('INCR', KEYS[1])
local id = redis.call('GET', KEYS[1])
redis.call('SET', ARGV[1] .. id, ARGV[2])
if ARGV[6] == '1' then
  redis.call('XADD', KEYS[2], '*', ARGV[8], id, unpack(ARGV, 9))
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[3], id .. ':' .. ARGV[3], 'PX', ARGV[5])
end
return {'created', id}
";

/// A post body as stored; the ID is the key's suffix.
#[derive(Debug, Serialize, Deserialize)]
struct StoredPost {
    author: String,
    content: String,
    media_url: Option<String>,
    visibility: Visibility,
    ts: u64,
}

impl StoredPost {
    fn into_post(self, id: PostId) -> Post {
        Post {
            id,
            author: self.author,
            content: self.content,
            media_url: self.media_url,
            visibility: self.visibility,
            ts: self.ts,
        }
    }
}

/// The Redis post store.
pub(crate) struct RedisPostStore {
    conn: Conn,
    keys: Keys,
    create: Script,
    /// Backlog (stream length) at which `create` answers `Full`; 0 = unbounded.
    event_log_cap: usize,
}

impl RedisPostStore {
    pub(crate) fn new(conn: Conn, keys: Keys, event_log_cap: usize) -> Self {
        Self {
            conn,
            keys,
            create: Script::new(CREATE),
            event_log_cap,
        }
    }
}

fn parse_id(raw: &[u8]) -> BackplaneResult<PostId> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BackplaneError::Corrupt("post id".into()))
}

#[async_trait]
impl PostStore for RedisPostStore {
    async fn create(
        &self,
        new: NewPost,
        idempotency_key: Option<&str>,
    ) -> BackplaneResult<CreateOutcome> {
        let ts = now_micros();
        let body_hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&encode(&new)?));
        let audience = new.visibility.audience();
        let stored = encode(&StoredPost {
            author: new.author.clone(),
            content: new.content.clone(),
            media_url: new.media_url.clone(),
            visibility: new.visibility,
            ts,
        })?;
        let idempotency = idempotency_key.map(|k| self.keys.idempotency(&new.author, k));
        let mut call = ScriptCall::default()
            .key(self.keys.post_seq())
            .key(self.keys.events())
            // Without an idempotency key the slot's own counter stands in, so the call still
            // names three keys of one slot.
            .key(idempotency.clone().unwrap_or_else(|| self.keys.post_seq()))
            .arg(self.keys.post_prefix())
            .arg(stored)
            .arg(&body_hash)
            .arg(if idempotency.is_some() { "1" } else { "0" })
            .arg(IDEMPOTENCY_TTL_MS)
            .arg(if audience.is_some() { "1" } else { "0" })
            .arg(self.event_log_cap)
            .arg(POST_ID);
        if let Some(audience) = audience {
            call = StreamEntry::post_without_id(&new.author, ts, audience)
                .traced(trace::current().as_ref())
                .into_args(call);
        }
        let reply: Vec<Vec<u8>> = self.conn.script(&self.create, &call).await?;
        let outcome = reply.first().map(Vec::as_slice).unwrap_or_default();
        match (outcome, reply.get(1), reply.get(2)) {
            (b"created", Some(id), _) => Ok(CreateOutcome::Created(Post {
                id: parse_id(id)?,
                author: new.author,
                content: new.content,
                media_url: new.media_url,
                visibility: new.visibility,
                ts,
            })),
            (b"replayed", Some(id), Some(body)) => Ok(CreateOutcome::Replayed(
                decode::<StoredPost>(body, "post")?.into_post(parse_id(id)?),
            )),
            (b"conflict", _, _) => Err(BackplaneError::Conflict(
                "idempotency key reused with another body".into(),
            )),
            (b"deleted", _, _) => Err(BackplaneError::Conflict(
                "idempotency key names a deleted post".into(),
            )),
            (b"full", _, _) => Err(BackplaneError::Full("fan-out log")),
            _ => Err(BackplaneError::Corrupt("create script reply".into())),
        }
    }

    async fn get_many(&self, ids: &[PostId]) -> BackplaneResult<Vec<Post>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| self.keys.post(*id)).collect();
        let bodies: Vec<Option<Vec<u8>>> = self.conn.query(redis::cmd("MGET").arg(keys)).await?;
        ids.iter()
            .zip(bodies)
            .filter_map(|(id, body)| body.map(|b| (id, b)))
            .map(|(id, body)| Ok(decode::<StoredPost>(&body, "post")?.into_post(*id)))
            .collect()
    }

    async fn delete(&self, id: PostId) -> BackplaneResult<bool> {
        let removed: u64 = self
            .conn
            .query(redis::cmd("DEL").arg(self.keys.post(id)))
            .await?;
        Ok(removed > 0)
    }
}
