//! The WebSocket upgrade over a raw TCP socket, byte for byte, as a minimal client sends it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::TestNode;

/// A masked client text frame (RFC 6455 5.3); payloads here are under 126 bytes.
fn masked_text(payload: &[u8]) -> Vec<u8> {
    let mask = [0x1F, 0x2E, 0x3D, 0x4C];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// Read until `needle` appears in what the server sent (or fail after a few seconds).
async fn read_until(socket: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout_at(deadline, socket.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no {:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(seen)
                )
            })
            .expect("reads");
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        seen.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_sent_right_behind_the_upgrade_request_is_answered() {
    let node = TestNode::start().await;
    let mut socket = TcpStream::connect(node.addr()).await.expect("connects");
    let mut bytes = format!(
        "GET /v1/ws?access_token={} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: other.v1, pushgate.v1.json\r\n\r\n",
        node.token("bob"),
        node.addr()
    )
    .into_bytes();
    // The frame travels in the same write as the request: hyper reads it along with the
    // headers, and the socket must start from those bytes.
    bytes.extend(masked_text(br#"{"type":"ping"}"#));
    socket.write_all(&bytes).await.expect("writes");

    let mut seen = Vec::new();
    read_until(&mut socket, &mut seen, b"\r\n\r\n").await;
    let head = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        head.contains("sec-websocket-protocol: pushgate.v1.json"),
        "{head}"
    );
    read_until(&mut socket, &mut seen, br#""type":"welcome""#).await;
    read_until(&mut socket, &mut seen, br#"{"type":"pong"}"#).await;
}

/// An upgrade request for `user` (JSON subprotocol), as a minimal client writes it.
fn upgrade_request(node: &TestNode, token: &str) -> String {
    format!(
        "GET /v1/ws?access_token={token} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: pushgate.v1.json\r\n\r\n",
        node.addr()
    )
}

/// The response head in `seen`, without its `date` line (which differs by the second).
fn head_without_date(seen: &[u8]) -> String {
    let text = String::from_utf8_lossy(seen);
    let head = text.split("\r\n\r\n").next().expect("a head");
    head.lines()
        .filter(|line| !line.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// What the node answers to `request` sent second on a connection, after a `GET /healthz`
/// (so hyper, not the early path, reads it), up to `needle`.
async fn after_another_request(node: &TestNode, request: &str, needle: &[u8]) -> Vec<u8> {
    let mut socket = TcpStream::connect(node.addr()).await.expect("connects");
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", node.addr());
    socket.write_all(healthz.as_bytes()).await.expect("writes");
    let mut seen = Vec::new();
    read_until(&mut socket, &mut seen, b"ok").await;
    seen.clear();
    socket.write_all(request.as_bytes()).await.expect("writes");
    read_until(&mut socket, &mut seen, needle).await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_to_an_upgrade_gets_the_same_answer_and_a_welcome() {
    let node = TestNode::start().await;
    // Whole request in one write: the early path, 101 and welcome in one write.
    let mut early = TcpStream::connect(node.addr()).await.expect("connects");
    early
        .write_all(upgrade_request(&node, &node.token("ann")).as_bytes())
        .await
        .expect("writes");
    let mut early_seen = Vec::new();
    read_until(&mut early, &mut early_seen, br#""type":"welcome""#).await;

    // The head in two writes, most likely read in two parts: hyper finishes reading it. (The
    // pause only makes the split likely; the answer must be the same either way.)
    let mut split = TcpStream::connect(node.addr()).await.expect("connects");
    let request = upgrade_request(&node, &node.token("ben"));
    let (first, rest) = request.split_at(20);
    split.write_all(first.as_bytes()).await.expect("writes");
    tokio::time::sleep(Duration::from_millis(50)).await;
    split.write_all(rest.as_bytes()).await.expect("writes");
    let mut split_seen = Vec::new();
    read_until(&mut split, &mut split_seen, br#""type":"welcome""#).await;

    // Another request first on the same connection: hyper serves both.
    let request = upgrade_request(&node, &node.token("cid"));
    let reused_seen = after_another_request(&node, &request, br#""type":"welcome""#).await;

    let expected = head_without_date(&early_seen);
    assert!(expected.starts_with("HTTP/1.1 101 "), "{expected}");
    assert_eq!(head_without_date(&split_seen), expected);
    assert_eq!(head_without_date(&reused_seen), expected);
    for seen in [&early_seen, &split_seen, &reused_seen] {
        let text = String::from_utf8_lossy(seen).to_lowercase();
        assert!(text.contains("\r\ndate: "), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_axum_refuses_gets_its_answer_on_every_path() {
    let node = TestNode::start().await;
    let token = node.token("ann");
    // `after` twice: the query deserializer refuses a duplicate field.
    let request = upgrade_request(&node, &token)
        .replace("?access_token=", "?after=1:0&after=2:0&access_token=");
    // Whole, the early path reads it; behind another request on the connection, hyper does.
    let mut early = TcpStream::connect(node.addr()).await.expect("connects");
    early.write_all(request.as_bytes()).await.expect("writes");
    let mut early_seen = Vec::new();
    read_until(&mut early, &mut early_seen, b"duplicate field").await;
    let reused_seen = after_another_request(&node, &request, b"duplicate field").await;
    let expected = head_without_date(&early_seen);
    assert!(expected.starts_with("HTTP/1.1 400 "), "{expected}");
    assert_eq!(head_without_date(&reused_seen), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upgrade_keeps_the_connection_for_the_next_request() {
    let node = TestNode::start().await;
    let mut socket = TcpStream::connect(node.addr()).await.expect("connects");
    let refused = upgrade_request(&node, "not-a-token");
    let healthz = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", node.addr());
    // Both in one write: the early path refuses the first and hyper answers the second.
    socket
        .write_all(format!("{refused}{healthz}").as_bytes())
        .await
        .expect("writes");
    let mut seen = Vec::new();
    read_until(&mut socket, &mut seen, b"\r\n\r\nok").await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(text.contains(r#""code":"unauthorized""#), "{text}");
    assert_eq!(text.matches("HTTP/1.1 401 ").count(), 1, "{text}");
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_send_their_request_late_are_all_upgraded() {
    let node = TestNode::start().await;
    // Connected first, requests later: the node accepts each before its bytes arrive, and
    // holds it until they do. (The pause only makes that likely; every socket must be
    // upgraded either way.)
    let mut sockets = Vec::new();
    for _ in 0..40 {
        sockets.push(TcpStream::connect(node.addr()).await.expect("connects"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for (i, socket) in sockets.iter_mut().enumerate() {
        let request = upgrade_request(&node, &node.token(&format!("late{i}")));
        socket.write_all(request.as_bytes()).await.expect("writes");
    }
    for socket in &mut sockets {
        let mut seen = Vec::new();
        read_until(socket, &mut seen, br#""type":"welcome""#).await;
        assert!(seen.starts_with(b"HTTP/1.1 101 "));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_sends_a_request_is_closed_at_the_header_timeout() {
    let node = TestNode::start().await;
    let mut silent = TcpStream::connect(node.addr()).await.expect("connects");
    let mut chunk = [0u8; 64];
    // The timeout is 10 s; the node must close the socket, without an answer, soon after.
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut chunk))
        .await
        .expect("closed within 30 s");
    assert!(matches!(read, Ok(0)), "closed without an answer: {read:?}");
    // Meanwhile the node kept serving others.
    let mut other = TcpStream::connect(node.addr()).await.expect("connects");
    other
        .write_all(upgrade_request(&node, &node.token("after")).as_bytes())
        .await
        .expect("writes");
    read_until(&mut other, &mut Vec::new(), br#""type":"welcome""#).await;
}
