//! The lean socket over real TCP, against tungstenite's client and hand-made bad frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{self, Bytes};

use super::frame::{OpCode, unmask, write_frame};
use super::{CloseFrame, Message, WebSocket, WebSocketError};

const LIMIT: usize = 1024;

/// A connected pair: our server socket and the raw client end.
async fn pair() -> (WebSocket<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (WebSocket::new(server, &[], LIMIT), client)
}

/// A client frame with the given first byte (FIN, opcode) and a mask.
fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    write_frame(&mut frame, opcode, payload);
    let header_len = frame.len() - payload.len();
    if !fin {
        frame[0] &= 0x7F;
    }
    frame[1] |= 0x80;
    let mask = [0x37, 0xFA, 0x21, 0x3D];
    frame.truncate(header_len);
    frame.extend_from_slice(&mask);
    let mut masked = payload.to_vec();
    unmask(&mut masked, mask);
    frame.extend_from_slice(&masked);
    frame
}

async fn next(server: &mut WebSocket<TcpStream>) -> Option<Result<Message, WebSocketError>> {
    tokio::time::timeout(Duration::from_secs(5), server.next())
        .await
        .expect("the server reads in time")
}

#[tokio::test]
async fn talks_to_tungstenite_both_ways_and_closes_cleanly() {
    let (mut server, client) = pair().await;
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    client
        .send(tungstenite::Message::text("hello"))
        .await
        .unwrap();
    client
        .send(tungstenite::Message::binary(vec![1, 2, 3]))
        .await
        .unwrap();
    client
        .send(tungstenite::Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Text("hello".into())
    );
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Binary(vec![1, 2, 3])
    );
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Ping(b"p".to_vec())
    );
    // The ping was answered without the owner writing anything.
    let pong = client.next().await.unwrap().unwrap();
    assert_eq!(pong, tungstenite::Message::Pong(Bytes::from_static(b"p")));

    let big = "x".repeat(70_000);
    server.feed(Message::Text(big.clone())).await.unwrap();
    server.feed(Message::Binary(vec![9; 200])).await.unwrap();
    server.flush().await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        tungstenite::Message::text(big)
    );
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        tungstenite::Message::binary(vec![9; 200])
    );
    assert!(
        server.write.capacity() == 0,
        "an idle socket keeps no write buffer"
    );
    assert!(
        server.read.capacity() == 0,
        "an idle socket keeps no read buffer"
    );

    client.close(None).await.unwrap();
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Close(None)
    );
    assert!(next(&mut server).await.is_none());
    // The echoed close completes tungstenite's closing handshake.
    let echo = client.next().await.unwrap().unwrap();
    assert_eq!(echo, tungstenite::Message::Close(None));
    // The server closes TCP after the handshake; the client then sees the end.
    drop(server);
    let end = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
    assert!(end.expect("the end in time").is_none());
}

#[tokio::test]
async fn the_server_closes_with_a_code_and_a_reason() {
    let (mut server, client) = pair().await;
    let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    let close = Message::Close(Some(CloseFrame {
        code: 4004,
        reason: "slow_consumer".into(),
    }));
    server.send(close).await.unwrap();
    match client.next().await.unwrap().unwrap() {
        tungstenite::Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::from(4004));
            assert_eq!(frame.reason.as_str(), "slow_consumer");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    let refused = server.send(Message::Text("late".into())).await;
    assert!(matches!(refused, Err(WebSocketError::Protocol(_))));
}

#[tokio::test]
async fn fragments_are_reassembled_around_control_frames_and_split_reads() {
    let (mut server, mut client) = pair().await;
    let mut bytes = client_frame(false, OpCode::Text, "hé".as_bytes());
    bytes.extend(client_frame(true, OpCode::Ping, b""));
    bytes.extend(client_frame(false, OpCode::Continuation, b"ll"));
    bytes.extend(client_frame(true, OpCode::Continuation, b"o"));
    // One byte per write: every header and payload arrives cut.
    let writer = tokio::spawn(async move {
        for byte in bytes {
            client.write_all(&[byte]).await.unwrap();
            client.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        client
    });
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Ping(vec![])
    );
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Text("héllo".into())
    );
    let mut client = writer.await.unwrap();
    let mut pong = [0u8; 2];
    client.read_exact(&mut pong).await.unwrap();
    assert_eq!(pong, [0x8A, 0x00]);
}

#[tokio::test]
async fn protocol_violations_end_the_stream_with_an_error() {
    let unmasked = vec![0x81, 0x02, b'h', b'i'];
    let not_utf8 = client_frame(true, OpCode::Text, &[0xC3, 0x28]);
    let orphan = client_frame(true, OpCode::Continuation, b"x");
    let mut interleaved = client_frame(false, OpCode::Binary, b"a");
    interleaved.extend(client_frame(true, OpCode::Binary, b"b"));
    let one_byte_close = client_frame(true, OpCode::Close, &[3]);
    for bytes in [unmasked, not_utf8, orphan, interleaved, one_byte_close] {
        let (mut server, mut client) = pair().await;
        client.write_all(&bytes).await.unwrap();
        let result = next(&mut server).await;
        assert!(
            matches!(result, Some(Err(WebSocketError::Protocol(_)))),
            "{bytes:02x?} gave {result:?}"
        );
        assert!(
            next(&mut server).await.is_none(),
            "nothing is read after an error"
        );
    }
}

#[tokio::test]
async fn messages_over_the_limit_are_refused_before_they_are_buffered() {
    let (mut server, mut client) = pair().await;
    // Only the header is sent: the length alone is enough to refuse.
    let frame = client_frame(true, OpCode::Binary, &vec![0; LIMIT + 1]);
    client.write_all(&frame[..8]).await.unwrap();
    let result = next(&mut server).await;
    assert!(matches!(
        result,
        Some(Err(WebSocketError::TooLarge { limit: LIMIT }))
    ));

    let (mut server, mut client) = pair().await;
    let mut fragments = client_frame(false, OpCode::Binary, &vec![0; LIMIT]);
    fragments.extend(client_frame(true, OpCode::Continuation, &[0]));
    client.write_all(&fragments).await.unwrap();
    let result = next(&mut server).await;
    assert!(matches!(result, Some(Err(WebSocketError::TooLarge { .. }))));
}

#[tokio::test]
async fn a_peer_that_vanishes_midframe_is_an_error_and_a_clean_eof_is_the_end() {
    let (mut server, mut client) = pair().await;
    client
        .write_all(&client_frame(true, OpCode::Text, b"hi")[..3])
        .await
        .unwrap();
    drop(client);
    assert!(matches!(
        next(&mut server).await,
        Some(Err(WebSocketError::Io(_)))
    ));

    let (mut server, client) = pair().await;
    drop(client);
    assert!(next(&mut server).await.is_none());
}
