//! `POST /v1/users/{user}/disconnect`: every socket of the user closes with 4001; with
//! `revoke_tokens`, older tokens are refused at connect, refresh and REST.

use pushgate_fanout::testing::eventually;
use pushgate_protocol::{Codec, ErrorCode};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite;

use crate::support::{TestNode, WsClient};

fn refused_status(result: Result<WsClient, tungstenite::Error>) -> Option<u16> {
    match result {
        Err(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
        Err(other) => panic!("expected an HTTP answer, got {other}"),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_closes_every_socket_and_revoke_refuses_older_tokens() {
    let node = TestNode::start().await;
    let old = node.token("alice");
    let mut phone = WsClient::connect(node.addr(), &old, Codec::Json, None)
        .await
        .expect("connects");
    let mut laptop = WsClient::connect(node.addr(), &old, Codec::Json, None)
        .await
        .expect("connects");
    let mut bob = node.connect("bob").await;

    // Users cannot disconnect anyone.
    let (status, _) = node
        .call(
            Method::POST,
            "/v1/users/alice/disconnect",
            &node.token("bob"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 403);

    let (status, body) = node
        .call(
            Method::POST,
            "/v1/users/alice/disconnect",
            node.api_key(),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    for socket in [&mut phone, &mut laptop] {
        let close = socket.closed().await.expect("a close frame");
        assert_eq!(u16::from(close.code), ErrorCode::Unauthorized.close_code());
        assert_eq!(u16::from(close.code), 4001);
    }
    // Without revoke_tokens the same token connects again.
    let mut phone = WsClient::connect(node.addr(), &old, Codec::Json, None)
        .await
        .expect("reconnects");

    let (status, body) = node
        .call(
            Method::POST,
            "/v1/users/alice/disconnect",
            node.api_key(),
            Some(json!({ "revoke_tokens": true })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let close = phone.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 4001);
    assert_eq!(
        refused_status(WsClient::connect(node.addr(), &old, Codec::Json, None).await),
        Some(401),
        "the old token is refused at connect"
    );
    let (status, _) = node.call(Method::GET, "/v1/feed", &old, None).await;
    assert_eq!(status, 401, "and on REST");

    // A token issued after the revocation (iat in a later second) works.
    let mut fresh = eventually("a token issued after the revocation", || async {
        let token = node.token("alice");
        WsClient::connect(node.addr(), &token, Codec::Json, None)
            .await
            .map(|client| (client, token))
    })
    .await;
    // A refresh with the revoked token is refused on the new socket.
    fresh
        .0
        .send(&pushgate_protocol::ClientFrame::Refresh { token: old.clone() })
        .await;
    match fresh.0.next().await {
        pushgate_protocol::ServerFrame::Error { code, .. } => {
            assert_eq!(code, ErrorCode::Unauthorized)
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    let (status, _) = node.call(Method::GET, "/v1/feed", &fresh.1, None).await;
    assert_eq!(status, 200);

    // Bob was never touched.
    bob.send(&pushgate_protocol::ClientFrame::Ping).await;
    assert_eq!(bob.next().await, pushgate_protocol::ServerFrame::Pong);
}
