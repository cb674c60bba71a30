//! Frames the gateway sends to clients.

use serde::{Deserialize, Serialize};

use crate::{Cursor, ErrorCode, Frame, PostId};

/// Everything a client can receive, tagged by `type` on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame of every connection.
    Welcome {
        /// Unique ID of this connection, for support and logs.
        session: String,
        /// The authenticated user ID (the token's `sub`).
        user: String,
        /// The node this socket is on.
        node: String,
        /// How often the server pings; a client that hears nothing for 2x this should reconnect.
        heartbeat_ms: u64,
        /// The user's feed head now: a fresh client may store it and resume from it later.
        cursor: Cursor,
    },
    /// A new post in the user's feed.
    Post {
        id: PostId,
        author: String,
        /// Creation time, microseconds since the Unix epoch.
        ts: u64,
        cursor: Cursor,
    },
    /// A personal notification.
    Notify {
        id: u64,
        kind: String,
        data: serde_json::Value,
        cursor: Cursor,
    },
    /// The client fell behind: `count` pushes were folded into this; page `GET /v1/feed?since=`.
    FeedAdvanced { cursor: Cursor, count: u64 },
    /// End of a `resume` replay; `complete: false` means the feed no longer holds the gap.
    Resumed { replayed: u64, complete: bool },
    /// Reconnect to `url` after `after_ms` milliseconds and resume (node draining or moving).
    Reconnect {
        url: String,
        after_ms: u64,
        reason: String,
    },
    /// Something the client sent was wrong; see PROTOCOL.md for each code.
    Error { code: ErrorCode, message: String },
    /// Answer to a client `ping`.
    Pong,
}

impl Frame for ServerFrame {
    const TYPES: &'static [&'static str] = &[
        "welcome",
        "post",
        "notify",
        "feed_advanced",
        "resumed",
        "reconnect",
        "error",
        "pong",
    ];
}
