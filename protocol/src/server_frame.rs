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

impl ServerFrame {
    /// The frame's `type` on the wire (an event stream's event name).
    pub fn kind(&self) -> &'static str {
        match self {
            ServerFrame::Welcome { .. } => "welcome",
            ServerFrame::Post { .. } => "post",
            ServerFrame::Notify { .. } => "notify",
            ServerFrame::FeedAdvanced { .. } => "feed_advanced",
            ServerFrame::Resumed { .. } => "resumed",
            ServerFrame::Reconnect { .. } => "reconnect",
            ServerFrame::Error { .. } => "error",
            ServerFrame::Pong => "pong",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Codec, FeedItem};

    #[test]
    fn kind_is_the_type_on_the_wire() {
        let cursor = Cursor::new(1, 2);
        let frames = [
            ServerFrame::Welcome {
                session: "s".into(),
                user: "u".into(),
                node: "n".into(),
                heartbeat_ms: 1,
                cursor,
            },
            FeedItem::Post {
                id: 1,
                author: "a".into(),
                ts: 1,
            }
            .to_frame(cursor),
            FeedItem::Notify {
                id: 1,
                kind: "k".into(),
                data: serde_json::json!({}),
                ts: 1,
            }
            .to_frame(cursor),
            ServerFrame::FeedAdvanced { cursor, count: 1 },
            ServerFrame::Resumed {
                replayed: 0,
                complete: true,
            },
            ServerFrame::Reconnect {
                url: "u".into(),
                after_ms: 0,
                reason: "r".into(),
            },
            ServerFrame::Error {
                code: ErrorCode::BadFrame,
                message: "m".into(),
            },
            ServerFrame::Pong,
        ];
        for item in [
            FeedItem::Post {
                id: 1,
                author: "a".into(),
                ts: 1,
            },
            FeedItem::Notify {
                id: 1,
                kind: "k".into(),
                data: serde_json::json!(null),
                ts: 1,
            },
        ] {
            assert_eq!(item.frame_kind(), item.to_frame(cursor).kind());
        }
        for frame in frames {
            let json: serde_json::Value =
                serde_json::from_slice(&Codec::Json.encode(&frame).expect("encodes"))
                    .expect("parses");
            assert_eq!(json["type"], frame.kind());
            assert!(ServerFrame::TYPES.contains(&frame.kind()));
        }
    }
}
