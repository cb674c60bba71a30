//! In-memory follow graph, indexed both ways.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::RwLock;

use async_trait::async_trait;

use crate::backplane::{BackplaneResult, FollowGraph, Followed, FollowerPage, UserId};

#[derive(Debug, Default)]
struct Graph {
    /// author -> followers, ordered so pages resume by name.
    followers: HashMap<UserId, BTreeSet<UserId>>,
    /// user -> authors followed.
    following: HashMap<UserId, BTreeSet<UserId>>,
    /// author -> revision of its followers, bumped by every change.
    revisions: HashMap<UserId, u64>,
}

/// The embedded follow graph.
#[derive(Debug, Default)]
pub struct MemoryFollowGraph {
    graph: RwLock<Graph>,
}

#[async_trait]
impl FollowGraph for MemoryFollowGraph {
    async fn follow(
        &self,
        user: &str,
        author: &str,
        max_following: usize,
    ) -> BackplaneResult<Followed> {
        let mut graph = self.graph.write().expect("follow graph lock");
        let following = graph.following.entry(user.to_owned()).or_default();
        if !following.contains(author) && following.len() >= max_following {
            return Ok(Followed::LimitReached);
        }
        following.insert(author.to_owned());
        let new = graph
            .followers
            .entry(author.to_owned())
            .or_default()
            .insert(user.to_owned());
        if !new {
            return Ok(Followed::Already);
        }
        *graph.revisions.entry(author.to_owned()).or_default() += 1;
        Ok(Followed::New)
    }

    async fn unfollow(&self, user: &str, author: &str) -> BackplaneResult<bool> {
        let mut graph = self.graph.write().expect("follow graph lock");
        let was = graph
            .followers
            .get_mut(author)
            .is_some_and(|f| f.remove(user));
        if let Some(f) = graph.following.get_mut(user) {
            f.remove(author);
        }
        if was {
            *graph.revisions.entry(author.to_owned()).or_default() += 1;
        }
        Ok(was)
    }

    async fn follower_count(&self, author: &str) -> BackplaneResult<u64> {
        let graph = self.graph.read().expect("follow graph lock");
        Ok(graph.followers.get(author).map_or(0, |f| f.len() as u64))
    }

    async fn followers(
        &self,
        author: &str,
        from: Option<&str>,
        limit: usize,
    ) -> BackplaneResult<FollowerPage> {
        let graph = self.graph.read().expect("follow graph lock");
        let Some(all) = graph.followers.get(author) else {
            return Ok(FollowerPage::default());
        };
        let start = from.map_or(Bound::Unbounded, |f| Bound::Excluded(f.to_owned()));
        let mut range = all.range((start, Bound::Unbounded));
        let users: Vec<UserId> = range.by_ref().take(limit).cloned().collect();
        let next = match range.next() {
            Some(_) => users.last().cloned(),
            None => None,
        };
        Ok(FollowerPage { users, next })
    }

    async fn filter_followers(&self, author: &str, users: &[UserId]) -> BackplaneResult<Vec<bool>> {
        let graph = self.graph.read().expect("follow graph lock");
        let followers = graph.followers.get(author);
        Ok(users
            .iter()
            .map(|u| followers.is_some_and(|f| f.contains(u)))
            .collect())
    }

    async fn followers_revision(&self, author: &str) -> BackplaneResult<u64> {
        let graph = self.graph.read().expect("follow graph lock");
        Ok(graph.revisions.get(author).copied().unwrap_or(0))
    }

    async fn following(&self, user: &str) -> BackplaneResult<Vec<UserId>> {
        let graph = self.graph.read().expect("follow graph lock");
        Ok(graph
            .following
            .get(user)
            .map(|f| f.iter().cloned().collect())
            .unwrap_or_default())
    }
}
