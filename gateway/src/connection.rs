//! One client connection over any [`Transport`]: welcome, resume, live pushes, heartbeats,
//! expiry and closing.

use std::convert::Infallible;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use pushgate_fanout::backplane::BackplaneError;
use pushgate_fanout::clock::{age_seconds_at, now_micros};
use pushgate_protocol::{
    ClientFrame, Codec, Cursor, DecodeError, ErrorCode, ServerFrame, SharedItem,
};
use tracing::Span;

use crate::delivery_cursor::{DeliveryCursor, FeedPush, Replayed};
use crate::gateway::Gateway;
use crate::mailbox::{Folded, Push};
use crate::moment::{Moment, MomentClock};
use crate::registry::Registration;
use crate::resume_budget::{RESUME_BURST, ResumeBudget};
use crate::transport::{EncodedFrame, Outbound, Payload, Position, Transport};
use crate::websocket::Message;

/// Pages read per step while replaying a resume.
const REPLAY_PAGE: usize = 256;
/// How long a closing handshake may take before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Welcomed; live pushes wait until the client resumes or the resume window ends.
    Opening { until: Moment },
    /// Pushes flow as they arrive.
    Live,
}

/// The authenticated identity a connection was opened with.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The token's `sub`.
    pub user: String,
    /// The token's `exp` (seconds since the Unix epoch); `refresh` moves it.
    pub expires: u64,
    /// Random ID of this connection, for logs and support; shown as `<node>-<hex>`. A number
    /// rather than the formatted string: every idle socket holds one.
    pub session: u64,
}

impl Identity {
    /// The span a connection's logs go under, on node `node` for the client at `client`.
    pub fn span(&self, node: &str, client: std::net::IpAddr) -> Span {
        tracing::debug_span!(
            "conn",
            user = %self.user,
            %client,
            node = %node,
            session = %self.session_label(node)
        )
    }

    /// The session as clients and logs see it: `<node>-<16 hex digits>`. Written by hand:
    /// through `format!` it was about 500 instructions of every connect.
    pub fn session_label(&self, node: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // The digits into an array, then one copy: a `push` per digit checked the capacity
        // and encoded a `char` sixteen times.
        let mut digits = [0u8; 16];
        for (i, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[(self.session >> ((15 - i) * 4)) as usize & 0xf];
        }
        let mut label = String::with_capacity(node.len() + 17);
        label.push_str(node);
        label.push('-');
        label.push_str(std::str::from_utf8(&digits).expect("hex digits are ASCII"));
        label
    }
}

/// How a connection ends, as `pushgate_connections_closed_total{reason}` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client closed it with the closing handshake.
    Closed,
    /// The socket went away under it: a read or write failed, or the stream ended without a
    /// close frame. Nobody is left to tell.
    Lost,
    /// The server ends it for this reason, which the client is told.
    Refused(ErrorCode),
}

impl Ending {
    /// The `reason` label of the closed-connections counter.
    pub fn reason(self) -> &'static str {
        match self {
            Ending::Closed => "client",
            Ending::Lost => "lost",
            Ending::Refused(code) => code.as_str(),
        }
    }
}

type FrameLimiter = RateLimiter<NotKeyed, InMemoryState, MomentClock, NoOpMiddleware<Nanos>>;

/// A connection, generic over its transport (a WebSocket, an event stream, or the tests'
/// in-memory socket).
pub struct Connection<T> {
    socket: T,
    gateway: Arc<Gateway>,
    identity: Identity,
    registration: Registration,
    phase: Phase,
    /// What was delivered, which decides what each push and replayed entry means.
    cursor: DeliveryCursor,
    bad_frames: u32,
    last_inbound: Moment,
    /// On the node's [`PingClock`](crate::ping_clock::PingClock) slots, so pings go out in
    /// runs rather than one wake-up each.
    next_ping: Moment,
    /// `identity.expires` on the monotonic clock, kept so the loop's timer only moves when a
    /// deadline really changes (re-read from the wall clock when it fires and on `refresh`).
    token_at: Moment,
    limiter: FrameLimiter,
    /// Replays left to ask for (each reads and writes the whole gap).
    resumes: ResumeBudget,
}

/// Whatever ends the connection (its loop, a panic, a runtime shutting down), its
/// registration leaves the registry, so no path leaks a slot of the per-user limit.
/// Unregistering twice is harmless: `finish` does it first, before the closing handshake.
impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        self.gateway
            .unregister(&self.identity.user, self.registration.id);
    }
}

impl<T> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("user", &self.identity.user)
            .field("phase", &self.phase)
            .field("delivered", &self.cursor.delivered())
            .finish_non_exhaustive()
    }
}

/// When a token expiring at `expires` (seconds since the Unix epoch) runs out, on the
/// monotonic clock that reads `now`.
fn token_deadline(expires: u64, now: Moment) -> Moment {
    let left_micros = expires
        .saturating_mul(1_000_000)
        .saturating_sub(now_micros());
    now.after(Duration::from_micros(left_micros))
}

/// A failed backplane read, logged with `what` failed, ending the connection with 1013 so
/// the client reconnects with backoff and resumes.
fn unavailable(what: &'static str) -> impl FnOnce(BackplaneError) -> Ending {
    move |error| {
        tracing::warn!(%error, "{what}");
        Ending::Refused(ErrorCode::Unavailable)
    }
}

impl<T: Transport> Connection<T> {
    /// A connection for `identity` over `socket`, with the registration its admission took
    /// (admission registers, so the per-user limit holds while upgrades are in flight).
    pub fn new(
        socket: T,
        gateway: Arc<Gateway>,
        identity: Identity,
        registration: Registration,
    ) -> Self {
        let now = Moment::now();
        let config = &gateway.config;
        let burst = config
            .frames_per_sec
            .saturating_mul(NonZeroU32::MIN.saturating_add(1));
        Self {
            limiter: RateLimiter::direct_with_clock(
                Quota::per_second(config.frames_per_sec).allow_burst(burst),
                MomentClock,
            ),
            // A client that cannot send `resume` gives its cursor when it connects: nothing
            // to wait for.
            phase: if T::LISTENS {
                Phase::Opening {
                    until: now.after(config.resume_window),
                }
            } else {
                Phase::Live
            },
            next_ping: gateway.ping_clock.next_after(now),
            last_inbound: now,
            token_at: token_deadline(identity.expires, now),
            socket,
            gateway,
            identity,
            registration,
            cursor: DeliveryCursor::default(),
            bad_frames: 0,
            resumes: ResumeBudget::default(),
        }
    }

    /// Serve until the client leaves or an error ends the connection, then clean up.
    ///
    /// A plain fn moving `self` into an `async` block rather than an `async fn`: an `async fn`
    /// stores its by-value `self` twice (rust-lang/rust#62958), and every socket holds this.
    pub fn run(self, resume_from: Option<Cursor>) -> impl Future<Output = Ending> + Send {
        let mut connection = self;
        async move {
            let ending = match connection.serve(resume_from).await {
                Ok(never) => match never {},
                Err(ending) => ending,
            };
            connection.finish(ending).await;
            ending
        }
    }

    /// Unregister, count the ending, and send the close frame it calls for.
    async fn finish(&mut self, ending: Ending) {
        self.gateway
            .unregister(&self.identity.user, self.registration.id);
        let reason = ending.reason();
        metrics::counter!("pushgate_connections_closed_total", "reason" => reason).increment(1);
        tracing::debug!(reason, "connection closed");
        if let Ending::Refused(code) = ending {
            let socket = &mut self.socket;
            // A lingering close, as nginx does: after our close frame, read (and drop) what
            // the client still sends until its close or its end. Closing a socket with unread
            // input makes the kernel answer with a reset, which throws away our close frame
            // and whatever the client had not read yet.
            let close = async move {
                socket.send(Outbound::Close(code)).await?;
                while let Some(Ok(message)) = socket.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
                Ok::<(), Ending>(())
            };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
        }
    }

    /// The connection's main loop, which only ever ends: `Err` says how.
    ///
    /// Every idle socket holds this future, and a future is as large as its largest await:
    /// so the loop keeps only its own state inline and boxes each handler, which then costs
    /// memory only while it runs.
    async fn serve(&mut self, resume_from: Option<Cursor>) -> Result<Infallible, Ending> {
        Box::pin(self.open(resume_from)).await?;
        // Drain arrives through the mailbox (`Gateway::send_away`); a connection registered
        // after the drain's sweep sends itself away.
        if self.gateway.drain.is_draining() {
            self.gateway.send_away(&self.identity.user);
        }
        let mailbox = self.registration.mailbox.clone();
        // One timer for the connection's life, moved only when the deadline moves: a fresh
        // `sleep_until` per wake-up would add and remove a timer-wheel entry for every push.
        let timer = tokio::time::sleep_until(self.next_deadline().instant());
        tokio::pin!(timer);
        loop {
            let deadline = self.next_deadline().instant();
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            tokio::select! {
                inbound = self.socket.next() => match inbound {
                    Some(Ok(Message::Close(_))) => return Err(Ending::Closed),
                    None => return Err(Ending::Lost),
                    Some(Err(ending)) => return Err(ending),
                    Some(Ok(message)) => {
                        self.last_inbound = Moment::now();
                        Box::pin(self.on_message(message)).await?;
                    }
                },
                () = mailbox.ready(), if self.phase == Phase::Live || !mailbox.is_pending() => {
                    Box::pin(self.on_mailbox()).await?;
                }
                () = &mut timer => Box::pin(self.on_deadline()).await?,
            }
        }
    }

    /// Send `welcome` with the feed head, then replay after `resume_from` if the URL had one.
    async fn open(&mut self, resume_from: Option<Cursor>) -> Result<(), Ending> {
        let head = self
            .gateway
            .timeline
            .head(&self.identity.user)
            .await
            .map_err(unavailable("feed head unavailable at connect"))?;
        self.cursor = DeliveryCursor::at_head(head);
        let welcome = ServerFrame::Welcome {
            session: self.identity.session_label(&self.gateway.node_id),
            user: self.identity.user.clone(),
            node: self.gateway.node_id.clone(),
            heartbeat_ms: self.gateway.config.heartbeat.as_millis() as u64,
            cursor: head,
        };
        self.send([welcome.into()]).await?;
        if let Some(after) = resume_from {
            self.resume(after).await?;
        }
        Ok(())
    }

    /// The earliest moment a timer needs attention.
    fn next_deadline(&self) -> Moment {
        let mut deadline = self.next_ping.min(self.token_at);
        if T::LISTENS {
            deadline = deadline.min(self.last_inbound.after(self.gateway.config.idle_timeout));
        }
        // The resume window needs a wake-up of its own only while a push waits for it; a
        // connection nothing was pushed to goes live at its next event instead, which spares
        // every connect a wake-up a window later.
        if let Phase::Opening { until } = self.phase {
            if self.registration.mailbox.is_pending() {
                deadline = deadline.min(until);
            }
        }
        deadline
    }

    /// Something was queued: written at once when live; during the resume window it waits
    /// for the window's end, which `next_deadline` now includes.
    async fn on_mailbox(&mut self) -> Result<(), Ending> {
        if let Phase::Opening { until } = self.phase {
            if Moment::now() < until {
                return Ok(());
            }
            self.phase = Phase::Live;
        }
        self.flush_mailbox().await
    }

    async fn on_deadline(&mut self) -> Result<(), Ending> {
        let now = Moment::now();
        if now_micros() >= self.identity.expires.saturating_mul(1_000_000) {
            return Err(Ending::Refused(ErrorCode::TokenExpired));
        }
        // The wall clock decides; follow it if it moved against the monotonic one.
        self.token_at = token_deadline(self.identity.expires, now);
        if T::LISTENS && self.last_inbound.after(self.gateway.config.idle_timeout) <= now {
            return Err(Ending::Refused(ErrorCode::HeartbeatTimeout));
        }
        if let Phase::Opening { until } = self.phase {
            if until <= now {
                self.phase = Phase::Live;
                self.flush_mailbox().await?;
            }
        }
        if self.next_ping <= now {
            self.next_ping = self.gateway.ping_clock.next_after(now);
            self.write_all([Ok(Outbound::Ping)]).await?;
        }
        Ok(())
    }

    async fn on_message(&mut self, message: Message) -> Result<(), Ending> {
        // Control frames count too: the WebSocket layer answers pings by itself, so without
        // this a ping flood would cost the node without limit. A flood over the rate gets
        // error frames, each written out before the next frame is read, then close 4003.
        if self.limiter.check().is_err() {
            return self
                .reject(ErrorCode::RateLimited, "too many frames; slow down".into())
                .await;
        }
        let codec = self.socket.codec();
        let decoded = match (&message, codec) {
            (Message::Text(text), Codec::Json) => codec.decode::<ClientFrame>(text.as_bytes()),
            (Message::Binary(bytes), Codec::MsgPack) => codec.decode::<ClientFrame>(bytes),
            (Message::Text(_) | Message::Binary(_), _) => Err(DecodeError::Malformed(format!(
                "this connection speaks {}: send {} frames",
                codec.subprotocol(),
                if codec.is_binary() { "binary" } else { "text" }
            ))),
            // Pings are answered by the WebSocket layer; both only prove liveness.
            _ => return Ok(()),
        };
        match decoded {
            Ok(ClientFrame::Ping) => self.send([ServerFrame::Pong.into()]).await,
            Ok(ClientFrame::Resume { after }) => self.resume(after).await,
            Ok(ClientFrame::Refresh { token }) => self.refresh(&token).await,
            Err(error) => {
                let code = match error {
                    DecodeError::Malformed(_) => ErrorCode::BadFrame,
                    DecodeError::UnknownType(_) => ErrorCode::UnknownType,
                    DecodeError::InvalidField(_) => ErrorCode::InvalidField,
                };
                self.reject(code, error.to_string()).await
            }
        }
    }

    /// Answer a bad frame with an error frame; too many of them close the connection.
    async fn reject(&mut self, code: ErrorCode, message: String) -> Result<(), Ending> {
        self.bad_frames += 1;
        metrics::counter!("pushgate_bad_frames_total", "code" => code.as_str()).increment(1);
        if self.bad_frames > self.gateway.config.max_bad_frames {
            return Err(Ending::Refused(ErrorCode::TooManyErrors));
        }
        self.send([ServerFrame::Error { code, message }.into()])
            .await
    }

    async fn refresh(&mut self, token: &str) -> Result<(), Ending> {
        match self.gateway.verifier.verify(token).await {
            Ok(claims) if claims.sub == self.identity.user => {
                self.identity.expires = claims.exp;
                self.token_at = token_deadline(claims.exp, Moment::now());
                Ok(())
            }
            Ok(_) => {
                self.reject(
                    ErrorCode::Unauthorized,
                    "refresh token names another user".into(),
                )
                .await
            }
            Err(_) => {
                self.reject(
                    ErrorCode::Unauthorized,
                    "refresh token is invalid or expired".into(),
                )
                .await
            }
        }
    }

    /// Replay everything after `after` that was not pushed live already, then go live; or
    /// refuse with `rate_limited` once the connection's replay budget is spent.
    ///
    /// One replay at a time: the loop reads no frame while this runs, so a `resume` sent
    /// during a replay waits in the socket until it ends, then takes from the budget too.
    async fn resume(&mut self, after: Cursor) -> Result<(), Ending> {
        if !self.resumes.take() {
            let message = format!("too many resumes: at most {RESUME_BURST} a minute");
            return self.reject(ErrorCode::RateLimited, message).await;
        }
        self.phase = Phase::Live;
        let user = self.identity.user.clone();
        let start = self.cursor.replay_start(after);
        let mut cursor = start.after;
        let mut replayed = 0u64;
        let mut complete = !start.store_reset;
        loop {
            let page = self
                .gateway
                .timeline
                .since(&user, cursor, REPLAY_PAGE)
                .await
                .map_err(unavailable("resume read failed"))?;
            complete &= page.complete;
            let mut frames: Vec<Outgoing> = Vec::with_capacity(page.items.len());
            for entry in &page.items {
                let ts = entry.item.ts();
                if self.cursor.replayed(cursor, entry.cursor, ts) == Replayed::Send {
                    frames.push(entry.item.to_frame(entry.cursor).into());
                }
                cursor = entry.cursor;
            }
            // Past hidden friends-only posts too, so a page of only those still moves on.
            cursor = page.cursor;
            replayed += frames.len() as u64;
            self.send(frames).await?;
            if !page.more {
                break;
            }
        }
        self.cursor.replay_done(cursor);
        metrics::counter!("pushgate_resumes_total", "complete" => if complete { "true" } else { "false" }).increment(1);
        self.send([ServerFrame::Resumed { replayed, complete }.into()])
            .await?;
        self.flush_mailbox().await
    }

    /// Send what the mailbox holds, dropping duplicates and filling gaps from the feed.
    ///
    /// Records each live push's age (its creation to this write) in `pushgate_push_age_seconds`:
    /// compared with what clients measure, it tells the server's part of the latency from
    /// the network's and the client's.
    async fn flush_mailbox(&mut self) -> Result<(), Ending> {
        let (pushes, folded) = self.registration.mailbox.take();
        let age = metrics::histogram!("pushgate_push_age_seconds");
        // One clock reading for the batch: they are all written by the same syscall.
        let now = now_micros();
        let mut frames: Vec<Outgoing> = Vec::with_capacity(pushes.len() + 1);
        for push in pushes {
            match push {
                Push::Feed { seq, item } => {
                    let ts = item.item().ts();
                    match self.cursor.feed_push(seq, ts) {
                        FeedPush::Deliver => {}
                        FeedPush::Duplicate => continue,
                        FeedPush::CheckHead => {
                            if !self.head_shows_reset().await? {
                                continue;
                            }
                            self.cursor.restart_feed(seq);
                        }
                        // The store lost its data (Redis restarted without persistence) and
                        // positions started over: follow them down instead of muting pushes.
                        FeedPush::StoreReset => self.cursor.restart_feed(seq),
                        FeedPush::Gap { after, missing } => {
                            self.fill_gap(after, missing, seq, &mut frames).await?;
                        }
                    }
                    age.record(age_seconds_at(ts, now));
                    frames.push(Outgoing::Push(item, self.cursor.deliver_feed(seq, ts)));
                }
                Push::Broadcast { seq, item } => {
                    let Some(cursor) = self.cursor.deliver_broadcast(seq) else {
                        continue;
                    };
                    age.record(age_seconds_at(item.item().ts(), now));
                    frames.push(Outgoing::Push(item, cursor));
                }
                Push::Reconnect {
                    url,
                    after_ms,
                    reason,
                } => frames.push(
                    ServerFrame::Reconnect {
                        url,
                        after_ms,
                        reason,
                    }
                    .into(),
                ),
                Push::Close(code) => {
                    self.send(frames).await?;
                    return Err(Ending::Refused(code));
                }
            }
        }
        if let Some(Folded { cursor, count }) = folded {
            let cursor = self.cursor.fold(cursor);
            frames.push(ServerFrame::FeedAdvanced { cursor, count }.into());
        }
        metrics::counter!("pushgate_pushes_sent_total").increment(frames.len() as u64);
        self.send(frames).await
    }

    /// Whether the store's feed head shows a reset, for a push at an already-delivered
    /// position that nothing else tells from a duplicate. Duplicates are rare (retries, races
    /// at connect), so the extra read is too.
    async fn head_shows_reset(&mut self) -> Result<bool, Ending> {
        let head = self
            .gateway
            .backplane
            .feeds
            .head(&self.identity.user)
            .await
            .map_err(unavailable("duplicate check read failed"))?;
        Ok(self.cursor.head_shows_reset(head))
    }

    /// The `missing` entries after `after`, before `seq`, never arrived as pushes (racing
    /// workers, a lost inbox message): read them from the feed so the client sees no gap.
    async fn fill_gap(
        &mut self,
        after: u64,
        missing: usize,
        seq: u64,
        frames: &mut Vec<Outgoing>,
    ) -> Result<(), Ending> {
        let gap = self
            .gateway
            .timeline
            .own_since(&self.identity.user, after, missing)
            .await;
        let gap = gap.map_err(unavailable("gap fill read failed"))?;
        metrics::counter!("pushgate_gaps_filled_total").increment(1);
        for entry in gap.entries.into_iter().filter(|e| e.seq < seq) {
            let cursor = self.cursor.deliver_feed(entry.seq, entry.item.ts());
            frames.push(entry.item.to_frame(cursor).into());
        }
        Ok(())
    }

    /// Encode and write frames, then flush once: one syscall for a batch of pushes.
    async fn send<F>(&mut self, frames: F) -> Result<(), Ending>
    where
        F: IntoIterator<Item = Outgoing, IntoIter: ExactSizeIterator + Send>,
    {
        let frames = frames.into_iter();
        if frames.len() == 0 {
            return Ok(());
        }
        let codec = self.socket.codec();
        self.write_all(frames.map(|frame| frame.encode(codec)))
            .await
    }

    /// Write messages and flush them under one write timeout: one timer per batch rather than
    /// per frame, which showed up in profiles at high push rates.
    async fn write_all(
        &mut self,
        outbound: impl IntoIterator<Item = Result<Outbound, Ending>>,
    ) -> Result<(), Ending> {
        let limit = self.gateway.config.write_timeout;
        let socket = &mut self.socket;
        let write = async move {
            for item in outbound {
                socket.feed(item?).await?;
            }
            socket.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(written) => written,
            Err(_) => Err(Ending::Refused(ErrorCode::SlowConsumer)),
        }
    }
}

/// A frame on its way to the socket.
#[derive(Debug)]
enum Outgoing {
    /// A control, replayed or gap-filled frame, encoded for this socket alone.
    Frame(ServerFrame),
    /// A live push at this connection's cursor, its encoding shared with the item's other
    /// recipients.
    Push(Arc<SharedItem>, Cursor),
}

impl From<ServerFrame> for Outgoing {
    fn from(frame: ServerFrame) -> Self {
        Outgoing::Frame(frame)
    }
}

impl Outgoing {
    /// The frame in `codec`, with what the transport needs to know about it.
    fn encode(self, codec: Codec) -> Result<Outbound, Ending> {
        let frame = match self {
            Outgoing::Frame(frame) => {
                let position = match frame {
                    ServerFrame::Post { cursor, .. } | ServerFrame::Notify { cursor, .. } => {
                        Position::Delivered(cursor)
                    }
                    ServerFrame::FeedAdvanced { .. } => Position::Skipped,
                    _ => Position::Kept,
                };
                let bytes = codec.encode_frame(&frame).map_err(|e| {
                    tracing::error!(error = %e, "frame encode failed");
                    Ending::Refused(ErrorCode::Internal)
                })?;
                EncodedFrame {
                    payload: Payload::Owned(bytes),
                    kind: frame.kind(),
                    position,
                }
            }
            Outgoing::Push(item, cursor) => EncodedFrame {
                kind: item.item().frame_kind(),
                position: Position::Delivered(cursor),
                payload: Payload::Shared(item, cursor),
            },
        };
        Ok(Outbound::Frame(frame))
    }
}

#[cfg(test)]
mod tests;

/// Every open socket holds one connection future, so its size is memory per idle socket.
#[cfg(test)]
mod footprint {
    use tokio::net::TcpStream;

    use super::Connection;
    use crate::event_stream::EventStream;
    use crate::websocket::WebSocket;
    use crate::websocket_transport::WebSocketTransport;

    type Socket = WebSocketTransport<WebSocket<TcpStream>>;
    type Sse = EventStream<TcpStream>;

    fn future_size<S, F>(_: impl FnOnce(Connection<S>) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn an_idle_event_stream_holds_no_more_than_an_idle_websocket() {
        let connection = std::mem::size_of::<Connection<Sse>>();
        let future = future_size(|c: Connection<Sse>| c.run(None));
        let websocket = future_size(|c: Connection<Socket>| c.run(None));
        assert!(
            future <= connection + 320,
            "event stream future is {future} bytes for a {connection}-byte connection"
        );
        assert!(
            future <= websocket,
            "an event stream's future ({future} B) is larger than a WebSocket's ({websocket} B)"
        );
    }

    #[test]
    fn an_idle_connection_future_is_the_connection_plus_a_small_loop() {
        let connection = std::mem::size_of::<Connection<Socket>>();
        let future = future_size(|c: Connection<Socket>| c.run(None));
        // 2,184 bytes when `run` was an `async fn` (its `self` stored twice) with inline
        // handlers; 1,024 with boxed handlers; 640 once drain came through the mailbox
        // instead of a per-connection cancellation future, with the lean WebSocket; 600 with
        // deadlines as `Moment`s.
        assert!(
            future <= connection + 320,
            "connection future is {future} bytes for a {connection}-byte connection"
        );
    }

    /// tokio keeps a task's future in a cell aligned to 128 bytes, with about 100 bytes of
    /// its own around it; the spawned future is this one inside the span (`Instrumented`) and
    /// the drain's tracker. Spawned futures up to about 656 bytes get a 768-byte cell; at 688
    /// (before deadlines were `Moment`s) it was 896, which measured 120 B more per idle socket
    /// (1,869 against 1,752 B).
    #[test]
    fn an_idle_connection_fits_the_768_byte_task_cell() {
        let future = future_size(|c: Connection<Socket>| c.run(None));
        let spawned = future + std::mem::size_of::<tracing::Span>() + std::mem::size_of::<usize>();
        assert!(
            spawned <= 656,
            "the spawned connection future is {spawned} bytes: its task cell grows a step"
        );
    }
}
