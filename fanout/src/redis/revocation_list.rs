//! The revocation list as one sorted set: member = user, score = `before`.
//!
//! One key, so a process catches up with one `ZRANGE BYSCORE` from its last look. Entries
//! are trimmed by score: a revocation older than the longest token lifetime refuses nothing.

use std::time::Duration;

use async_trait::async_trait;

use super::connection::Conn;
use super::keys::Keys;
use crate::backplane::{BackplaneResult, RevocationList, UserId};
use crate::clock::now_micros;

/// The Redis revocation list.
pub(crate) struct RedisRevocationList {
    conn: Conn,
    keys: Keys,
}

impl RedisRevocationList {
    pub(crate) fn new(conn: Conn, keys: Keys) -> Self {
        Self { conn, keys }
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke(&self, user: &str, before: u64, keep: Duration) -> BackplaneResult<()> {
        let key = self.keys.revocations();
        let oldest_kept = (now_micros() / 1_000_000).saturating_sub(keep.as_secs());
        let mut pipe = redis::pipe();
        // GT: a later revocation replaces an earlier one, never the other way round.
        pipe.cmd("ZADD").arg(&key).arg("GT").arg(before).arg(user);
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({oldest_kept}"));
        self.conn.pipe::<()>(&pipe).await
    }

    async fn since(&self, since: u64) -> BackplaneResult<Vec<(UserId, u64)>> {
        self.conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys.revocations())
                    .arg(since)
                    .arg("+inf")
                    .arg("BYSCORE")
                    .arg("WITHSCORES"),
            )
            .await
    }
}
