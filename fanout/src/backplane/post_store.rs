//! Post bodies and the atomic "store post + append fan-out event" step.

use async_trait::async_trait;
use pushgate_protocol::PostId;
use serde::{Deserialize, Serialize};

use super::{BackplaneResult, UserId};

/// Who may read a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone with a valid token.
    Public,
    /// The author and the author's followers.
    Followers,
    /// The author only; never fanned out.
    Private,
}

/// A post as stored and as returned by the REST API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Post {
    /// Assigned by the store in creation order.
    pub id: PostId,
    /// The author's user ID.
    pub author: UserId,
    /// The text body.
    pub content: String,
    /// Optional attachment link, passed through.
    pub media_url: Option<String>,
    /// Who may read it.
    pub visibility: Visibility,
    /// Creation time, microseconds since the Unix epoch.
    pub ts: u64,
}

/// A post to create; the store assigns ID and time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPost {
    pub author: UserId,
    pub content: String,
    pub media_url: Option<String>,
    pub visibility: Visibility,
}

/// What `create` did.
#[derive(Clone, Debug, PartialEq)]
pub enum CreateOutcome {
    /// A new post was stored and its fan-out event appended.
    Created(Post),
    /// The idempotency key was seen before with the same body: the earlier post, nothing appended.
    Replayed(Post),
}

/// Post storage.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Store `post` and append its fan-out event in one atomic step, so a post is never stored
    /// without being fanned out, nor fanned out without being stored.
    ///
    /// With an `idempotency_key` (scoped to the author) seen before: the same body replays the
    /// stored post; another body is a `Conflict`.
    async fn create(
        &self,
        post: NewPost,
        idempotency_key: Option<&str>,
    ) -> BackplaneResult<CreateOutcome>;

    /// The posts that exist among `ids`, in the order asked; missing or deleted ones are left out.
    async fn get_many(&self, ids: &[PostId]) -> BackplaneResult<Vec<Post>>;

    /// Delete a post; returns whether it existed. Feeds keep the ID; fetching it finds nothing.
    async fn delete(&self, id: PostId) -> BackplaneResult<bool>;
}
