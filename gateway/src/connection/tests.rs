//! The connection state machine driven over in-memory channels instead of a network.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Sink, Stream};
use pushgate_fanout::clock::now_micros;
use pushgate_fanout::ring::Ring;
use pushgate_protocol::{Audience, ClientFrame, Codec, Cursor, FeedItem, ServerFrame, SharedItem};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Connection, Ending, Identity};
use crate::config::NodeConfig;
use crate::gateway::{self, Gateway};
use crate::mailbox::Push;
use crate::websocket::{DataKind, Message, SendData, WebSocketError};
use crate::websocket_transport::WebSocketTransport;

/// A socket made of two channels: what the test sends in, what the connection writes out.
struct MemorySocket {
    inbound: mpsc::UnboundedReceiver<Message>,
    outbound: mpsc::UnboundedSender<Message>,
}

impl Stream for MemorySocket {
    type Item = Result<Message, WebSocketError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inbound.poll_recv(cx).map(|message| message.map(Ok))
    }
}

impl Sink<Message> for MemorySocket {
    type Error = WebSocketError;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.outbound
            .send(item)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe).into())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

impl SendData for MemorySocket {
    fn start_send_data(
        self: Pin<&mut Self>,
        kind: DataKind,
        parts: &[&[u8]],
    ) -> Result<(), WebSocketError> {
        let bytes = parts.concat();
        let message = match kind {
            DataKind::Text => Message::Text(String::from_utf8(bytes).expect("pushes are UTF-8")),
            DataKind::Binary => Message::Binary(bytes),
        };
        self.start_send(message)
    }
}

/// A peer's view of one running connection.
struct Peer {
    to_server: mpsc::UnboundedSender<Message>,
    from_server: mpsc::UnboundedReceiver<Message>,
}

impl Peer {
    async fn frame(&mut self) -> ServerFrame {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.from_server.recv())
                .await
                .expect("a frame in time")
                .expect("connection alive");
            if let Message::Text(text) = message {
                return Codec::Json.decode(text.as_bytes()).expect("decodes");
            }
        }
    }

    async fn silent(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(200), self.from_server.recv()).await;
        assert!(next.is_err(), "expected silence, got {next:?}");
    }

    fn send(&self, frame: &ClientFrame) {
        let text = String::from_utf8(Codec::Json.encode(frame).expect("encodes")).expect("utf8");
        self.to_server
            .send(Message::Text(text))
            .expect("connection alive");
    }
}

fn post(id: u64) -> FeedItem {
    FeedItem::Post {
        id,
        author: "alice".into(),
        ts: id,
        audience: Audience::Followers,
    }
}

fn gateway() -> Arc<Gateway> {
    let mut config = NodeConfig::dev("127.0.0.1:0".parse().expect("addr"));
    config.resume_window = Duration::ZERO;
    gateway::in_memory(config, Ring::default())
}

fn open(gateway: &Arc<Gateway>, resume_from: Option<Cursor>) -> Peer {
    open_task(gateway, resume_from).0
}

/// [`open`], also returning the connection's task.
fn open_task(gateway: &Arc<Gateway>, resume_from: Option<Cursor>) -> (Peer, JoinHandle<Ending>) {
    let (to_server, inbound) = mpsc::unbounded_channel();
    let (outbound, from_server) = mpsc::unbounded_channel();
    let identity = Identity {
        user: "bob".into(),
        expires: now_micros() / 1_000_000 + 3600,
        session: 7,
    };
    let registration = gateway.register(&identity.user).expect("room for bob");
    let connection = Connection::new(
        WebSocketTransport::new(MemorySocket { inbound, outbound }, Codec::Json),
        gateway.clone(),
        identity,
        registration,
    );
    let task = tokio::spawn(connection.run(resume_from));
    let peer = Peer {
        to_server,
        from_server,
    };
    (peer, task)
}

/// A live push of post `id` at feed position `id` to bob's connections, as the dispatcher
/// would make it.
fn push_live(gateway: &Gateway, id: u64) {
    let item = Arc::new(SharedItem::new(post(id)));
    gateway.registry.push("bob", &Push::Feed { seq: id, item });
}

async fn append(gateway: &Gateway, item: &FeedItem) -> u64 {
    gateway
        .backplane
        .feeds
        .append(&["bob".to_owned()], item)
        .await
        .expect("append")[0]
}

#[tokio::test]
async fn gaps_are_filled_from_the_feed_and_duplicates_dropped() {
    let gateway = gateway();
    append(&gateway, &post(1)).await;
    let mut peer = open(&gateway, None);
    assert!(
        matches!(peer.frame().await, ServerFrame::Welcome { cursor, .. } if cursor == Cursor::new(1, 0))
    );

    // Positions 2 and 3 never arrive as pushes (a lost inbox message); 4 does.
    for id in 2..=4 {
        append(&gateway, &post(id)).await;
    }
    push_live(&gateway, 4);
    for want in 2..=4 {
        match peer.frame().await {
            ServerFrame::Post { id, cursor, .. } => {
                assert_eq!((id, cursor), (want, Cursor::new(want, 0)))
            }
            other => panic!("expected post {want}, got {other:?}"),
        }
    }
    // A late duplicate of 3 is dropped.
    push_live(&gateway, 3);
    peer.silent().await;
}

#[tokio::test]
async fn resume_replays_then_holds_back_live_duplicates() {
    let gateway = gateway();
    for id in 1..=3 {
        append(&gateway, &post(id)).await;
    }
    let mut peer = open(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    peer.send(&ClientFrame::Resume {
        after: Cursor::new(1, 0),
    });
    for want in 2..=3 {
        assert!(matches!(peer.frame().await, ServerFrame::Post { id, .. } if id == want));
    }
    assert_eq!(
        peer.frame().await,
        ServerFrame::Resumed {
            replayed: 2,
            complete: true
        }
    );
    // The live push of an entry the replay already sent is not sent twice.
    push_live(&gateway, 3);
    peer.silent().await;
    peer.send(&ClientFrame::Ping);
    assert_eq!(peer.frame().await, ServerFrame::Pong);
}

#[tokio::test]
async fn a_connection_opened_after_the_drain_sweep_sends_itself_away() {
    let gateway = gateway();
    gateway.drain.drain();
    // The sweep already ran (nobody was connected); this connection arrives after it.
    gateway.clone().send_everyone_away_on_drain().await;
    let mut peer = open(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    match peer.frame().await {
        ServerFrame::Reconnect { url, after_ms, .. } => {
            assert_eq!(url, gateway.public_url);
            assert!(after_ms < gateway.config.drain_window.as_millis() as u64);
        }
        other => panic!("expected reconnect, got {other:?}"),
    }
    let close = tokio::time::timeout(Duration::from_secs(5), peer.from_server.recv())
        .await
        .expect("closed in time");
    match close {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, 1012),
        other => panic!("expected close 1012, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_that_dies_abruptly_leaves_the_registry() {
    let gateway = gateway();
    let (mut peer, task) = open_task(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    assert_eq!(gateway.registry.connections(), 1);
    // Aborting drops the future mid-loop, as a panic unwinding through it would.
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_eq!(gateway.registry.connections(), 0);
    assert!(!gateway.registry.is_connected("bob"));
}

/// A friends-only post of "carol", who is not bob's friend.
fn hidden(id: u64) -> FeedItem {
    FeedItem::Post {
        id,
        author: "carol".into(),
        ts: id,
        audience: Audience::Friends,
    }
}

#[tokio::test]
async fn a_gap_fill_leaves_out_friends_posts_of_authors_no_longer_friends() {
    let gateway = gateway();
    let mut peer = open(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    // Position 1 was written while carol and bob were friends; 2 never arrived as a push.
    append(&gateway, &hidden(1)).await;
    append(&gateway, &post(2)).await;
    append(&gateway, &post(3)).await;
    push_live(&gateway, 3);
    for want in 2..=3 {
        assert!(matches!(peer.frame().await, ServerFrame::Post { id, .. } if id == want));
    }
    peer.silent().await;
}

#[tokio::test]
async fn a_resume_moves_past_replay_pages_of_only_hidden_posts() {
    let gateway = gateway();
    let page = super::REPLAY_PAGE as u64;
    for id in 1..=page + 1 {
        append(&gateway, &hidden(id)).await;
    }
    append(&gateway, &post(page + 2)).await;
    let mut peer = open(&gateway, Some(Cursor::default()));
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    assert!(
        matches!(peer.frame().await, ServerFrame::Post { id, cursor, .. } if id == page + 2 && cursor == Cursor::new(page + 2, 0))
    );
    assert_eq!(
        peer.frame().await,
        ServerFrame::Resumed {
            replayed: 1,
            complete: true
        }
    );
}

/// The ending a finished connection reports, and so counts in `closed_total{reason}`.
async fn ending(task: JoinHandle<Ending>) -> Ending {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("ends in time")
        .expect("joins")
}

#[tokio::test]
async fn a_close_frame_is_a_clean_close() {
    let gateway = gateway();
    let (mut peer, task) = open_task(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    peer.to_server
        .send(Message::Close(None))
        .expect("connection alive");
    let ending = ending(task).await;
    assert_eq!(ending, Ending::Closed);
    assert_eq!(ending.reason(), "client");
}

#[tokio::test]
async fn a_socket_that_goes_away_is_lost_not_closed() {
    let gateway = gateway();
    let (mut peer, task) = open_task(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    // The stream ends without a close frame, as when a client's network drops.
    drop(peer.to_server);
    let ending = ending(task).await;
    assert_eq!(ending, Ending::Lost);
    assert_eq!(ending.reason(), "lost");
}

#[tokio::test]
async fn a_write_that_fails_is_lost() {
    let gateway = gateway();
    let (peer, task) = open_task(&gateway, None);
    let Peer {
        to_server,
        from_server,
    } = peer;
    // Nobody reads any more: the next write fails (the welcome, or the push).
    drop(from_server);
    push_live(&gateway, 1);
    assert_eq!(ending(task).await, Ending::Lost);
    drop(to_server);
}

#[tokio::test]
async fn the_server_ending_it_says_why() {
    let gateway = gateway();
    let (mut peer, task) = open_task(&gateway, None);
    assert!(matches!(peer.frame().await, ServerFrame::Welcome { .. }));
    gateway.registry.push(
        "bob",
        &Push::Close(pushgate_protocol::ErrorCode::Unauthorized),
    );
    let ending = ending(task).await;
    assert_eq!(
        ending,
        Ending::Refused(pushgate_protocol::ErrorCode::Unauthorized)
    );
    assert_eq!(ending.reason(), "unauthorized");
    match peer.from_server.recv().await {
        Some(Message::Close(Some(frame))) => assert_eq!(
            frame.code,
            pushgate_protocol::ErrorCode::Unauthorized.close_code()
        ),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[test]
fn the_session_label_is_the_node_and_sixteen_hex_digits() {
    for session in [0, 1, 0xabc, u64::MAX, 0x0123_4567_89ab_cdef] {
        let identity = Identity {
            user: "u".to_owned(),
            expires: 0,
            session,
        };
        assert_eq!(
            identity.session_label("node-a"),
            format!("node-a-{session:016x}")
        );
    }
}
