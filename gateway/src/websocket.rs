//! A lean server-side WebSocket (RFC 6455) that holds no buffer while its socket is idle.
//!
//! Written here rather than taken from tungstenite because every idle socket pays for what its
//! WebSocket keeps: tokio-tungstenite holds a read buffer, a write buffer that keeps the
//! capacity of the largest frame it wrote, and two waker proxies, about 700 bytes per socket
//! with the smallest settings, a third of pushgate's per-socket budget. A gateway only reads
//! small client frames and writes whole server frames, so the protocol it needs is small: this
//! socket keeps bytes only while a frame is partly read or not yet written. The handshake is
//! in [`handshake`]; frame headers are in [`frame`]; the tests at the bottom run it against
//! tungstenite's client over real TCP.

pub mod frame;
pub mod handshake;
pub mod message;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use self::frame::{OpCode, parse_header, unmask, write_frame};
pub use self::message::{CloseFrame, Message};

/// Bytes read from the socket per readiness event; a stack buffer, so it costs idle sockets
/// nothing. Client frames are small, so one read almost always holds whole frames.
const READ_CHUNK: usize = 4096;

/// Why a WebSocket stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebSocketError {
    /// The peer broke RFC 6455 (the connection should close with 1002).
    #[error("websocket protocol violation: {0}")]
    Protocol(&'static str),
    /// A frame or message over the size limit (1009).
    #[error("message larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The socket itself failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

/// A message being reassembled from fragments; boxed because almost no client fragments.
#[derive(Debug)]
struct Fragments {
    opcode: OpCode,
    data: Vec<u8>,
}

/// A server-side WebSocket over `io` (a TCP stream once the HTTP upgrade is done).
#[derive(Debug)]
pub struct WebSocket<IO> {
    io: IO,
    /// Bytes read but not yet consumed as whole frames. Freed as soon as it is empty, so an
    /// idle socket holds no read buffer.
    read: Vec<u8>,
    /// The data message being reassembled, if the client fragments one.
    fragments: Option<Box<Fragments>>,
    /// Encoded frames not yet written; freed once written, for the same reason as `read`.
    write: Vec<u8>,
    /// How much of `write` the socket has taken.
    written: usize,
    /// Largest message accepted from the client, in bytes.
    max_message: usize,
    /// The client sent close, or the stream ended: nothing more is read.
    read_closed: bool,
    /// We sent close: nothing more is written.
    close_sent: bool,
}

impl<IO> WebSocket<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// Speak WebSocket over `io`, whose handshake is done; `already_read` holds bytes the
    /// client sent right behind its upgrade request.
    pub fn new(io: IO, already_read: &[u8], max_message: usize) -> Self {
        Self {
            io,
            read: already_read.to_vec(),
            fragments: None,
            write: Vec::new(),
            written: 0,
            max_message,
            read_closed: false,
            close_sent: false,
        }
    }

    /// Queue the handshake's answer ahead of every frame, so that it and the first frames
    /// reach the socket in one write (one loopback send costs the sender ~5 us of CPU).
    pub fn queue_handshake_response(&mut self, response: Vec<u8>) {
        debug_assert!(self.write.is_empty(), "the answer goes before any frame");
        self.write = response;
    }

    /// Queue one frame for writing (flushed by the next `poll_flush`).
    fn queue(&mut self, opcode: OpCode, payload: &[u8]) {
        write_frame(&mut self.write, opcode, payload);
    }

    /// Take the next whole frame out of `read`, if it holds one.
    fn next_frame(&mut self) -> Result<Option<(OpCode, bool, Vec<u8>)>, WebSocketError> {
        let Some(header) = parse_header(&self.read)? else {
            return Ok(None);
        };
        let limit = self.max_message;
        let payload_len = usize::try_from(header.payload_len)
            .ok()
            .filter(|&len| len <= limit)
            .ok_or(WebSocketError::TooLarge { limit })?;
        let end = header.header_len + payload_len;
        if self.read.len() < end {
            self.read.reserve(end - self.read.len());
            return Ok(None);
        }
        let mut payload = self.read[header.header_len..end].to_vec();
        unmask(&mut payload, header.mask);
        if self.read.len() == end {
            self.read = Vec::new();
        } else {
            self.read.drain(..end);
        }
        Ok(Some((header.opcode, header.fin, payload)))
    }

    /// Turn the frames in `read` into the next message, answering control frames on the way.
    fn next_message(&mut self) -> Result<Option<Message>, WebSocketError> {
        while let Some((opcode, fin, payload)) = self.next_frame()? {
            let data = match opcode {
                OpCode::Ping => {
                    if !self.close_sent {
                        self.queue(OpCode::Pong, &payload);
                    }
                    return Ok(Some(Message::Ping(payload)));
                }
                OpCode::Pong => return Ok(Some(Message::Pong(payload))),
                OpCode::Close => return self.on_close(&payload).map(Some),
                OpCode::Text | OpCode::Binary if self.fragments.is_some() => {
                    return Err(WebSocketError::Protocol(
                        "a new message started inside a fragmented one",
                    ));
                }
                OpCode::Text | OpCode::Binary if fin => (opcode, payload),
                OpCode::Text | OpCode::Binary => {
                    self.fragments = Some(Box::new(Fragments {
                        opcode,
                        data: payload,
                    }));
                    continue;
                }
                OpCode::Continuation => {
                    let Some(mut fragments) = self.fragments.take() else {
                        return Err(WebSocketError::Protocol(
                            "continuation frame without a message to continue",
                        ));
                    };
                    if fragments.data.len() + payload.len() > self.max_message {
                        return Err(WebSocketError::TooLarge {
                            limit: self.max_message,
                        });
                    }
                    fragments.data.extend_from_slice(&payload);
                    if !fin {
                        self.fragments = Some(fragments);
                        continue;
                    }
                    (fragments.opcode, fragments.data)
                }
            };
            return match data {
                (OpCode::Text, bytes) => String::from_utf8(bytes)
                    .map(|text| Some(Message::Text(text)))
                    .map_err(|_| WebSocketError::Protocol("text message is not UTF-8")),
                (_, bytes) => Ok(Some(Message::Binary(bytes))),
            };
        }
        Ok(None)
    }

    /// The client started the closing handshake: answer it (echoing its code) and stop reading.
    fn on_close(&mut self, payload: &[u8]) -> Result<Message, WebSocketError> {
        self.read_closed = true;
        let frame = match payload {
            [] => None,
            [_] => return Err(WebSocketError::Protocol("close payload of one byte")),
            [high, low, reason @ ..] => {
                let reason = std::str::from_utf8(reason)
                    .map_err(|_| WebSocketError::Protocol("close reason is not UTF-8"))?;
                Some(CloseFrame {
                    code: u16::from_be_bytes([*high, *low]),
                    reason: reason.to_owned(),
                })
            }
        };
        if !self.close_sent {
            self.close_sent = true;
            let echo = frame.as_ref().map_or(&[][..], |_| &payload[..2]);
            self.queue(OpCode::Close, echo);
        }
        Ok(Message::Close(frame))
    }

    /// Start writing queued control frames (pongs, the close reply) while reading, even if the
    /// owner is not writing. A write error surfaces on the owner's next write.
    fn nudge_queued(&mut self, cx: &mut Context<'_>) {
        if self.written < self.write.len() {
            let _ = self.poll_write_queued(cx);
        }
    }

    /// Write out everything queued, then free the buffer.
    fn poll_write_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        while self.written < self.write.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.write[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
            }
            self.written += n;
        }
        self.write = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO> Stream for WebSocket<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message, WebSocketError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.nudge_queued(cx);
        loop {
            if this.read_closed {
                return Poll::Ready(None);
            }
            match this.next_message() {
                Ok(Some(message)) => {
                    this.nudge_queued(cx);
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(None) => {}
                Err(error) => {
                    this.read_closed = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            if let Err(error) = ready!(Pin::new(&mut this.io).poll_read(cx, &mut buf)) {
                this.read_closed = true;
                return Poll::Ready(Some(Err(error.into())));
            }
            if buf.filled().is_empty() {
                this.read_closed = true;
                let midway = !this.read.is_empty() || this.fragments.is_some();
                return Poll::Ready(
                    midway.then(|| Err(io::Error::from(io::ErrorKind::UnexpectedEof).into())),
                );
            }
            // Bounded: `next_frame` refuses a header announcing more than `max_message`, so
            // this holds at most one header, one message and one chunk.
            this.read.extend_from_slice(buf.filled());
        }
    }
}

impl<IO> Sink<Message> for WebSocket<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    type Error = WebSocketError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Writes are bounded by the caller's batches; write out a batch that grew large
        // before queueing more, so a stuck client cannot make the buffer grow without end.
        let this = self.get_mut();
        if this.write.len() - this.written >= this.max_message.max(64 * 1024) {
            ready!(this.poll_write_queued(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if this.close_sent {
            return Err(WebSocketError::Protocol("the close frame was already sent"));
        }
        match message {
            Message::Text(text) => this.queue(OpCode::Text, text.as_bytes()),
            Message::Binary(bytes) => this.queue(OpCode::Binary, &bytes),
            Message::Ping(bytes) => this.queue(OpCode::Ping, &bytes),
            Message::Pong(bytes) => this.queue(OpCode::Pong, &bytes),
            Message::Close(frame) => {
                this.close_sent = true;
                let mut payload = Vec::new();
                if let Some(CloseFrame { code, reason }) = frame {
                    payload.extend_from_slice(&code.to_be_bytes());
                    // A control frame holds at most 125 bytes; cut the reason at a char edge.
                    let mut end = reason.len().min(123);
                    while !reason.is_char_boundary(end) {
                        end -= 1;
                    }
                    payload.extend_from_slice(&reason.as_bytes()[..end]);
                }
                this.queue(OpCode::Close, &payload);
            }
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_queued(cx))?;
        Pin::new(&mut this.io).poll_flush(cx).map_err(Into::into)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_queued(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests;
