//! The fan-out log on a Redis stream with one consumer group of workers.
//!
//! Reads reclaim idle pending entries first (XAUTOCLAIM, attempt count from the delivery
//! counter), then take new ones (XREADGROUP). Acks trim the stream below the oldest entry any
//! worker still needs, so its length stays the backlog, which `create` uses to shed load.

use std::time::Duration;

use async_trait::async_trait;
use redis::{RedisError, Script, Value};

use super::connection::{Conn, ScriptCall};
use super::keys::Keys;
use super::post_store::IDEMPOTENCY_TTL_MS;
use super::stream_entry::{DecodeError, StreamEntry};
use crate::backplane::{
    AppendOutcome, BackplaneError, BackplaneResult, DeadLetterReason, EventId, EventLog,
    Idempotency, LoggedEvent, NotifyEvent, Unavailable,
};
use crate::trace;

/// The consumer group every fan-out worker joins.
const GROUP: &str = "fanout";

/// Dead letters kept for inspection (approximate trim); they are also logged.
const DEAD_LETTER_CAP: usize = 10_000;

/// The longest a read blocks; the blocking connection's timeout is set above it.
pub(crate) const MAX_BLOCK: Duration = Duration::from_secs(10);

/// IDs acknowledged per script call (Lua's `unpack` has a stack limit).
const ACK_CHUNK: usize = 1000;

/// Replays an idempotency key (KEYS[2], value `<notification id>:<fingerprint>`), or refuses
/// a full log, or appends a notification event (the entry's fields, ARGV[6..]) and records
/// the key, in one atomic step.
const APPEND: &str = r"
if ARGV[2] == '1' then
  local prev = redis.call('GET', KEYS[2])
  if prev then
    local sep = string.find(prev, ':', 1, true)
    local id = string.sub(prev, 1, sep - 1)
    if string.sub(prev, sep + 1) ~= ARGV[3] then return {'conflict', id} end
    return {'replayed', id}
  end
end
local cap = tonumber(ARGV[1])
if cap > 0 and redis.call('XLEN', KEYS[1]) >= cap then return {'full'} end
redis.call('XADD', KEYS[1], '*', unpack(ARGV, 6))
if ARGV[2] == '1' then
  redis.call('SET', KEYS[2], ARGV[4] .. ':' .. ARGV[3], 'PX', ARGV[5])
end
return {'appended'}
";

/// Claims pending entries idle longer than ARGV[3] ms and reports each one's delivery count.
const CLAIM: &str = r"
local res = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local out = {}
for _, entry in ipairs(res[2]) do
  if entry then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    local n = 1
    if p[1] then n = p[1][4] end
    table.insert(out, {entry[1], entry[2], n})
  end
end
return out
";

/// Acks ARGV[2..], then trims every entry below the oldest one still pending or undelivered.
const ACK: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
local function parse(id)
  local sep = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, sep - 1)), tonumber(string.sub(id, sep + 1))
end
local last
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then last = info['last-delivered-id'] end
end
if not last then return 0 end
local ms, seq = parse(last)
local low = string.format('%d-%d', ms, seq + 1)
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
if summary[1] > 0 then
  local pms, pseq = parse(summary[2])
  if pms < ms or (pms == ms and pseq <= seq) then low = summary[2] end
end
return redis.call('XTRIM', KEYS[1], 'MINID', low)
";

/// The group's backlog: pending plus not yet delivered (the stream length when Redis cannot
/// say, which after trimming is a close upper bound).
const BACKLOG: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == ARGV[1] then
    if info['lag'] then return info['pending'] + info['lag'] end
    return redis.call('XLEN', KEYS[1])
  end
end
return redis.call('XLEN', KEYS[1])
";

/// The Redis fan-out log.
pub(crate) struct RedisEventLog {
    conn: Conn,
    /// Only blocking reads go here, so they never stall other calls on the shared connection.
    blocking: Conn,
    keys: Keys,
    claim_after: Duration,
    event_log_cap: usize,
    append: Script,
    claim: Script,
    ack: Script,
    backlog: Script,
}

fn is_code(e: &RedisError, code: &str) -> bool {
    e.code() == Some(code)
}

impl RedisEventLog {
    /// Open the log, creating the stream and consumer group when missing.
    pub(crate) async fn open(
        conn: Conn,
        blocking: Conn,
        keys: Keys,
        claim_after: Duration,
        event_log_cap: usize,
    ) -> BackplaneResult<Self> {
        let log = Self {
            conn,
            blocking,
            keys,
            claim_after,
            event_log_cap,
            append: Script::new(APPEND),
            claim: Script::new(CLAIM),
            ack: Script::new(ACK),
            backlog: Script::new(BACKLOG),
        };
        log.ensure_group().await?;
        Ok(log)
    }

    /// Create the group from the stream's start, so events appended before any worker ran
    /// are still consumed.
    async fn ensure_group(&self) -> BackplaneResult<()> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(self.keys.events())
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match cmd.query_async::<()>(&mut self.conn.clone()).await {
            Err(e) if !is_code(&e, "BUSYGROUP") => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn claim(&self, consumer: &str, max: usize) -> BackplaneResult<Vec<ReadEntry>> {
        let call = ScriptCall::default()
            .key(self.keys.events())
            .arg(GROUP)
            .arg(consumer)
            .arg(self.claim_after.as_millis() as u64)
            .arg(max);
        let claimed: Vec<(String, Vec<Vec<u8>>, u32)> =
            match self.conn.script(&self.claim, &call).await {
                // A Redis that lost its data (restart without persistence) lost the group too.
                Err(BackplaneError::Unavailable(Unavailable::Redis(e)))
                    if is_code(&e, "NOGROUP") =>
                {
                    self.ensure_group().await?;
                    self.conn.script(&self.claim, &call).await?
                }
                other => other?,
            };
        Ok(claimed
            .into_iter()
            .map(|(id, fields, deliveries)| ReadEntry {
                id,
                fields,
                attempts: deliveries.saturating_sub(1),
            })
            .collect())
    }

    async fn read_new(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> BackplaneResult<Vec<ReadEntry>> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(GROUP)
            .arg(consumer)
            .arg("COUNT")
            .arg(max);
        if !block.is_zero() {
            // BLOCK 0 would wait forever; at least 1 ms means "wait a little".
            cmd.arg("BLOCK")
                .arg(block.min(MAX_BLOCK).as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(self.keys.events()).arg(">");
        let reply = match cmd.query_async::<Value>(&mut self.blocking.clone()).await {
            Err(e) if is_code(&e, "NOGROUP") => {
                self.ensure_group().await?;
                cmd.query_async::<Value>(&mut self.blocking.clone()).await?
            }
            other => other?,
        };
        ReadEntry::all_of(reply)
    }

    /// The events `entries` hold, in order. An entry that is no event is dead-lettered here,
    /// as nobody else can: a worker would only ever see the read fail, again and again.
    async fn decode(&self, entries: Vec<ReadEntry>) -> Vec<LoggedEvent> {
        let mut events = Vec::with_capacity(entries.len());
        for entry in entries {
            let trace = StreamEntry::trace(&entry.fields);
            match StreamEntry::decode(&entry.fields) {
                Ok(event) => events.push(LoggedEvent {
                    id: entry.id,
                    event,
                    attempts: entry.attempts,
                    trace,
                }),
                Err(e) => self.dead_letter_undecodable(&entry, &e).await,
            }
        }
        events
    }

    /// Record an entry that is no event in the dead-letter log and ack it. If that fails it
    /// stays pending, and is claimed and tried again after the claim timeout.
    async fn dead_letter_undecodable(&self, entry: &ReadEntry, error: &DecodeError) {
        let mut reason = error.to_string();
        if let Some(source) = std::error::Error::source(error) {
            reason = format!("{reason}: {source}");
        }
        let mut cmd = self.dead_letter_cmd(&entry.id, &reason, entry.attempts);
        cmd.arg("cause").arg(error.cause());
        for part in StreamEntry::raw(&entry.fields) {
            cmd.arg(part);
        }
        let written = match self.conn.query::<Value>(&cmd).await {
            Ok(_) => self.ack(std::slice::from_ref(&entry.id)).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                // The ID and the cause only: the fields may hold user data.
                tracing::error!(event = %entry.id, cause = error.cause(), error = %error,
                    "undecodable fan-out log entry dead-lettered");
                DeadLetterReason::Undecodable.count(1);
            }
            Err(e) => tracing::warn!(event = %entry.id, cause = error.cause(), error = %e,
                "dead-lettering an undecodable entry failed; it is claimed again later"),
        }
    }

    /// The XADD of a dead letter with its own fields; the caller appends the entry's.
    fn dead_letter_cmd(&self, id: &str, reason: &str, attempts: u32) -> redis::Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.dead())
            .arg("MAXLEN")
            .arg("~")
            .arg(DEAD_LETTER_CAP)
            .arg("*")
            .arg("id")
            .arg(id)
            .arg("reason")
            .arg(reason)
            .arg("attempts")
            .arg(attempts);
        cmd
    }
}

/// A log entry as read, before it is decoded.
struct ReadEntry {
    /// What the entry is acknowledged and dead-lettered by.
    id: EventId,
    /// Its fields as name, value, name, value...: bytes, as a foreign writer may put anything.
    fields: Vec<Vec<u8>>,
    /// How many times it was handed out before.
    attempts: u32,
}

impl ReadEntry {
    /// The entries of an XREADGROUP reply (RESP2 arrays or a RESP3 map), walked by hand:
    /// the crate's stream reply wants UTF-8 field names, so one foreign entry with other
    /// bytes would fail the whole read.
    fn all_of(reply: Value) -> BackplaneResult<Vec<ReadEntry>> {
        let corrupt = || BackplaneError::Corrupt("XREADGROUP reply".into());
        let streams: Vec<Value> = match reply {
            Value::Nil => return Ok(Vec::new()),
            Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
            Value::Array(streams) => {
                let mut all = Vec::with_capacity(streams.len());
                for stream in streams {
                    let Value::Array(pair) = stream else {
                        return Err(corrupt());
                    };
                    all.extend(pair.into_iter().nth(1));
                }
                all
            }
            _ => return Err(corrupt()),
        };
        let mut entries = Vec::new();
        for stream in streams {
            let Value::Array(stream) = stream else {
                return Err(corrupt());
            };
            for entry in stream {
                let (id, fields): (String, Option<Vec<Vec<u8>>>) = redis::from_redis_value(entry)?;
                entries.push(ReadEntry {
                    id,
                    // An entry deleted while pending has no fields: nothing to decode.
                    fields: fields.unwrap_or_default(),
                    attempts: 0,
                });
            }
        }
        Ok(entries)
    }
}

#[async_trait]
impl EventLog for RedisEventLog {
    async fn append(
        &self,
        event: NotifyEvent,
        idempotency: Option<Idempotency<'_>>,
    ) -> BackplaneResult<AppendOutcome> {
        let call = ScriptCall::default()
            .key(self.keys.events())
            // Without an idempotency key the stream stands in, so the call still names two
            // keys of one slot.
            .key(idempotency.map_or_else(
                || self.keys.events(),
                |i| self.keys.notify_idempotency(i.key),
            ))
            .arg(self.event_log_cap)
            .arg(if idempotency.is_some() { "1" } else { "0" })
            .arg(idempotency.map_or("", |i| i.fingerprint))
            .arg(event.id)
            .arg(IDEMPOTENCY_TTL_MS);
        let call = StreamEntry::notify(&event)?
            .traced(trace::current().as_ref())
            .into_args(call);
        let reply: Vec<String> = self.conn.script(&self.append, &call).await?;
        match (reply.first().map(String::as_str), reply.get(1)) {
            (Some("appended"), _) => Ok(AppendOutcome::Appended),
            (Some("replayed"), Some(id)) => Ok(AppendOutcome::Replayed {
                notification: id
                    .parse()
                    .map_err(|_| BackplaneError::Corrupt(format!("notification id {id:?}")))?,
            }),
            (Some("conflict"), _) => Err(BackplaneError::Conflict(
                "idempotency key reused with another body".into(),
            )),
            (Some("full"), _) => Err(BackplaneError::Full("fan-out log")),
            _ => Err(BackplaneError::Corrupt("append script reply".into())),
        }
    }

    async fn read(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
    ) -> BackplaneResult<Vec<LoggedEvent>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut entries = self.claim(consumer, max).await?;
        if entries.len() < max {
            // Block only when there is nothing to hand out already.
            let block = if entries.is_empty() {
                block
            } else {
                Duration::ZERO
            };
            entries.extend(self.read_new(consumer, max - entries.len(), block).await?);
        }
        Ok(self.decode(entries).await)
    }

    async fn ack(&self, ids: &[EventId]) -> BackplaneResult<()> {
        for chunk in ids.chunks(ACK_CHUNK) {
            let mut call = ScriptCall::default().key(self.keys.events()).arg(GROUP);
            for id in chunk {
                call = call.arg(id);
            }
            self.conn.script::<Value>(&self.ack, &call).await?;
        }
        Ok(())
    }

    async fn dead_letter(&self, event: &LoggedEvent, reason: &str) -> BackplaneResult<()> {
        tracing::warn!(id = %event.id, reason, "fan-out event dead-lettered");
        let mut cmd = self.dead_letter_cmd(&event.id, reason, event.attempts);
        StreamEntry::of(&event.event)?.write_to(&mut cmd);
        self.conn.query::<Value>(&cmd).await?;
        self.ack(std::slice::from_ref(&event.id)).await
    }

    async fn pending(&self) -> BackplaneResult<u64> {
        let call = ScriptCall::default().key(self.keys.events()).arg(GROUP);
        self.conn.script(&self.backlog, &call).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(bytes: &[u8]) -> Value {
        Value::BulkString(bytes.to_vec())
    }

    fn entry(id: &str, fields: &[&[u8]]) -> Value {
        Value::Array(vec![
            bulk(id.as_bytes()),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn read_replies_keep_any_bytes_in_either_protocol() {
        let entries = || {
            Value::Array(vec![
                entry("1-0", &[b"\xff", b"x"]),
                Value::Array(vec![bulk(b"2-0"), Value::Nil]),
            ])
        };
        let resp2 = Value::Array(vec![Value::Array(vec![bulk(b"pg:{fo}:events"), entries()])]);
        let resp3 = Value::Map(vec![(bulk(b"pg:{fo}:events"), entries())]);
        for reply in [resp2, resp3] {
            let read = ReadEntry::all_of(reply).expect("parses");
            let got: Vec<(&str, &[Vec<u8>])> = read
                .iter()
                .map(|e| (e.id.as_str(), e.fields.as_slice()))
                .collect();
            assert_eq!(
                got,
                [
                    ("1-0", &[b"\xff".to_vec(), b"x".to_vec()][..]),
                    ("2-0", &[][..])
                ]
            );
        }
        assert!(ReadEntry::all_of(Value::Nil).expect("parses").is_empty());
        assert!(matches!(
            ReadEntry::all_of(Value::Int(1)),
            Err(BackplaneError::Corrupt(_))
        ));
    }
}
