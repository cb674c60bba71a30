//! The lean socket over real TCP, against tungstenite's client and hand-made bad frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pushgate_protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, frame::coding::CloseCode};
use tokio_tungstenite::tungstenite::{self, Bytes};

use super::frame::{OpCode, unmask, write_frame};
use super::{CloseFrame, MAX_UNSENT, Message, WebSocket, WebSocketError};

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
    let orphan = client_frame(true, OpCode::Continuation, b"x");
    let mut interleaved = client_frame(false, OpCode::Binary, b"a");
    interleaved.extend(client_frame(true, OpCode::Binary, b"b"));
    let one_byte_close = client_frame(true, OpCode::Close, &[3]);
    for bytes in [unmasked, orphan, interleaved, one_byte_close] {
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

/// A client close frame with `code` and `reason` bytes.
fn client_close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    client_frame(true, OpCode::Close, &payload)
}

/// Read one whole server frame off the raw client: (first byte, payload).
async fn server_frame(client: &mut (impl tokio::io::AsyncRead + Unpin)) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.unwrap();
    let len = match head[1] {
        126 => usize::from(client.read_u16().await.unwrap()),
        127 => client.read_u64().await.unwrap() as usize,
        len => usize::from(len),
    };
    let mut payload = vec![0; len];
    client.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

#[tokio::test]
async fn invalid_close_codes_fail_the_connection_with_1002_and_are_never_echoed() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        let (mut server, mut client) = pair().await;
        client.write_all(&client_close(code, b"")).await.unwrap();
        let error = next(&mut server).await.unwrap().unwrap_err();
        assert!(
            matches!(error, WebSocketError::Protocol(_)),
            "{code}: {error:?}"
        );
        assert_eq!(error.error_code(), Some(ErrorCode::ProtocolError));
        assert_eq!(server.unsent(), 0, "{code} was answered");
        // What the owner sends is the first and only frame the client sees: 1002.
        let fail = CloseFrame {
            code: 1002,
            reason: "protocol_error".into(),
        };
        server.send(Message::Close(Some(fail))).await.unwrap();
        let (first, payload) = server_frame(&mut client).await;
        assert_eq!((first, &payload[..2]), (0x88, &[0x03, 0xEA][..]), "{code}");
    }
}

#[tokio::test]
async fn valid_close_codes_are_echoed_and_end_reading() {
    for code in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        let (mut server, mut client) = pair().await;
        let mut bytes = client_close(code, "bye \u{e9}".as_bytes());
        // Data after the close is never read.
        bytes.extend(client_frame(true, OpCode::Text, b"late"));
        bytes.extend(client_close(1000, b""));
        client.write_all(&bytes).await.unwrap();
        let close = next(&mut server).await.unwrap().unwrap();
        let reason = "bye \u{e9}".to_owned();
        assert_eq!(close, Message::Close(Some(CloseFrame { code, reason })));
        assert!(next(&mut server).await.is_none());
        let (first, payload) = server_frame(&mut client).await;
        assert_eq!((first, payload), (0x88, code.to_be_bytes().to_vec()));
        // The close was answered: nothing more may be sent.
        let late = server.send(Message::Text("late".into())).await;
        assert!(matches!(late, Err(WebSocketError::Protocol(_))));
    }
}

#[tokio::test]
async fn a_close_reason_that_is_not_utf8_is_1007() {
    let (mut server, mut client) = pair().await;
    client
        .write_all(&client_close(1000, &[b'o', 0xFF, b'k']))
        .await
        .unwrap();
    let error = next(&mut server).await.unwrap().unwrap_err();
    assert!(matches!(error, WebSocketError::InvalidUtf8), "{error:?}");
    assert_eq!(error.error_code(), Some(ErrorCode::InvalidUtf8));
    assert_eq!(ErrorCode::InvalidUtf8.close_code(), 1007);
    assert_eq!(server.unsent(), 0, "the close was answered");
}

#[tokio::test]
async fn text_that_is_not_utf8_is_1007_whole_or_in_fragments() {
    let whole = client_frame(true, OpCode::Text, &[0xC3, 0x28]);
    let mut fragments = client_frame(false, OpCode::Text, b"ok");
    fragments.extend(client_frame(true, OpCode::Continuation, &[0xC3]));
    for bytes in [whole, fragments] {
        let (mut server, mut client) = pair().await;
        client.write_all(&bytes).await.unwrap();
        let error = next(&mut server).await.unwrap().unwrap_err();
        assert!(matches!(error, WebSocketError::InvalidUtf8), "{bytes:02x?}");
        assert!(next(&mut server).await.is_none());
    }
}

#[tokio::test]
async fn invalid_utf8_fails_when_its_byte_arrives_not_when_the_message_ends() {
    // A fragment with a bad byte, and no final fragment ever.
    let (mut server, mut client) = pair().await;
    let mut bytes = client_frame(false, OpCode::Text, "caf\u{e9} ".as_bytes());
    bytes.extend(client_frame(
        false,
        OpCode::Continuation,
        &[b'x', 0xF4, 0x90],
    ));
    client.write_all(&bytes).await.unwrap();
    let error = next(&mut server).await.unwrap().unwrap_err();
    assert!(matches!(error, WebSocketError::InvalidUtf8), "{error:?}");

    // One big frame of which only the start arrives, bad byte included.
    let (mut server, mut client) = pair().await;
    let mut text = vec![b'a'; 100];
    text.push(0xED);
    text.push(0xA0);
    text.resize(LIMIT, b'b');
    let frame = client_frame(true, OpCode::Text, &text);
    client.write_all(&frame[..8 + 102]).await.unwrap();
    let error = next(&mut server).await.unwrap().unwrap_err();
    assert!(matches!(error, WebSocketError::InvalidUtf8), "{error:?}");
}

#[tokio::test]
async fn a_character_cut_across_fragments_and_reads_is_text() {
    let (mut server, mut client) = pair().await;
    let text = "\u{1F600} d\u{e9}j\u{e0} vu \u{1F600}".repeat(40);
    let bytes = text.as_bytes();
    // Fragment edges inside the emoji and inside é; each fragment arrives in small reads.
    let mut frames = client_frame(false, OpCode::Text, &bytes[..2]);
    frames.extend(client_frame(false, OpCode::Continuation, &bytes[2..8]));
    frames.extend(client_frame(true, OpCode::Continuation, &bytes[8..]));
    let writer = tokio::spawn(async move {
        for piece in frames.chunks(7) {
            client.write_all(piece).await.unwrap();
            client.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        client
    });
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Text(text)
    );
    drop(writer.await.unwrap());
}

#[tokio::test]
async fn our_close_never_carries_a_code_the_wire_forbids() {
    for code in [1005, 1006, 1015, 0, 2000] {
        let (mut server, mut client) = pair().await;
        let frame = CloseFrame {
            code,
            reason: "no".into(),
        };
        server.send(Message::Close(Some(frame))).await.unwrap();
        assert_eq!(server_frame(&mut client).await, (0x88, vec![]), "{code}");
    }
    let (mut server, mut client) = pair().await;
    let long = CloseFrame {
        code: 4004,
        reason: "\u{e9}".repeat(100),
    };
    server.send(Message::Close(Some(long))).await.unwrap();
    let (_, payload) = server_frame(&mut client).await;
    assert!(payload.len() <= 125);
    assert!(std::str::from_utf8(&payload[2..]).is_ok());
    let again = server.send(Message::Close(None)).await;
    assert!(
        matches!(again, Err(WebSocketError::Protocol(_))),
        "one close only"
    );
}

#[tokio::test]
async fn a_client_that_pings_without_reading_gets_only_the_newest_pong_once_blocked() {
    let (mut server, mut client) = pair().await;
    let pings: usize = 200_000;
    let (mut client_read, mut client_write) = client.split();
    let flood = async move {
        let mut bytes = Vec::new();
        for i in 0..pings {
            let mut payload = [b'p'; 125];
            payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
            bytes.extend(client_frame(true, OpCode::Ping, &payload));
        }
        // 25 MB of pings: far more pongs than kernel buffers hold while the client reads none.
        client_write.write_all(&bytes).await.unwrap();
        client_write
            .write_all(&client_close(1000, b""))
            .await
            .unwrap();
    };
    let serve = async {
        let mut answered = 0;
        loop {
            match next(&mut server).await.unwrap().unwrap() {
                Message::Ping(_) => answered += 1,
                Message::Close(_) => break,
                other => panic!("unexpected {other:?}"),
            }
            // Never more than one pong queued plus the one pending.
            assert!(server.unsent() <= 127, "{} bytes unsent", server.unsent());
        }
        assert_eq!(answered, pings);
    };
    tokio::join!(flood, serve);
    let drain = async {
        let mut pongs = 0;
        let mut last = 0;
        loop {
            let (first, payload) = server_frame(&mut client_read).await;
            if first == 0x88 {
                break;
            }
            assert_eq!(first, 0x8A);
            pongs += 1;
            last = u64::from_be_bytes(payload[..8].try_into().unwrap());
        }
        (pongs, last)
    };
    let writing = async {
        server.flush().await.unwrap();
    };
    let ((pongs, last), ()) = tokio::join!(drain, writing);
    assert!(pongs < pings, "all {pings} pongs were kept");
    assert_eq!(last, pings as u64 - 1, "the newest ping is answered");
}

#[tokio::test]
async fn reading_stops_while_output_is_backed_up() {
    let (mut server, mut client) = pair().await;
    // Far more than the kernel buffers take while the client reads nothing.
    let big = vec![7u8; 32 << 20];
    server.feed(Message::Binary(big.clone())).await.unwrap();
    client
        .write_all(&client_frame(true, OpCode::Binary, b"after"))
        .await
        .unwrap();
    let blocked = tokio::time::timeout(Duration::from_millis(300), server.next()).await;
    assert!(
        blocked.is_err(),
        "read while {} bytes unsent",
        server.unsent()
    );
    assert!(server.unsent() > MAX_UNSENT);
    assert!(server.read.is_empty(), "nothing was read");
    // Once the client reads, the backlog drains and reading resumes.
    let reader = tokio::spawn(async move { server_frame(&mut client).await });
    assert_eq!(
        next(&mut server).await.unwrap().unwrap(),
        Message::Binary(b"after".to_vec())
    );
    // What the kernel did not take yet when reading resumed (up to `MAX_UNSENT`) goes out
    // as the socket is written on, as a connection does; awaiting the reader alone could
    // wait for bytes nobody writes.
    let (read, flushed) = tokio::join!(reader, server.flush());
    flushed.unwrap();
    assert_eq!(read.unwrap(), (0x82, big));
}
