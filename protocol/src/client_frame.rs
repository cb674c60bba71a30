//! Frames clients send to the gateway.

use serde::{Deserialize, Serialize};

use crate::{Cursor, Frame};

/// Everything a client can send, tagged by `type` on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Replay everything after `after`, then continue live with no gap and no duplicate.
    Resume { after: Cursor },
    /// Replace the connection's token before it expires; must name the same user.
    Refresh { token: String },
    /// Application-level liveness check; answered with `pong`.
    Ping,
}

impl Frame for ClientFrame {
    const TYPES: &'static [&'static str] = &["resume", "refresh", "ping"];
}
