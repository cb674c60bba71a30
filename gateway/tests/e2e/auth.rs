//! Tokens: 401 before upgrade, expiry closes unless refreshed, users only get their own pushes.

use std::time::Duration;

use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{ClientFrame, Codec, ErrorCode, ServerFrame};
use tokio_tungstenite::tungstenite;

use crate::support::{TestNode, WsClient};

fn status_of(error: tungstenite::Error) -> u16 {
    match error {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_invalid_tokens_are_refused_before_upgrade() {
    let node = TestNode::start().await;
    let url = format!("ws://{}/v1/ws", node.addr());
    let missing = tokio_tungstenite::connect_async(&url)
        .await
        .expect_err("refused");
    assert_eq!(status_of(missing), 401);
    let forged = TokenVerifier::new("some-other-secret-entirely", "k").mint("bob", 60);
    let invalid = WsClient::connect(node.addr(), &forged, Codec::Json, None)
        .await
        .err()
        .expect("refused");
    assert_eq!(status_of(invalid), 401);
    // Browsers pass the token in the query string.
    let ok = format!("{url}?access_token={}", node.token("bob"));
    assert!(tokio_tungstenite::connect_async(&ok).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_close_the_socket_unless_refreshed() {
    let node = TestNode::start().await;
    let short = node.verifier.mint("bob", 2);
    let mut lapsing = WsClient::connect(node.addr(), &short, Codec::Json, None)
        .await
        .expect("connects");
    let mut refreshed = WsClient::connect(node.addr(), &short, Codec::Json, None)
        .await
        .expect("connects");
    refreshed
        .send(&ClientFrame::Refresh {
            token: node.token("bob"),
        })
        .await;
    let close = lapsing.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), ErrorCode::TokenExpired.close_code());
    // The refreshed connection outlives the original expiry and still gets pushes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    refreshed.send(&ClientFrame::Ping).await;
    assert_eq!(refreshed.next().await, ServerFrame::Pong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_for_another_user_is_refused_and_pushes_stay_private() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let mut mallory = node.connect("mallory").await;
    mallory
        .send(&ClientFrame::Refresh {
            token: node.token("bob"),
        })
        .await;
    match mallory.next().await {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::Unauthorized),
        other => panic!("expected an error, got {other:?}"),
    }
    let mut bob = node.connect("bob").await;
    let id = node.post("alice", "for bob only").await;
    assert_eq!(bob.posts(1).await[0].0, id);
    mallory.silent_for(Duration::from_millis(300)).await;
}
