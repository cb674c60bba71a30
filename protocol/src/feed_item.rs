//! What a feed holds: a post reference or a personal notification.

use serde::{Deserialize, Serialize};

use crate::{Cursor, ServerFrame};

/// Post IDs are assigned by the post store in creation order.
pub type PostId = u64;

/// One thing a user's feed can hold, without its position (the position is per user).
///
/// Only IDs travel on the push path: clients fetch post bodies over REST, so a push stays a
/// few dozen bytes however large the post is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedItem {
    /// A new post by someone the user follows.
    Post {
        /// The post's ID, to fetch with `GET /v1/posts?ids=`.
        id: PostId,
        /// The author's user ID, so clients can render before fetching.
        author: String,
        /// Creation time in microseconds since the Unix epoch; latency is measured from it.
        ts: u64,
    },
    /// A personal notification sent by a backend service.
    Notify {
        /// The notification's ID, unique per gateway cluster.
        id: u64,
        /// Free-form category chosen by the sender (e.g. "mention").
        kind: String,
        /// Sender-defined payload, passed through untouched.
        data: serde_json::Value,
        /// Creation time in microseconds since the Unix epoch.
        ts: u64,
    },
}

impl FeedItem {
    /// The post's or notification's ID.
    pub fn id(&self) -> u64 {
        match self {
            FeedItem::Post { id, .. } | FeedItem::Notify { id, .. } => *id,
        }
    }

    /// The push frame announcing this item at `cursor`.
    pub fn to_frame(&self, cursor: Cursor) -> ServerFrame {
        match self {
            FeedItem::Post { id, author, ts } => ServerFrame::Post {
                id: *id,
                author: author.clone(),
                ts: *ts,
                cursor,
            },
            FeedItem::Notify {
                id,
                kind,
                data,
                ts: _,
            } => ServerFrame::Notify {
                id: *id,
                kind: kind.clone(),
                data: data.clone(),
                cursor,
            },
        }
    }

    /// The `type` of its push frame, [`ServerFrame::kind`] of [`FeedItem::to_frame`].
    pub fn frame_kind(&self) -> &'static str {
        match self {
            FeedItem::Post { .. } => "post",
            FeedItem::Notify { .. } => "notify",
        }
    }

    /// Creation time in microseconds since the Unix epoch.
    pub fn ts(&self) -> u64 {
        match self {
            FeedItem::Post { ts, .. } | FeedItem::Notify { ts, .. } => *ts,
        }
    }
}

/// A feed item at its position in one user's feed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Dense per-user sequence number (1, 2, 3, ...) assigned when the entry was written.
    pub seq: u64,
    /// What was written.
    pub item: FeedItem,
}
