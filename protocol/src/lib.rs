//! # pushgate-protocol
//!
//! The versioned wire contract of pushgate, with no I/O: what clients and servers say to each
//! other, and what workers say to gateway nodes over the backplane.
//!
//! Data flow: a gateway decodes [`ClientFrame`]s from socket bytes with the connection's
//! [`Codec`] (chosen by WebSocket subprotocol) and encodes [`ServerFrame`]s back. Fan-out
//! workers send [`NodeMessage`]s naming [`FeedItem`]s and their per-user positions; each push
//! carries a [`Cursor`] the client echoes in `resume`. Every failure a client can see is an
//! [`ErrorCode`], which also fixes its close code and HTTP status. PROTOCOL.md documents it all.
//!
//! Layout:
//! - `codec`: JSON / MessagePack encode and typed decode errors.
//! - `client_frame`, `server_frame`: the frame enums.
//! - `cursor`: the two-part resume position.
//! - `feed_item`: post and notification references held in feeds; `audience`: who a post
//!   in them is for.
//! - `node_message`: backplane messages to a gateway node's inbox.
//! - `shared_item`: a feed item whose push frame is encoded once for all its recipients.
//! - `trace_parent`: the trace context a post carries across processes.
//! - `error_code`: the one error list, with close codes and HTTP statuses.
//! - `user_id`: the one rule for user IDs.

mod audience;
mod client_frame;
mod codec;
mod cursor;
mod error_code;
mod feed_item;
mod node_message;
mod server_frame;
mod shared_item;
mod trace_parent;
mod user_id;

pub use audience::Audience;
pub use client_frame::ClientFrame;
pub use codec::{Codec, DecodeError, EncodeError, Frame};
pub use cursor::{Cursor, CursorParseError};
pub use error_code::ErrorCode;
pub use feed_item::{FeedEntry, FeedItem, PostId};
pub use node_message::{NodeMessage, Recipient};
pub use server_frame::ServerFrame;
pub use shared_item::{PushFrame, SharedItem, WriteObserver};
pub use trace_parent::TraceParent;
pub use user_id::{MAX_USER_ID_BYTES, UserIdError, check_user_id};
