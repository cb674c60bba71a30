//! The follow graph as two sorted sets per user, paged by name so page tokens stay stable.
//!
//! All scores are 0, so members sort by name and `ZRANGE BYLEX` resumes after the last name
//! of a page even while followers come and go. The two directions live in different slots;
//! every write is idempotent, so a retried half-done follow converges.

use async_trait::async_trait;

use super::connection::Conn;
use super::keys::Keys;
use crate::backplane::{BackplaneResult, FollowGraph, FollowerPage, UserId};

/// The Redis follow graph.
pub(crate) struct RedisFollowGraph {
    conn: Conn,
    keys: Keys,
}

impl RedisFollowGraph {
    pub(crate) fn new(conn: Conn, keys: Keys) -> Self {
        Self { conn, keys }
    }

    /// Run one command on each direction and return the followers side's count.
    async fn both(&self, verb: &str, user: &str, author: &str) -> BackplaneResult<bool> {
        let mut followers = redis::cmd(verb);
        followers.arg(self.keys.followers(author));
        let mut following = redis::cmd(verb);
        following.arg(self.keys.following(user));
        if verb == "ZADD" {
            followers.arg(0);
            following.arg(0);
        }
        followers.arg(user);
        following.arg(author);
        let replies = self.conn.scatter(&[followers, following]).await?;
        let changed: u64 = match replies.into_iter().next() {
            Some(v) => redis::from_redis_value(v)?,
            None => 0,
        };
        if changed > 0 {
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
        Ok(changed > 0)
    }
}

#[async_trait]
impl FollowGraph for RedisFollowGraph {
    async fn follow(&self, user: &str, author: &str) -> BackplaneResult<bool> {
        self.both("ZADD", user, author).await
    }

    async fn unfollow(&self, user: &str, author: &str) -> BackplaneResult<bool> {
        self.both("ZREM", user, author).await
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
