//! Bad frames get error frames and the connection survives; limits close with their codes.

use pushgate_protocol::{ClientFrame, Codec, ErrorCode, ServerFrame};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Options, TestNode, WsClient};

async fn expect_error(client: &mut WsClient, want: ErrorCode) {
    match client.next().await {
        ServerFrame::Error { code, message } => {
            assert_eq!(code, want, "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected {want} error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_and_mistyped_frames_get_error_frames() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let mut bob = node.connect("bob").await;
    bob.send_raw(Message::Text("{not json".into())).await;
    expect_error(&mut bob, ErrorCode::BadFrame).await;
    bob.send_raw(Message::Text(r#"{"type":"subscribe"}"#.into()))
        .await;
    expect_error(&mut bob, ErrorCode::UnknownType).await;
    bob.send_raw(Message::Text(r#"{"type":"resume","after":42}"#.into()))
        .await;
    expect_error(&mut bob, ErrorCode::InvalidField).await;
    bob.send_raw(Message::Binary(vec![0xc1, 0x00].into())).await;
    expect_error(&mut bob, ErrorCode::BadFrame).await;

    let mut packer = WsClient::connect(node.addr(), &node.token("bob"), Codec::MsgPack, None)
        .await
        .expect("connects");
    packer
        .send_raw(Message::Binary(vec![0xc1, 0xff, 0x13].into()))
        .await;
    expect_error(&mut packer, ErrorCode::BadFrame).await;

    // Both connections survive and still get pushes.
    let id = node.post("alice", "still here").await;
    assert_eq!(bob.posts(1).await[0].0, id);
    assert_eq!(packer.posts(1).await[0].0, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_bad_frames_close_with_4003_and_others_are_unaffected() {
    let node = TestNode::start().await;
    node.follow("carol", "alice").await;
    let mut carol = node.connect("carol").await;
    let mut bob = node.connect("bob").await;
    for _ in 0..11 {
        bob.send_raw(Message::Text("garbage".into())).await;
    }
    let close = bob.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ErrorCode::TooManyErrors.close_code());
    let id = node.post("alice", "unaffected").await;
    assert_eq!(carol.posts(1).await[0].0, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_close_with_1009() {
    let node = TestNode::start().await;
    let mut bob = node.connect("bob").await;
    bob.send_raw(Message::Text("x".repeat(64 * 1024).into()))
        .await;
    let close = bob.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), 1009);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_protocol_violations_close_with_1002_and_plain_gets_get_problem_json() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let node = TestNode::start().await;
    let path = format!("/v1/ws?access_token={}", node.token("bob"));
    let (status, body) = node.call(reqwest::Method::GET, &path, "", None).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "protocol_error", "{body}");

    let old_version = reqwest::Client::new()
        .get(node.url(&path))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "8")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("answers");
    assert_eq!(old_version.status().as_u16(), 400);

    node.follow("carol", "alice").await;
    let mut carol = node.connect("carol").await;
    let mut bob = node.connect("bob").await;
    let reserved = Frame::message(b"?".to_vec(), OpCode::Data(Data::Reserved(3)), true);
    bob.send_raw(Message::Frame(reserved)).await;
    let close = bob.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), 1002);
    assert_eq!(close.reason.as_str(), "protocol_error");
    let id = node.post("alice", "unaffected").await;
    assert_eq!(carol.posts(1).await[0].0, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frame_floods_are_rate_limited() {
    let mut options = Options::default();
    options.config.frames_per_sec = std::num::NonZeroU32::new(2).expect("non-zero");
    options.config.max_bad_frames = 100;
    let node = TestNode::start_with(options).await;
    let mut bob = node.connect("bob").await;
    for _ in 0..10 {
        bob.send(&ClientFrame::Ping).await;
    }
    let mut limited = 0;
    for _ in 0..10 {
        match bob.next().await {
            ServerFrame::Pong => {}
            ServerFrame::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited >= 5, "only {limited} of 10 limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rest_bodies_get_problem_json_naming_the_field() {
    let node = TestNode::start().await;
    let token = node.token("alice");
    let cases = [
        (json!({ "content": 5 }), "content"),
        (json!({}), "content"),
        (json!({ "content": "" }), "content"),
        (
            json!({ "content": "x", "visibility": "secret" }),
            "visibility",
        ),
        (json!({ "content": "x", "extra": 1 }), "extra"),
    ];
    for (body, field) in cases {
        let response = node
            .http
            .post(node.url("/v1/posts"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: serde_json::Value = response.json().await.expect("json");
        assert_eq!(problem["status"], 400);
        assert!(
            problem["field"].as_str().is_some_and(|f| f.contains(field))
                || problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(field)),
            "{body} -> {problem}"
        );
    }
    let response = node
        .http
        .post(node.url("/v1/posts"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"content\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let huge = json!({ "content": "x".repeat(100_000) });
    let (status, problem) = node
        .call(reqwest::Method::POST, "/v1/posts", &token, Some(huge))
        .await;
    assert_eq!(status, 413, "{problem}");
    let (status, problem) = node
        .call(reqwest::Method::GET, "/v1/posts?ids=1,x", &token, None)
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("ids")));
    let (status, problem) = node
        .call(reqwest::Method::GET, "/v1/feed?limit=abc", &token, None)
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("limit")),
        "{problem}"
    );
    let (status, _) = node
        .call(reqwest::Method::GET, "/v1/feed", "nonsense", None)
        .await;
    assert_eq!(status, 401);
}
