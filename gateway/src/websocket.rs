//! A lean server-side WebSocket (RFC 6455) that holds no buffer while its socket is idle.
//!
//! Written here rather than taken from tungstenite because every idle socket pays for what its
//! WebSocket keeps: tokio-tungstenite holds a read buffer, a write buffer that keeps the
//! capacity of the largest frame it wrote, and two waker proxies, about 700 bytes per socket
//! with the smallest settings, a third of pushgate's per-socket budget. A gateway only reads
//! small client frames and writes whole server frames, so the protocol it needs is small: this
//! socket keeps bytes only while a frame is partly read or not yet written. The handshake is
//! in [`handshake`]; frame headers are in [`frame`]; text is checked as it arrives by
//! [`utf8`]; the tests at the bottom run it against tungstenite's client over real TCP.
//! Autobahn|Testsuite results are in docs/websocket-conformance.md.

pub mod frame;
pub mod handshake;
pub mod message;
pub mod utf8;

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Sink, Stream};
use pushgate_protocol::ErrorCode;
use tokio::io::ReadBuf;

use self::frame::{
    Header, MAX_CONTROL_PAYLOAD, OpCode, parse_header, unmask_at, write_frame, write_frame_parts,
};
pub use self::message::{CloseFrame, DataKind, Message, SendData, close_code_is_valid};
use self::utf8::Utf8Validator;
use crate::wire::{self, Wire};

/// Bytes read from the socket per readiness event; a stack buffer, so it costs idle sockets
/// nothing. Client frames are small, so one read almost always holds whole frames.
const READ_CHUNK: usize = 4096;

/// Unsent output past which the socket stops reading (and writers wait). Reading is what
/// makes a client's pings and closes queue output, so a client that sends without reading
/// meets TCP backpressure instead of growing this buffer.
const MAX_UNSENT: usize = 64 * 1024;

/// Why a WebSocket stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebSocketError {
    /// The peer broke RFC 6455 (the connection should close with 1002).
    #[error("websocket protocol violation: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8 (1007), noticed at the first byte
    /// that makes it invalid.
    #[error("text that is not UTF-8")]
    InvalidUtf8,
    /// A frame or message over the size limit (1009).
    #[error("message larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The socket itself failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
}

impl WebSocketError {
    /// The error to close the connection with, or `None` when the socket is gone and there is
    /// no one to send a close frame to.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            WebSocketError::Protocol(_) => Some(ErrorCode::ProtocolError),
            WebSocketError::InvalidUtf8 => Some(ErrorCode::InvalidUtf8),
            WebSocketError::TooLarge { .. } => Some(ErrorCode::TooLarge),
            WebSocketError::Io(_) => None,
        }
    }
}

/// A data message partly received: boxed, because almost no client fragments a message or
/// sends a text frame larger than one read.
#[derive(Debug)]
struct Partial {
    /// Text or binary: what the message is once whole.
    opcode: OpCode,
    /// Whether its first frame came without FIN, so continuation frames come next (rather
    /// than this being one text frame checked as it arrives).
    fragmented: bool,
    /// Payload of the message's frames that arrived whole.
    data: Vec<u8>,
    /// Text: the UTF-8 check up to the last byte that arrived.
    utf8: Utf8Validator,
    /// Payload bytes of the text frame at the head of `read` already unmasked and checked,
    /// so each byte is checked once however many reads the frame takes.
    head_checked: usize,
}

impl Partial {
    fn new(opcode: OpCode) -> Box<Self> {
        Box::new(Self {
            opcode,
            fragmented: false,
            data: Vec::new(),
            utf8: Utf8Validator::default(),
            head_checked: 0,
        })
    }
}

/// The answer to the newest ping, held while older output is still unwritten: RFC 6455 5.5.3
/// allows answering only the latest ping, so a client that pings without reading replaces
/// this rather than growing the write buffer.
#[derive(Debug)]
struct PendingPong {
    /// How many bytes of `payload` the ping carried.
    len: u8,
    /// The ping's payload, echoed; a fixed array so replacing it never allocates.
    payload: [u8; MAX_CONTROL_PAYLOAD as usize],
}

impl PendingPong {
    fn new(payload: &[u8]) -> Box<Self> {
        let mut pong = Box::new(Self {
            len: 0,
            payload: [0; MAX_CONTROL_PAYLOAD as usize],
        });
        pong.set(payload);
        pong
    }

    /// Answer this ping instead (`parse_header` keeps pings within 125 bytes).
    fn set(&mut self, payload: &[u8]) {
        let len = payload.len().min(self.payload.len());
        self.payload[..len].copy_from_slice(&payload[..len]);
        self.len = len as u8;
    }

    fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

/// A server-side WebSocket over `io` (a TCP stream once the HTTP upgrade is done).
#[derive(Debug)]
pub struct WebSocket<IO> {
    io: IO,
    /// Bytes read but not yet consumed as whole frames. Freed as soon as it is empty, so an
    /// idle socket holds no read buffer.
    read: Vec<u8>,
    /// The data message being received, while it is fragmented or its text is checked as
    /// it arrives.
    partial: Option<Box<Partial>>,
    /// Encoded frames not yet written; freed once written, for the same reason as `read`.
    write: Vec<u8>,
    /// How much of `write` the socket has taken.
    written: usize,
    /// The newest ping's answer, waiting for `write` to empty; boxed so an idle socket pays
    /// a pointer for it.
    pong: Option<Box<PendingPong>>,
    /// Largest message accepted from the client, in bytes; a `u32` (4 GiB is far past any
    /// sane limit) so it shares a word with the flags below: every idle socket holds this.
    max_message: u32,
    /// The client sent close, or the stream ended: nothing more is read.
    read_closed: bool,
    /// We sent close: nothing more is written.
    close_sent: bool,
    /// Nothing was written yet, so the first write goes straight to the kernel (`wire`).
    fresh: bool,
}

impl<IO> WebSocket<IO>
where
    IO: Wire,
{
    /// Speak WebSocket over `io`, whose handshake is done; `already_read` holds bytes the
    /// client sent right behind its upgrade request.
    pub fn new(io: IO, already_read: &[u8], max_message: usize) -> Self {
        Self {
            io,
            read: already_read.to_vec(),
            partial: None,
            write: Vec::new(),
            written: 0,
            pong: None,
            max_message: u32::try_from(max_message).unwrap_or(u32::MAX),
            read_closed: false,
            close_sent: false,
            fresh: true,
        }
    }

    fn max_message(&self) -> usize {
        self.max_message as usize
    }

    /// Bytes queued that the socket has not taken yet.
    fn unsent(&self) -> usize {
        self.write.len() - self.written
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

    /// Answer a ping: queued at once when nothing else waits to be written, else kept as the
    /// one pending answer (replacing an older one) until the buffer empties.
    fn queue_pong(&mut self, payload: &[u8]) {
        if self.unsent() == 0 {
            self.queue(OpCode::Pong, payload);
        } else if let Some(pong) = &mut self.pong {
            pong.set(payload);
        } else {
            self.pong = Some(PendingPong::new(payload));
        }
    }

    /// Queue our close frame, behind the answer to the latest ping if one still waits.
    fn queue_close(&mut self, payload: &[u8]) {
        if let Some(pong) = self.pong.take() {
            self.queue(OpCode::Pong, pong.payload());
        }
        self.close_sent = true;
        self.queue(OpCode::Close, payload);
    }

    /// Take the next whole frame out of `read`, if it holds one. Framing errors and the UTF-8
    /// of text are caught as soon as the bytes that show them arrive.
    fn next_frame(&mut self) -> Result<Option<(OpCode, bool, Vec<u8>)>, WebSocketError> {
        let Some(header) = parse_header(&self.read)? else {
            return Ok(None);
        };
        let fragmented = self.partial.as_ref().filter(|partial| partial.fragmented);
        let (so_far, text) = match (header.opcode, fragmented) {
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(WebSocketError::Protocol(
                    "a new message started inside a fragmented one",
                ));
            }
            (OpCode::Continuation, None) => {
                return Err(WebSocketError::Protocol(
                    "continuation frame without a message to continue",
                ));
            }
            (OpCode::Continuation, Some(partial)) => {
                (partial.data.len(), partial.opcode == OpCode::Text)
            }
            (opcode, _) => (0, opcode == OpCode::Text),
        };
        let limit = self.max_message();
        let payload_len = usize::try_from(header.payload_len)
            .ok()
            .filter(|&len| len <= limit - so_far)
            .ok_or(WebSocketError::TooLarge { limit })?;
        let end = header.header_len + payload_len;
        if self.read.len() < end {
            if text {
                self.check_arrived_text(&header)?;
            }
            self.read.reserve(end - self.read.len());
            return Ok(None);
        }
        let checked = match &mut self.partial {
            Some(partial) if !header.opcode.is_control() => {
                std::mem::take(&mut partial.head_checked)
            }
            _ => 0,
        };
        let mut payload = self.read[header.header_len..end].to_vec();
        unmask_at(&mut payload[checked..], header.mask, checked);
        // Text that is not one whole frame is checked here; a whole one-frame message is
        // checked once, as it becomes a `String`.
        if text && (self.partial.is_some() || !header.fin) {
            let partial = self
                .partial
                .get_or_insert_with(|| Partial::new(OpCode::Text));
            partial.utf8.feed(&payload[checked..])?;
        }
        if self.read.len() == end {
            self.read = Vec::new();
        } else {
            self.read.drain(..end);
        }
        Ok(Some((header.opcode, header.fin, payload)))
    }

    /// Unmask and check the part of the text frame at the head of `read` that has arrived,
    /// so invalid UTF-8 fails the connection before the rest of the frame comes.
    fn check_arrived_text(&mut self, header: &Header) -> Result<(), WebSocketError> {
        let arrived_from = header.header_len
            + self
                .partial
                .as_ref()
                .map_or(0, |partial| partial.head_checked);
        if arrived_from >= self.read.len() {
            return Ok(());
        }
        let partial = self
            .partial
            .get_or_insert_with(|| Partial::new(OpCode::Text));
        let arrived = &mut self.read[arrived_from..];
        unmask_at(arrived, header.mask, partial.head_checked);
        partial.utf8.feed(arrived)?;
        partial.head_checked += arrived.len();
        Ok(())
    }

    /// Turn the frames in `read` into the next message, answering control frames on the way.
    fn next_message(&mut self) -> Result<Option<Message>, WebSocketError> {
        while let Some((opcode, fin, payload)) = self.next_frame()? {
            match opcode {
                OpCode::Ping => {
                    if !self.close_sent {
                        self.queue_pong(&payload);
                    }
                    return Ok(Some(Message::Ping(payload)));
                }
                OpCode::Pong => return Ok(Some(Message::Pong(payload))),
                OpCode::Close => return self.on_close(&payload).map(Some),
                OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                    // `next_frame` has started a partial for any text that is not one whole
                    // frame; binary gets its own at its first fragment.
                    let mut partial = match self.partial.take() {
                        Some(partial) => partial,
                        None if fin => {
                            return Self::whole(opcode, payload).map(Some);
                        }
                        None => Partial::new(opcode),
                    };
                    if partial.data.is_empty() {
                        partial.data = payload;
                    } else {
                        partial.data.extend_from_slice(&payload);
                    }
                    if !fin {
                        partial.fragmented = true;
                        self.partial = Some(partial);
                        continue;
                    }
                    partial.utf8.finish()?;
                    return Self::whole(partial.opcode, partial.data).map(Some);
                }
            }
        }
        Ok(None)
    }

    /// A data message once all of it arrived.
    fn whole(opcode: OpCode, data: Vec<u8>) -> Result<Message, WebSocketError> {
        match opcode {
            OpCode::Text => String::from_utf8(data)
                .map(Message::Text)
                .map_err(|_| WebSocketError::InvalidUtf8),
            _ => Ok(Message::Binary(data)),
        }
    }

    /// The client started the closing handshake (or answered ours): check it, answer it with
    /// its code, and stop reading.
    fn on_close(&mut self, payload: &[u8]) -> Result<Message, WebSocketError> {
        self.read_closed = true;
        let frame = match payload {
            [] => None,
            [_] => return Err(WebSocketError::Protocol("close payload of one byte")),
            [high, low, reason @ ..] => {
                let code = u16::from_be_bytes([*high, *low]);
                if !close_code_is_valid(code) {
                    return Err(WebSocketError::Protocol("invalid close code"));
                }
                let reason =
                    std::str::from_utf8(reason).map_err(|_| WebSocketError::InvalidUtf8)?;
                Some(CloseFrame {
                    code,
                    reason: reason.to_owned(),
                })
            }
        };
        if !self.close_sent {
            let echo = frame.as_ref().map_or(&[][..], |_| &payload[..2]);
            self.queue_close(echo);
        }
        Ok(Message::Close(frame))
    }

    /// Start writing what is queued without waiting for it; a write error comes back on the
    /// next read or write.
    fn nudge_queued(&mut self, cx: &mut Context<'_>) {
        if self.unsent() > 0 {
            let _ = self.poll_write_queued(cx);
        }
    }

    /// Write out everything queued, then free the buffer; a pending pong goes out last.
    fn poll_write_queued(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        loop {
            ready!(wire::poll_write_queued(
                &mut self.io,
                cx,
                &mut self.write,
                &mut self.written,
                &mut self.fresh,
            ))?;
            let Some(pong) = self.pong.take() else {
                return Poll::Ready(Ok(()));
            };
            self.queue(OpCode::Pong, pong.payload());
        }
    }
}

impl<IO> Stream for WebSocket<IO>
where
    IO: Wire,
{
    type Item = Result<Message, WebSocketError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.read_closed {
                return Poll::Ready(None);
            }
            // Nothing is read while output is backed up: the write's waker wakes us.
            if this.unsent() > 0 {
                if let Poll::Ready(Err(error)) = this.poll_write_queued(cx) {
                    this.read_closed = true;
                    return Poll::Ready(Some(Err(error)));
                }
                if this.unsent() > MAX_UNSENT {
                    return Poll::Pending;
                }
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
            // Left uninitialized: zeroing 4 KiB for every read is wasted, the kernel writes
            // what is read.
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            if let Err(error) = ready!(Pin::new(&mut this.io).poll_read(cx, &mut buf)) {
                this.read_closed = true;
                return Poll::Ready(Some(Err(error.into())));
            }
            if buf.filled().is_empty() {
                this.read_closed = true;
                let midway = !this.read.is_empty() || this.partial.is_some();
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
    IO: Wire,
{
    type Error = WebSocketError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Writes are bounded by the caller's batches; write out a batch that grew large
        // before queueing more, so a stuck client cannot make the buffer grow without end.
        let this = self.get_mut();
        if this.unsent() >= MAX_UNSENT {
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
                let mut payload = Vec::new();
                // A code that may not go on the wire (1005, 1006, 1015, ...) is sent as no
                // code at all, as uWebSockets does: the peer must never see it.
                let frame = frame.filter(|frame| close_code_is_valid(frame.code));
                if let Some(CloseFrame { code, reason }) = frame {
                    payload.extend_from_slice(&code.to_be_bytes());
                    // A control frame holds at most 125 bytes; cut the reason at a char edge.
                    let mut end = reason.len().min(123);
                    while !reason.is_char_boundary(end) {
                        end -= 1;
                    }
                    payload.extend_from_slice(&reason.as_bytes()[..end]);
                }
                this.queue_close(&payload);
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

impl<IO> SendData for WebSocket<IO>
where
    IO: Wire,
{
    fn start_send_data(
        self: Pin<&mut Self>,
        kind: DataKind,
        parts: &[&[u8]],
    ) -> Result<(), WebSocketError> {
        let this = self.get_mut();
        if this.close_sent {
            return Err(WebSocketError::Protocol("the close frame was already sent"));
        }
        let opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        write_frame_parts(&mut this.write, opcode, parts);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
