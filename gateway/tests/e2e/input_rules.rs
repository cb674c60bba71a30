//! Input rules at the edges: out-of-range cursors, user IDs, the follow limit.

use std::num::NonZeroUsize;

use pushgate_fanout::api::ApiLimits;
use pushgate_fanout::testing::eventually;
use pushgate_protocol::{ClientFrame, Codec, Cursor, ServerFrame};
use reqwest::Method;
use serde_json::json;
use tokio_tungstenite::tungstenite;

use crate::support::{Options, TestNode, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_cursor_answers_like_any_cursor_past_the_head() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    node.post("alice", "one").await;
    let feeds = node.node.gateway().backplane.feeds.clone();
    eventually("the post to reach bob's feed", || async {
        feeds.head("bob").await.expect("head") >= 1
    })
    .await;
    let bob = node.token("bob");
    // A cursor from the future (a store reset, or made up) answers from the start of the
    // feed, said to be incomplete, whatever its size.
    let mut answers = Vec::new();
    for since in [
        "1000:0",
        "18446744073709551614:0",
        "18446744073709551615:0",
        "0:1000",
    ] {
        let (status, body) = node
            .call(Method::GET, &format!("/v1/feed?since={since}"), &bob, None)
            .await;
        assert_eq!(status, 200, "{since}: {body}");
        assert_eq!(body["complete"], false, "{since}: {body}");
        assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
        answers.push(body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let (_, caught_up) = node
        .call(Method::GET, "/v1/feed?since=1:0", &bob, None)
        .await;
    assert_eq!(caught_up["complete"], true, "{caught_up}");
    let (status, problem) = node
        .call(
            Method::GET,
            "/v1/feed?since=18446744073709551616:0",
            &bob,
            None,
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("since")));

    // Over the socket, the largest cursor is a cursor from the future like any other:
    // the whole feed, said to be incomplete.
    for after in [Cursor::new(1000, 0), Cursor::new(u64::MAX, u64::MAX)] {
        let mut client = WsClient::connect(node.addr(), &bob, Codec::Json, None)
            .await
            .expect("connects");
        client.send(&ClientFrame::Resume { after }).await;
        assert_eq!(client.posts(1).await.len(), 1);
        match client.next().await {
            ServerFrame::Resumed { replayed, complete } => {
                assert_eq!((replayed, complete), (1, false), "{after}");
            }
            other => panic!("expected resumed, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_reordering_and_comma_user_ids_are_refused_everywhere() {
    let node = TestNode::start().await;
    let bob = node.token("bob");
    for (author, encoded) in [
        ("a\u{200B}b", "a%E2%80%8Bb"),
        ("a\u{202E}b", "a%E2%80%AEb"),
        ("a,b", "a,b"),
        ("a\u{7}b", "a%07b"),
    ] {
        let (status, problem) = node
            .call(Method::PUT, &format!("/v1/follows/{encoded}"), &bob, None)
            .await;
        assert_eq!(status, 400, "{author:?}: {problem}");
        assert_eq!(problem["field"], "author");
        let (status, problem) = node
            .call(
                Method::POST,
                "/v1/dev/token",
                "",
                Some(json!({ "user": author })),
            )
            .await;
        assert_eq!((status, problem["field"].as_str()), (400, Some("user")));
    }
    let (status, problem) = node
        .call(
            Method::GET,
            "/v1/presence?users=bob,a%E2%80%8Db",
            &bob,
            None,
        )
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("users")));
    // 129 bytes in 43 characters: the bound counts bytes.
    let long = "%E7%94%A8".repeat(43);
    let (status, _) = node
        .call(Method::PUT, &format!("/v1/follows/{long}"), &bob, None)
        .await;
    assert_eq!(status, 400);

    // A token whose subject breaks the rule is refused before the upgrade.
    let spoof = node.token("alice\u{202E}nimda");
    match WsClient::connect(node.addr(), &spoof, Codec::Json, None).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|c| c.welcome)),
    }
    let (status, _) = node.call(Method::GET, "/v1/feed", &spoof, None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_past_the_limit_is_a_409_naming_the_field() {
    let node = TestNode::start_with(Options {
        limits: ApiLimits {
            max_following: NonZeroUsize::new(2).expect("non-zero"),
            ..Options::default().limits
        },
        ..Options::default()
    })
    .await;
    node.follow("bob", "a1").await;
    node.follow("bob", "a2").await;
    let bob = node.token("bob");
    let (status, problem) = node.call(Method::PUT, "/v1/follows/a3", &bob, None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "limit_reached");
    assert_eq!(problem["field"], "author");
    // Following someone already followed still succeeds; unfollowing makes room.
    node.follow("bob", "a2").await;
    let (status, _) = node
        .call(Method::DELETE, "/v1/follows/a1", &bob, None)
        .await;
    assert_eq!(status, 204);
    node.follow("bob", "a3").await;
}
