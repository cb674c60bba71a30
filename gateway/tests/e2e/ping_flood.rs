//! Sockets that flood pings and never read cost a real `pushgate dev` bounded memory, while a
//! normal client's pushes stay prompt; under the default frame rate the flood is cut off.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, ServerFrame};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Process, WsClient, rest_call};

/// Flooding sockets, and how much the gateway may grow for all of them together (8 MiB each).
const FLOODERS: usize = 4;
const MAX_GROWTH_KIB: u64 = 32 * 1024;
/// How long the flood runs while the normal client measures pushes.
const FLOOD_FOR: Duration = Duration::from_secs(5);

fn verifier() -> TokenVerifier {
    TokenVerifier::new(
        pushgate_gateway::DEV_JWT_SECRET,
        pushgate_gateway::DEV_API_KEY,
    )
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS")
}

/// Open a WebSocket by hand: the upgrade request, then the 101's headers and nothing more.
async fn raw_socket(addr: SocketAddr, token: &str) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /v1/ws?access_token={token} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    socket.write_all(request.as_bytes()).await.expect("upgrade");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(socket.read_u8().await.expect("101 headers"));
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    socket
}

/// Masked 125-byte pings, many to a buffer so one write sends hundreds.
fn pings() -> Vec<u8> {
    let mask = [0x1F, 0x2E, 0x3D, 0x4C];
    let one: Vec<u8> = [0x89, 0x80 | 125]
        .into_iter()
        .chain(mask)
        .chain((0..125).map(|i: usize| b'p' ^ mask[i % 4]))
        .collect();
    one.repeat(512)
}

/// Write pings as fast as the gateway takes them, never reading, until `until` or until it
/// hangs up; returns how many pings went out.
async fn flood(mut socket: TcpStream, until: Instant) -> usize {
    let pings = pings();
    let mut sent = 0;
    while Instant::now() < until {
        if socket.write_all(&pings).await.is_err() {
            break;
        }
        sent += 512;
    }
    sent
}

/// Push one notification to `reader` through the node's API; how long it took to arrive.
async fn push(
    http: &reqwest::Client,
    addr: SocketAddr,
    reader: &mut WsClient,
    n: usize,
) -> Duration {
    let sent = Instant::now();
    let body = json!({ "users": ["reader"], "kind": "tick", "data": n });
    let (status, problem) = rest_call(
        http,
        reqwest::Method::POST,
        &format!("http://{addr}/v1/notify"),
        pushgate_gateway::DEV_API_KEY,
        Some(body),
    )
    .await;
    assert_eq!(status, 202, "{problem}");
    match reader.next().await {
        ServerFrame::Notify { .. } => sent.elapsed(),
        other => panic!("expected the push, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_floods_that_never_read_grow_the_gateway_at_most_32_mib_and_pushes_stay_prompt() {
    // The frame rate would cut the flooders off within a second (see below); lifted here so
    // the WebSocket layer alone must hold the memory.
    let args = ["dev", "--listen", "127.0.0.1:0"].map(String::from);
    let gateway = Process::spawn(&args, &[("PUSHGATE_FRAMES_PER_SEC", "1000000000")]);
    let verifier = verifier();
    let http = reqwest::Client::new();
    let token = verifier.mint("reader", 3600);
    let mut reader = WsClient::connect(gateway.addr, &token, Codec::Json, None)
        .await
        .expect("connects");
    // The first push waits out the resume window; later ones show the flood's cost alone.
    push(&http, gateway.addr, &mut reader, 0).await;
    let mut flooders = Vec::new();
    for i in 0..FLOODERS {
        let token = verifier.mint(&format!("flood{i}"), 3600);
        flooders.push(raw_socket(gateway.addr, &token).await);
    }
    let pid = gateway.child.id();
    let before = rss_kib(pid);
    let until = Instant::now() + FLOOD_FOR;
    let floods: Vec<_> = flooders
        .into_iter()
        .map(|socket| tokio::spawn(flood(socket, until)))
        .collect();

    let mut peak = before;
    let mut latencies = Vec::new();
    while Instant::now() < until {
        let n = latencies.len() + 1;
        latencies.push(push(&http, gateway.addr, &mut reader, n).await);
        peak = peak.max(rss_kib(pid));
    }
    let mut pings = 0;
    for flood in floods {
        pings += flood.await.expect("flooder");
    }
    peak = peak.max(rss_kib(pid));
    latencies.sort_unstable();
    let slowest = latencies.last().copied().unwrap_or_default();
    eprintln!(
        "ping flood: {FLOODERS} sockets sent {pings} pings in {FLOOD_FOR:?}; gateway RSS \
         {before} -> {peak} KiB; {} pushes, median {:?}, slowest {slowest:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
    );
    assert!(
        peak - before <= MAX_GROWTH_KIB,
        "{FLOODERS} flooders grew the gateway from {before} to {peak} KiB"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a push took {slowest:?} during the flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_count_against_the_frame_rate_and_a_flood_is_closed_with_4003() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Bytes, Message};

    let node = crate::support::TestNode::start().await;
    let mut bob = node.connect("bob").await;
    // Far past the burst (2 s of the rate) plus `max_bad_frames`, sent without waiting.
    for _ in 0..200 {
        bob.socket
            .feed(Message::Ping(Bytes::from_static(b"flood")))
            .await
            .expect("queue a ping");
    }
    bob.socket.flush().await.expect("send pings");
    let mut limited = 0;
    let close = loop {
        let message = tokio::time::timeout(crate::support::WAIT, bob.socket.next())
            .await
            .expect("the node answers in time")
            .expect("the node closes with a frame")
            .expect("a message");
        match message {
            Message::Text(text) => match bob.codec.decode(text.as_bytes()).expect("decodes") {
                ServerFrame::Error { code, .. } => {
                    assert_eq!(code, pushgate_protocol::ErrorCode::RateLimited);
                    limited += 1;
                }
                other => panic!("unexpected {other:?}"),
            },
            Message::Close(frame) => break frame.expect("a close code"),
            _ => {}
        }
    };
    assert_eq!(u16::from(close.code), 4003);
    assert_eq!(limited, 10, "one error frame per bad frame up to the limit");
}
