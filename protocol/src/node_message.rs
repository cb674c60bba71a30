//! Backplane messages between fan-out workers and gateway nodes (never seen by clients).

use serde::{Deserialize, Serialize};

use crate::{FeedItem, PostId, TraceParent};

/// One recipient of a delivery and the position the item took in that user's feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// The user to push to.
    pub user: String,
    /// The entry's per-user feed sequence number, which becomes the push's cursor.
    pub seq: u64,
}

/// What arrives in a gateway node's inbox.
///
/// Batch-shaped on purpose: a worker sends one message per node per event, naming every
/// recipient homed there, so the cost per delivery on the backplane is a few bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeMessage {
    /// Push `item` to each recipient's local connections.
    Deliver {
        item: FeedItem,
        recipients: Vec<Recipient>,
        /// The sending worker's span, when the post is traced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<TraceParent>,
    },
    /// The same as `Deliver`, forwarded by a recipient's home node to the node holding the
    /// socket: delivered locally and never forwarded again (at most one hop).
    Relay {
        item: FeedItem,
        recipients: Vec<Recipient>,
        /// The home node's dispatch span, when the post is traced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<TraceParent>,
    },
    /// These users hold sockets at `node`, which is not their home: relay their deliveries.
    Attach { node: String, users: Vec<String> },
    /// These users no longer hold sockets at `node`.
    Detach { node: String, users: Vec<String> },
    /// Close every local connection of `user` (4001). With `revoked_before`, the user's
    /// tokens issued at or before that second are refused from now on, here too, before the
    /// node's next look at the revocation list.
    Disconnect {
        user: String,
        revoked_before: Option<u64>,
    },
    /// A celebrity post: push it to every local connection whose user follows `author`.
    Broadcast {
        id: PostId,
        author: String,
        ts: u64,
        /// Position in the global broadcast log.
        seq: u64,
        /// The sending worker's span, when the post is traced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<TraceParent>,
    },
}
