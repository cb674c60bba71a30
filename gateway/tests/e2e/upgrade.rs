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
