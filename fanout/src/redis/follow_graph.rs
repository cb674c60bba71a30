//! The follow graph as two sorted sets per user, paged by name so page tokens stay stable.
//!
//! All scores are 0, so members sort by name and `ZRANGE BYLEX` resumes after the last name
//! of a page even while followers come and go. The two directions live in different slots:
//! a follow first adds to the user's following set (a script checks the follow limit in the
//! same step), then to the author's followers; every write is idempotent, so a retried
//! half-done follow converges.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use redis::{Cmd, Script, Value};

use super::connection::{Conn, ScriptCall};
use super::keys::Keys;
use crate::backplane::{
    BackplaneError, BackplaneResult, BatchOutcome, Edge, FollowGraph, Followed, FollowerPage,
    UserId,
};

/// On the user's following set KEYS[1]: add each author of ARGV[2..] unless the set holds
/// ARGV[1] members already. Returns per author 1 when added, 0 when it was there, -1 when the
/// set is full: one atomic step, so concurrent follows of one user cannot pass the limit.
const FOLLOW: &str = r"
local max = tonumber(ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
local out = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    out[#out + 1] = 0
  elseif count >= max then
    out[#out + 1] = -1
  else
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
    count = count + 1
    out[#out + 1] = 1
  end
end
return out
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

    /// Set a new followers revision of each author. After the change, never before it: a
    /// reader that sees the new revision must see the new followers. Random rather than
    /// counted, so a Redis that lost its data cannot count back up to a revision a cache
    /// still holds.
    async fn bump_revisions(&self, authors: &BTreeSet<&str>) -> BackplaneResult<()> {
        let bumps: Vec<Cmd> = authors
            .iter()
            .map(|author| {
                redis::cmd("SET")
                    .arg(self.keys.followers_revision(author))
                    .arg(rand::random::<u64>().max(1))
                    .to_owned()
            })
            .collect();
        self.conn.scatter(&bumps).await?;
        Ok(())
    }

    /// Record a change of `author`'s followers if `changed`.
    async fn changed(&self, author: &str, changed: bool) -> BackplaneResult<bool> {
        if changed {
            self.bump_revisions(&BTreeSet::from([author])).await?;
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
            .arg(max_following)
            .arg(author);
        let added: Vec<i64> = self.conn.script(&self.follow, &call).await?;
        if added.first().is_none_or(|&a| a < 0) {
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

    /// Three round trips whatever the batch's size: the following sides (one script per
    /// user), then the followers sides, then the revisions of the authors that changed.
    async fn apply(
        &self,
        follow: &[Edge],
        unfollow: &[Edge],
        max_following: usize,
    ) -> BackplaneResult<BatchOutcome> {
        let mut by_user: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, edge) in follow.iter().enumerate() {
            by_user.entry(&edge.user).or_default().push(i);
        }
        let calls: Vec<ScriptCall> = by_user
            .iter()
            .map(|(user, edges)| {
                edges.iter().fold(
                    ScriptCall::default()
                        .key(self.keys.following(user))
                        .arg(max_following),
                    |call, &i| call.arg(&follow[i].author),
                )
            })
            .collect();
        let replies = self.conn.scatter_scripts(&self.follow, &calls).await?;
        let mut full = vec![false; follow.len()];
        for ((_, edges), reply) in by_user.iter().zip(replies) {
            let added: Vec<i64> = redis::from_redis_value(reply)?;
            if added.len() != edges.len() {
                return Err(BackplaneError::Corrupt("follow script reply".into()));
            }
            for (&i, added) in edges.iter().zip(added) {
                full[i] = added < 0;
            }
        }
        // The followers side of every follow that fit, even where the following side had the
        // author already (a retry completes a half-done follow), then both sides of unfollows.
        let mut cmds: Vec<Cmd> = Vec::new();
        let fitted: Vec<usize> = (0..follow.len()).filter(|&i| !full[i]).collect();
        for &i in &fitted {
            let edge = &follow[i];
            cmds.push(
                redis::cmd("ZADD")
                    .arg(self.keys.followers(&edge.author))
                    .arg(0)
                    .arg(&edge.user)
                    .to_owned(),
            );
        }
        for edge in unfollow {
            cmds.push(
                redis::cmd("ZREM")
                    .arg(self.keys.followers(&edge.author))
                    .arg(&edge.user)
                    .to_owned(),
            );
            cmds.push(
                redis::cmd("ZREM")
                    .arg(self.keys.following(&edge.user))
                    .arg(&edge.author)
                    .to_owned(),
            );
        }
        let mut replies = self.conn.scatter(&cmds).await?.into_iter();
        let mut reply_count = || -> BackplaneResult<u64> {
            let value = replies.next().unwrap_or(Value::Nil);
            Ok(redis::from_redis_value(value)?)
        };
        let mut outcome = BatchOutcome {
            followed: vec![Followed::LimitReached; follow.len()],
            unfollowed: Vec::with_capacity(unfollow.len()),
        };
        let mut changed: BTreeSet<&str> = BTreeSet::new();
        for &i in &fitted {
            let new = reply_count()? > 0;
            outcome.followed[i] = if new {
                Followed::New
            } else {
                Followed::Already
            };
            if new {
                changed.insert(&follow[i].author);
            }
        }
        for edge in unfollow {
            let was = reply_count()? > 0;
            reply_count()?;
            outcome.unfollowed.push(was);
            if was {
                changed.insert(&edge.author);
            }
        }
        self.bump_revisions(&changed).await?;
        Ok(outcome)
    }
}
