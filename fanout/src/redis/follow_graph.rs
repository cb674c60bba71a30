//! The follow graph as two sorted sets per user, paged by name so page tokens stay stable.
//!
//! All scores are 0, so members sort by name and `ZRANGE BYLEX` resumes after the last name
//! of a page even while followers come and go. The two directions live in different slots:
//! a follow first adds to the user's following set (a script checks the follow limit in the
//! same step), then to the author's followers; every write is idempotent, so a retried
//! half-done follow converges.

use async_trait::async_trait;
use redis::Script;

use super::connection::{Conn, ScriptCall};
use super::keys::Keys;
use crate::backplane::{BackplaneResult, FollowGraph, Followed, FollowerPage, UserId};

/// On the user's following set KEYS[1]: add ARGV[1] unless it holds ARGV[2] members already.
/// Returns 1 when added, 0 when it was there, -1 when the set is full: one atomic step, so
/// concurrent follows of one user cannot pass the limit.
const FOLLOW: &str = r"
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 1
";

/// The Redis follow graph.
pub(crate) struct RedisFollowGraph {
    conn: Conn,
    keys: Keys,
    follow: Script,
}

impl RedisFollowGraph {
    pub(crate) fn new(conn: Conn, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            follow: Script::new(FOLLOW),
        }
    }

    /// Record a change of `author`'s followers if `changed`.
    async fn changed(&self, author: &str, changed: bool) -> BackplaneResult<bool> {
        if changed {
            // After the change, never before it: a reader that sees the new revision must see
            // the new followers. Random rather than counted, so a Redis that lost its data
            // cannot count back up to a revision a cache still holds.
            self.conn
                .query::<()>(
                    redis::cmd("SET")
                        .arg(self.keys.followers_revision(author))
                        .arg(rand::random::<u64>().max(1)),
                )
                .await?;
        }
        Ok(changed)
    }
}

#[async_trait]
impl FollowGraph for RedisFollowGraph {
    async fn follow(
        &self,
        user: &str,
        author: &str,
        max_following: usize,
    ) -> BackplaneResult<Followed> {
        let call = ScriptCall::default()
            .key(self.keys.following(user))
            .arg(author)
            .arg(max_following);
        let added: i64 = self.conn.script(&self.follow, &call).await?;
        if added < 0 {
            return Ok(Followed::LimitReached);
        }
        // The followers side even when the following side had the author: that is how a
        // retry completes a follow that failed halfway.
        let added: u64 = self
            .conn
            .query(
                redis::cmd("ZADD")
                    .arg(self.keys.followers(author))
                    .arg(0)
                    .arg(user),
            )
            .await?;
        Ok(if self.changed(author, added > 0).await? {
            Followed::New
        } else {
            Followed::Already
        })
    }

    async fn unfollow(&self, user: &str, author: &str) -> BackplaneResult<bool> {
        let followers = redis::cmd("ZREM")
            .arg(self.keys.followers(author))
            .arg(user)
            .to_owned();
        let following = redis::cmd("ZREM")
            .arg(self.keys.following(user))
            .arg(author)
            .to_owned();
        let replies = self.conn.scatter(&[followers, following]).await?;
        let removed: u64 = match replies.into_iter().next() {
            Some(v) => redis::from_redis_value(v)?,
            None => 0,
        };
        self.changed(author, removed > 0).await
    }

    async fn follower_count(&self, author: &str) -> BackplaneResult<u64> {
        self.conn
            .query(redis::cmd("ZCARD").arg(self.keys.followers(author)))
            .await
    }

    async fn followers(
        &self,
        author: &str,
        from: Option<&str>,
        limit: usize,
    ) -> BackplaneResult<FollowerPage> {
        if limit == 0 {
            return Ok(FollowerPage::default());
        }
        let start = from.map_or_else(|| "-".to_owned(), |f| format!("({f}"));
        // One extra name tells whether another page follows, without a second call.
        let mut users: Vec<UserId> = self
            .conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys.followers(author))
                    .arg(start)
                    .arg("+")
                    .arg("BYLEX")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit + 1),
            )
            .await?;
        let next = if users.len() > limit {
            users.truncate(limit);
            users.last().cloned()
        } else {
            None
        };
        Ok(FollowerPage { users, next })
    }

    async fn filter_followers(&self, author: &str, users: &[UserId]) -> BackplaneResult<Vec<bool>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let scores: Vec<Option<f64>> = self
            .conn
            .query(
                redis::cmd("ZMSCORE")
                    .arg(self.keys.followers(author))
                    .arg(users),
            )
            .await?;
        Ok(scores.into_iter().map(|s| s.is_some()).collect())
    }

    async fn followers_revision(&self, author: &str) -> BackplaneResult<u64> {
        let revision: Option<u64> = self
            .conn
            .query(redis::cmd("GET").arg(self.keys.followers_revision(author)))
            .await?;
        Ok(revision.unwrap_or(0))
    }

    async fn following(&self, user: &str) -> BackplaneResult<Vec<UserId>> {
        self.conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(self.keys.following(user))
                    .arg(0)
                    .arg(-1),
            )
            .await
    }
}
