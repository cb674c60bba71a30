//! A WebSocket as a connection's [`Transport`]: frames as text or binary messages, pings as
//! WebSocket pings, the close reason as a close frame.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use pushgate_protocol::Codec;

use crate::connection::Ending;
use crate::transport::{Outbound, Transport};
use crate::websocket::{CloseFrame, DataKind, Message, SendData, WebSocketError};

/// A WebSocket (or anything that reads and writes its messages, as the connection tests'
/// in-memory socket) speaking one codec.
#[derive(Debug)]
pub struct WebSocketTransport<S> {
    /// The socket.
    socket: S,
    /// The subprotocol chosen at the handshake: JSON frames go as text, MessagePack as binary.
    codec: Codec,
}

impl<S> WebSocketTransport<S> {
    /// Speak `codec` over `socket`.
    pub fn new(socket: S, codec: Codec) -> Self {
        Self { socket, codec }
    }
}

/// A failed write: the peer is gone, nobody to tell.
fn lost(_: WebSocketError) -> Ending {
    Ending::Lost
}

impl<S> Stream for WebSocketTransport<S>
where
    S: Stream<Item = Result<Message, WebSocketError>> + Unpin,
{
    type Item = Result<Message, Ending>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.socket).poll_next(cx).map(|read| {
            read.map(|read| {
                read.map_err(|error| {
                    tracing::debug!(%error, "read failed");
                    error.error_code().map_or(Ending::Lost, Ending::Refused)
                })
            })
        })
    }
}

impl<S> Sink<Outbound> for WebSocketTransport<S>
where
    S: Sink<Message, Error = WebSocketError> + SendData + Unpin,
{
    type Error = Ending;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Ending>> {
        Pin::new(&mut self.socket).poll_ready(cx).map_err(lost)
    }

    fn start_send(mut self: Pin<&mut Self>, outbound: Outbound) -> Result<(), Ending> {
        let message = match outbound {
            Outbound::Frame(frame) => {
                let codec = self.codec;
                // JSON encoding of our frames is always UTF-8, so text goes out unchecked.
                let kind = if codec.is_binary() {
                    DataKind::Binary
                } else {
                    DataKind::Text
                };
                let socket = Pin::new(&mut self.socket);
                return frame
                    .payload
                    .write_with(codec, |parts| socket.start_send_data(kind, parts))?
                    .map_err(lost);
            }
            Outbound::Ping => Message::Ping(Vec::new()),
            Outbound::Close(code) => Message::Close(Some(CloseFrame {
                code: code.close_code(),
                reason: code.as_str().to_owned(),
            })),
        };
        Pin::new(&mut self.socket).start_send(message).map_err(lost)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Ending>> {
        Pin::new(&mut self.socket).poll_flush(cx).map_err(lost)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Ending>> {
        Pin::new(&mut self.socket).poll_close(cx).map_err(lost)
    }
}

impl<S> Transport for WebSocketTransport<S>
where
    S: Stream<Item = Result<Message, WebSocketError>>
        + Sink<Message, Error = WebSocketError>
        + SendData
        + Unpin
        + Send,
{
    const LISTENS: bool = true;

    fn codec(&self) -> Codec {
        self.codec
    }
}
