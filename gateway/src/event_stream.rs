//! A Server-Sent Events response body as a connection's [`Transport`]: each frame is one
//! event, heartbeats are comments, and the only thing read is the end of the stream.
//!
//! Written here rather than with axum's `Sse` for the same reason as the WebSocket: an idle
//! stream should hold no buffer. This one keeps bytes only while an event is not yet written,
//! and reads nothing but the end of the client's side.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Sink, Stream};
use pushgate_protocol::{Codec, ErrorCode, ServerFrame};
use tokio::io::{AsyncRead, ReadBuf};

use crate::connection::Ending;
use crate::transport::{EncodedFrame, Outbound, Payload, Position, Transport};
use crate::websocket::Message;
use crate::wire::{self, Wire};

/// Unsent output past which writers wait for the socket (as the WebSocket's limit).
const MAX_UNSENT: usize = 64 * 1024;
/// What one read takes off the socket: a client sends nothing on an event stream, and what
/// it sends anyway (a pipelined request) is dropped.
const DISCARD_CHUNK: usize = 256;

/// An event stream over `io`, after the response head (which may be queued in front).
#[derive(Debug)]
pub struct EventStream<IO> {
    /// The socket (or, behind hyper, the pipe into the response body).
    io: IO,
    /// Encoded events not yet written; freed once written, so an idle stream holds none.
    write: Vec<u8>,
    /// How much of `write` the socket has taken.
    written: usize,
    /// A `feed_advanced` went out: the entries it folded were not delivered on this stream,
    /// so no later event carries an `id`. The client's `Last-Event-ID` stays before them,
    /// and a reconnect replays them instead of skipping them.
    ids_withheld: bool,
    /// The last event is queued: once written, the stream ends.
    closing: bool,
    /// Nothing was written yet, so the first write goes straight to the kernel (`wire`).
    fresh: bool,
}

impl<IO> EventStream<IO> {
    /// An event stream over `io`; `head` goes out before the first event (the response head
    /// when the server writes it itself, or nothing).
    pub fn new(io: IO, head: Vec<u8>) -> Self {
        Self {
            io,
            write: head,
            written: 0,
            ids_withheld: false,
            closing: false,
            fresh: true,
        }
    }

    /// Bytes queued that the socket has not taken yet.
    fn unsent(&self) -> usize {
        self.write.len() - self.written
    }

    /// Queue one frame as an event: `id` (the frame's cursor, while nothing was skipped),
    /// `event` (its type), `data` (the JSON frame, always one line: JSON escapes newlines).
    fn queue_event(&mut self, frame: &EncodedFrame) -> Result<(), Ending> {
        let id = match frame.position {
            Position::Delivered(cursor) if !self.ids_withheld => Some(cursor),
            Position::Skipped => {
                self.ids_withheld = true;
                None
            }
            Position::Delivered(_) | Position::Kept => None,
        };
        let write = &mut self.write;
        // The whole event or nothing: the payload is reached before the first byte goes in.
        frame.payload.write_with(Codec::Json, |data| {
            if let Some(cursor) = id {
                let _ = writeln!(write, "id: {cursor}");
            }
            write.extend_from_slice(b"event: ");
            write.extend_from_slice(frame.kind.as_bytes());
            write.extend_from_slice(b"\ndata: ");
            for part in data {
                write.extend_from_slice(part);
            }
            write.extend_from_slice(b"\n\n");
        })
    }
}

impl<IO: Wire> EventStream<IO> {
    /// Write out everything queued, then free the buffer.
    fn poll_write_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        wire::poll_write_queued(
            &mut self.io,
            cx,
            &mut self.write,
            &mut self.written,
            &mut self.fresh,
        )
    }
}

/// The `error` event that tells the client why the server ends the stream.
fn closing_frame(code: ErrorCode) -> ServerFrame {
    let message = match code {
        ErrorCode::TokenExpired => "the token expired; reconnect with a new one and resume",
        ErrorCode::SlowConsumer => "the stream fell too far behind; reconnect and resume",
        ErrorCode::Unavailable => "the server cannot serve this stream now; retry with backoff",
        ErrorCode::Unauthorized => "this user was disconnected",
        _ => "the server ended this stream",
    };
    ServerFrame::Error {
        code,
        message: message.to_owned(),
    }
}

impl<IO> Stream for EventStream<IO>
where
    IO: AsyncRead + Unpin,
{
    type Item = Result<Message, Ending>;

    /// Yields only how the stream ended: the client left (its side closed), or the socket
    /// failed.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let mut chunk = [0u8; DISCARD_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
                Err(error) => {
                    tracing::debug!(%error, "read failed");
                    return Poll::Ready(Some(Err(Ending::Lost)));
                }
                // An EventSource closes its stream by closing the connection.
                Ok(()) if buf.filled().is_empty() => {
                    return Poll::Ready(Some(Err(Ending::Closed)));
                }
                Ok(()) => {}
            }
        }
    }
}

impl<IO: Wire> Sink<Outbound> for EventStream<IO> {
    type Error = Ending;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Ending>> {
        let this = self.get_mut();
        if this.unsent() >= MAX_UNSENT {
            ready!(this.poll_write_queued(cx)).map_err(|_| Ending::Lost)?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, outbound: Outbound) -> Result<(), Ending> {
        let this = self.get_mut();
        if this.closing {
            return Err(Ending::Lost);
        }
        match outbound {
            Outbound::Frame(frame) => this.queue_event(&frame)?,
            Outbound::Ping => this.write.extend_from_slice(b": ping\n\n"),
            Outbound::Close(code) => {
                this.closing = true;
                // A drain has said where to go in its `reconnect` event already.
                if code != ErrorCode::Draining {
                    let frame = closing_frame(code);
                    let bytes = Codec::Json
                        .encode_frame(&frame)
                        .map_err(|_| Ending::Refused(ErrorCode::Internal))?;
                    this.queue_event(&EncodedFrame {
                        payload: Payload::Owned(bytes),
                        kind: frame.kind(),
                        position: Position::Kept,
                    })?;
                }
            }
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Ending>> {
        let this = self.get_mut();
        ready!(this.poll_write_queued(cx)).map_err(|_| Ending::Lost)?;
        // The last event is out: end the stream, so the client's EventSource reconnects.
        let done = if this.closing {
            Pin::new(&mut this.io).poll_shutdown(cx)
        } else {
            Pin::new(&mut this.io).poll_flush(cx)
        };
        ready!(done).map_err(|_| Ending::Lost)?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Ending>> {
        let this = self.get_mut();
        ready!(this.poll_write_queued(cx)).map_err(|_| Ending::Lost)?;
        Pin::new(&mut this.io)
            .poll_shutdown(cx)
            .map_err(|_| Ending::Lost)
    }
}

impl<IO> Transport for EventStream<IO>
where
    IO: Wire + Send,
{
    const LISTENS: bool = false;

    /// Events carry JSON: `EventSource` hands text to the page.
    fn codec(&self) -> Codec {
        Codec::Json
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use pushgate_protocol::Cursor;
    use tokio::io::AsyncReadExt;

    use super::*;

    fn frame(kind: &'static str, position: Position) -> Outbound {
        Outbound::Frame(EncodedFrame {
            payload: Payload::Owned(format!(r#"{{"type":"{kind}"}}"#).into_bytes()),
            kind,
            position,
        })
    }

    /// Everything `outbound` writes on a stream (after `head`), up to its end if it ends.
    async fn written(head: &[u8], outbound: Vec<Outbound>) -> String {
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let mut stream = EventStream::new(ours, head.to_vec());
        for item in outbound {
            stream.feed(item).await.expect("queued");
        }
        stream.flush().await.expect("written");
        drop(stream);
        let mut text = String::new();
        theirs.read_to_string(&mut text).await.expect("reads");
        text
    }

    #[tokio::test]
    async fn frames_are_events_and_only_deliveries_carry_an_id() {
        let text = written(
            b"HEAD\r\n\r\n",
            vec![
                frame("welcome", Position::Kept),
                frame("post", Position::Delivered(Cursor::new(4, 1))),
                Outbound::Ping,
                frame("notify", Position::Delivered(Cursor::new(5, 1))),
            ],
        )
        .await;
        assert_eq!(
            text,
            "HEAD\r\n\r\n\
             event: welcome\ndata: {\"type\":\"welcome\"}\n\n\
             id: 4:1\nevent: post\ndata: {\"type\":\"post\"}\n\n\
             : ping\n\n\
             id: 5:1\nevent: notify\ndata: {\"type\":\"notify\"}\n\n"
        );
    }

    #[tokio::test]
    async fn after_a_fold_no_id_moves_past_what_was_not_delivered() {
        let text = written(
            b"",
            vec![
                frame("post", Position::Delivered(Cursor::new(1, 0))),
                frame("feed_advanced", Position::Skipped),
                frame("post", Position::Delivered(Cursor::new(9, 0))),
            ],
        )
        .await;
        assert_eq!(
            text,
            "id: 1:0\nevent: post\ndata: {\"type\":\"post\"}\n\n\
             event: feed_advanced\ndata: {\"type\":\"feed_advanced\"}\n\n\
             event: post\ndata: {\"type\":\"post\"}\n\n"
        );
    }

    #[tokio::test]
    async fn a_server_close_is_an_error_event_then_the_end() {
        let text = written(b"", vec![Outbound::Close(ErrorCode::TokenExpired)]).await;
        let data = text
            .strip_prefix("event: error\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("not one error event: {text:?}"));
        let frame: ServerFrame = Codec::Json.decode(data.as_bytes()).expect("a frame");
        assert!(matches!(
            frame,
            ServerFrame::Error {
                code: ErrorCode::TokenExpired,
                ..
            }
        ));
        // A drain's reconnect event said it all.
        assert_eq!(
            written(b"", vec![Outbound::Close(ErrorCode::Draining)]).await,
            ""
        );
    }

    #[tokio::test]
    async fn nothing_is_written_after_the_close_and_the_end_is_read_as_a_clean_close() {
        let (ours, theirs) = tokio::io::duplex(1024);
        let mut stream = EventStream::new(ours, Vec::new());
        stream
            .send(Outbound::Close(ErrorCode::Draining))
            .await
            .expect("closes");
        assert_eq!(stream.send(Outbound::Ping).await, Err(Ending::Lost));
        // The client side going away is how an event stream's client closes it.
        drop(theirs);
        assert_eq!(stream.next().await, Some(Err(Ending::Closed)));
    }
}
