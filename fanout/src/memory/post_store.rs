//! In-memory posts, with idempotency keys and the atomic append of fan-out events.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pushgate_protocol::PostId;

use super::MemoryEventLog;
use crate::backplane::{
    BackplaneError, BackplaneResult, CreateOutcome, FanoutEvent, NewPost, Post, PostEvent,
    PostStore,
};
use crate::clock::now_micros;

/// Idempotency keys remembered; the oldest are forgotten first, so memory stays bounded.
pub(super) const IDEMPOTENCY_CAP: usize = 100_000;

#[derive(Debug, Default)]
struct State {
    next_id: PostId,
    posts: HashMap<PostId, Post>,
    /// (author, key) -> (post, the body it was created with).
    idempotency: HashMap<(String, String), (PostId, NewPost)>,
    idempotency_order: VecDeque<(String, String)>,
}

/// The embedded post store.
#[derive(Debug)]
pub struct MemoryPostStore {
    state: Mutex<State>,
    /// Appended to under `state`'s lock, which makes "store + append" atomic.
    events: Arc<MemoryEventLog>,
}

impl MemoryPostStore {
    pub(crate) fn new(events: Arc<MemoryEventLog>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            events,
        }
    }
}

#[async_trait]
impl PostStore for MemoryPostStore {
    async fn create(
        &self,
        new: NewPost,
        idempotency_key: Option<&str>,
    ) -> BackplaneResult<CreateOutcome> {
        let mut state = self.state.lock().expect("post store lock");
        let scoped_key = idempotency_key.map(|k| (new.author.clone(), k.to_owned()));
        if let Some(key) = &scoped_key {
            if let Some((id, body)) = state.idempotency.get(key) {
                if *body != new {
                    return Err(BackplaneError::Conflict(
                        "idempotency key reused with another body".into(),
                    ));
                }
                let post = state.posts.get(id).cloned();
                return post.map(CreateOutcome::Replayed).ok_or_else(|| {
                    BackplaneError::Conflict("idempotency key names a deleted post".into())
                });
            }
        }
        let post = Post {
            id: state.next_id + 1,
            author: new.author.clone(),
            content: new.content.clone(),
            media_url: new.media_url.clone(),
            visibility: new.visibility,
            ts: now_micros(),
        };
        if let Some(audience) = post.visibility.audience() {
            self.events.push(FanoutEvent::Post(PostEvent {
                id: post.id,
                author: post.author.clone(),
                ts: post.ts,
                audience,
            }))?;
        }
        state.next_id = post.id;
        state.posts.insert(post.id, post.clone());
        if let Some(key) = scoped_key {
            if state.idempotency_order.len() == IDEMPOTENCY_CAP {
                if let Some(oldest) = state.idempotency_order.pop_front() {
                    state.idempotency.remove(&oldest);
                }
            }
            state.idempotency_order.push_back(key.clone());
            state.idempotency.insert(key, (post.id, new));
        }
        Ok(CreateOutcome::Created(post))
    }

    async fn get_many(&self, ids: &[PostId]) -> BackplaneResult<Vec<Post>> {
        let state = self.state.lock().expect("post store lock");
        Ok(ids
            .iter()
            .filter_map(|id| state.posts.get(id).cloned())
            .collect())
    }

    async fn delete(&self, id: PostId) -> BackplaneResult<bool> {
        Ok(self
            .state
            .lock()
            .expect("post store lock")
            .posts
            .remove(&id)
            .is_some())
    }
}
