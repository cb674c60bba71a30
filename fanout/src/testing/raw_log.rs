//! The Redis fan-out log as a foreign writer and an operator see it: raw `XADD`s into the
//! stream (what a buggy or newer publisher, or `redis-cli`, could write) and the dead-letter
//! stream and pending list read back, under the default key prefix.

use redis::aio::MultiplexedConnection;

use super::RedisServer;

/// The fan-out log's stream.
const EVENTS: &str = "pg:{fo}:events";
/// The dead-letter stream.
const DEAD: &str = "pg:{fo}:dead";
/// The workers' consumer group.
const GROUP: &str = "fanout";

/// One dead letter: its stream fields as name, value pairs, in order.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    /// The fields; values are bytes, as a dead letter repeats whatever the entry held.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl DeadLetter {
    /// The first value of field `name`, as text.
    pub fn get(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }
}

/// A plain client on a test server's fan-out log.
#[derive(Debug)]
pub struct RawLog {
    conn: MultiplexedConnection,
}

impl RawLog {
    /// A client on `server` (standalone; the keys share one slot, so a cluster would do too
    /// with a cluster client, which no test needs).
    pub async fn open(server: &RedisServer) -> Self {
        let client = redis::Client::open(server.url()).expect("a valid test URL");
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test server");
        Self { conn }
    }

    /// `XADD` an entry of `fields` into the fan-out log; returns its stream ID.
    pub async fn append(&self, fields: &[(Vec<u8>, Vec<u8>)]) -> String {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(EVENTS).arg("*");
        for (name, value) in fields {
            cmd.arg(name).arg(value);
        }
        cmd.query_async(&mut self.conn.clone()).await.expect("XADD")
    }

    /// Every dead letter, oldest first.
    pub async fn dead_letters(&self) -> Vec<DeadLetter> {
        let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
            .arg(DEAD)
            .arg("-")
            .arg("+")
            .query_async(&mut self.conn.clone())
            .await
            .expect("XRANGE");
        entries
            .into_iter()
            .map(|(_, flat)| {
                let mut fields = Vec::new();
                let mut it = flat.into_iter();
                while let (Some(name), Some(value)) = (it.next(), it.next()) {
                    fields.push((name, value));
                }
                DeadLetter { fields }
            })
            .collect()
    }

    /// Entries handed to a worker and not acknowledged yet (`XPENDING`'s count).
    pub async fn pending(&self) -> u64 {
        let summary: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
            .arg(EVENTS)
            .arg(GROUP)
            .query_async(&mut self.conn.clone())
            .await
            .expect("XPENDING");
        summary.0
    }
}

/// An entry no worker can decode, and the `cause` its dead letter names.
#[derive(Clone, Debug)]
pub struct UndecodableEntry {
    /// The entry's fields as name, value pairs.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// What the dead letter's `cause` field says.
    pub cause: &'static str,
}

/// One entry per way a foreign writer gets the format wrong: an audience no worker knows
/// (a newer publisher), bytes that are no field of the format, a notification whose type
/// tag no worker knows.
pub fn undecodable_entries() -> Vec<UndecodableEntry> {
    let pairs = |fields: &[(&[u8], &[u8])]| {
        fields
            .iter()
            .map(|(name, value)| (name.to_vec(), value.to_vec()))
            .collect()
    };
    let future_tag = rmp_serde::to_vec_named(&serde_json::json!({"type": "poll", "users": ["u"]}))
        .expect("encodes");
    vec![
        UndecodableEntry {
            fields: pairs(&[
                (b"post", b"1"),
                (b"author", b"al"),
                (b"ts", b"5"),
                (b"vis", b"sideways"),
            ]),
            cause: "unknown_audience",
        },
        UndecodableEntry {
            fields: pairs(&[(b"\xff\xfe", b"\x00garbage")]),
            cause: "missing_field",
        },
        UndecodableEntry {
            fields: pairs(&[(b"event", &future_tag)]),
            cause: "bad_notification",
        },
    ]
}
