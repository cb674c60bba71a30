//! The wire a connection speaks (a WebSocket or a Server-Sent Events stream): what the
//! connection loop hands it to write, and what it reads back.

use futures_util::{Sink, Stream};
use std::sync::Arc;

use pushgate_protocol::{Codec, Cursor, ErrorCode, SharedItem};

use crate::connection::Ending;
use crate::websocket::Message;

/// One client transport under the one connection loop.
///
/// The loop reads client messages from the `Stream` (a transport that carries none only
/// reports how it ended) and writes [`Outbound`]s to the `Sink`; both already say how a
/// failure ends the connection, since only the transport knows whether its peer is gone.
pub trait Transport:
    Stream<Item = Result<Message, Ending>> + Sink<Outbound, Error = Ending> + Unpin + Send
{
    /// Whether the client sends frames (`resume`, `refresh`, `ping`) and pongs: then live
    /// pushes wait for a `resume` through the resume window, and the client's silence beyond
    /// the idle timeout means it is gone. A transport that only writes has neither.
    const LISTENS: bool;

    /// The codec frames are encoded in, and client frames decoded from.
    fn codec(&self) -> Codec;
}

/// Something for the transport to write.
#[derive(Debug)]
pub enum Outbound {
    /// One server frame.
    Frame(EncodedFrame),
    /// A heartbeat the client's side answers or ignores.
    Ping,
    /// The last write: the server ends the connection for this reason.
    Close(ErrorCode),
}

/// A server frame in the connection's codec.
#[derive(Debug)]
pub struct EncodedFrame {
    /// The frame's bytes, or where to find them.
    pub payload: Payload,
    /// Its `type`, which an event stream names its event after.
    pub kind: &'static str,
    /// What it does to the client's position, which an event stream's `id` follows.
    pub position: Position,
}

/// A frame's bytes.
#[derive(Debug)]
pub enum Payload {
    /// Encoded for this connection alone (control, replayed and gap-filled frames).
    Owned(Vec<u8>),
    /// A live push at this connection's cursor: the transport copies the item's shared
    /// encoding around the cursor straight into its write buffer, with no buffer of its own
    /// per socket (a tenth of the push path's cost when each socket got a `Vec`).
    Shared(Arc<SharedItem>, Cursor),
}

impl Payload {
    /// Hand the frame's bytes in `codec`, in order, to `write`.
    pub fn write_with<R>(
        &self,
        codec: Codec,
        write: impl FnOnce(&[&[u8]]) -> R,
    ) -> Result<R, Ending> {
        match self {
            Payload::Owned(bytes) => Ok(write(&[bytes])),
            Payload::Shared(item, cursor) => match item.frame(codec, *cursor) {
                Ok(frame) => Ok(write(&frame.slices())),
                Err(error) => {
                    tracing::error!(%error, "push encode failed");
                    Err(Ending::Refused(ErrorCode::Internal))
                }
            },
        }
    }
}

/// What a frame does to the position a client resumes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Nothing (welcome, resumed, reconnect, error, pong).
    Kept,
    /// The frame delivers the feed entry at this cursor, in order after the ones before it
    /// (post, notify).
    Delivered(Cursor),
    /// The position moves past entries this connection did not deliver: the client pages
    /// them (feed_advanced).
    Skipped,
}
