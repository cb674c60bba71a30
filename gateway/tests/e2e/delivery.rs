//! Posts reach followers (every device, either codec) and nobody else; bodies over REST.

use std::time::Duration;

use crate::support::{TestNode, WsClient, metrics_text};
use pushgate_protocol::{Codec, ServerFrame};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_reach_every_follower_device_and_never_a_non_follower() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    node.follow("carol", "alice").await;
    let mut bob = node.connect("bob").await;
    let mut bob_phone = WsClient::connect(node.addr(), &node.token("bob"), Codec::MsgPack, None)
        .await
        .expect("connects");
    let mut carol = node.connect("carol").await;
    let mut dave = node.connect("dave").await;
    let alice_sees_own = node.connect("alice").await;
    drop(alice_sees_own);

    let id = node.post("alice", "hello followers").await;
    for client in [&mut bob, &mut bob_phone, &mut carol] {
        match client.next().await {
            ServerFrame::Post {
                id: got,
                author,
                ts,
                cursor,
            } => {
                assert_eq!(got, id);
                assert_eq!(author, "alice");
                assert!(ts > 0);
                assert_eq!(cursor.feed, 1);
            }
            other => panic!("expected the post, got {other:?}"),
        }
    }
    dave.silent_for(Duration::from_millis(300)).await;

    // The server's share of each push's latency is exported, stage by stage.
    let metrics = metrics_text(node.addr()).await;
    for stage in [
        "worker_event_age",
        "worker_fanout",
        "dispatch_age",
        "push_age",
    ] {
        let bucket = format!("pushgate_{stage}_seconds_bucket{{le=\"0.025\"}}");
        assert!(metrics.contains(&bucket), "no {bucket} in {metrics}");
    }

    let (status, body) = node
        .call(
            reqwest::Method::GET,
            &format!("/v1/posts?ids={id},999999"),
            &node.token("bob"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["posts"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["posts"][0]["content"], "hello followers");
    let (status, body) = node
        .call(
            reqwest::Method::GET,
            &format!("/v1/posts/{id}"),
            &node.token("dave"),
            None,
        )
        .await;
    assert_eq!(status, 200, "public posts are readable by anyone: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_is_enforced_on_reads_and_private_posts_are_not_pushed() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let mut bob = node.connect("bob").await;
    let private = node
        .post_with(
            "alice",
            json!({ "content": "diary", "visibility": "private" }),
        )
        .await;
    let followers_only = node
        .post_with(
            "alice",
            json!({ "content": "friends", "visibility": "followers" }),
        )
        .await;
    // The private post is never pushed; the followers-only one is.
    assert_eq!(bob.posts(1).await[0].0, followers_only);

    let get = |user: &'static str, id: u64| {
        let node = &node;
        async move {
            node.call(
                reqwest::Method::GET,
                &format!("/v1/posts/{id}"),
                &node.token(user),
                None,
            )
            .await
            .0
        }
    };
    assert_eq!(get("alice", private).await, 200);
    assert_eq!(get("bob", private).await, 404);
    assert_eq!(get("bob", followers_only).await, 200);
    assert_eq!(get("eve", followers_only).await, 404);
    let (_, batch) = node
        .call(
            reqwest::Method::GET,
            &format!("/v1/posts?ids={private},{followers_only}"),
            &node.token("eve"),
            None,
        )
        .await;
    assert_eq!(batch["posts"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_pushed_to_named_users_only() {
    let node = TestNode::start().await;
    let mut bob = node.connect("bob").await;
    let mut eve = node.connect("eve").await;
    let body = json!({ "users": ["bob"], "kind": "mention", "data": { "by": "alice" } });
    let (status, accepted) = node
        .call(
            reqwest::Method::POST,
            "/v1/notify",
            node.api_key(),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    match bob.next().await {
        ServerFrame::Notify { id, kind, data, .. } => {
            assert_eq!(Some(id), accepted["id"].as_u64());
            assert_eq!(kind, "mention");
            assert_eq!(data, json!({ "by": "alice" }));
        }
        other => panic!("expected a notification, got {other:?}"),
    }
    eve.silent_for(Duration::from_millis(300)).await;
    // Users cannot send notifications.
    let (status, _) = node
        .call(
            reqwest::Method::POST,
            "/v1/notify",
            &node.token("bob"),
            Some(body),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_notification_with_an_idempotency_key_is_delivered_once() {
    let node = TestNode::start().await;
    let mut bob = node.connect("bob").await;
    let notify = async |key: Option<&str>, body: &serde_json::Value| {
        let mut request = node
            .http
            .post(node.url("/v1/notify"))
            .bearer_auth(node.api_key())
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        (
            status,
            response.json::<serde_json::Value>().await.expect("json"),
        )
    };
    let body = json!({ "users": ["bob"], "kind": "mention", "data": { "n": 1 } });
    let (status, first) = notify(Some("retry-me"), &body).await;
    assert_eq!(status, 202, "{first}");
    let (status, retry) = notify(Some("retry-me"), &body).await;
    assert_eq!(status, 200, "a replay: {retry}");
    assert_eq!(retry["id"], first["id"]);
    let other = json!({ "users": ["bob"], "kind": "mention", "data": { "n": 2 } });
    let (status, conflict) = notify(Some("retry-me"), &other).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["code"], "conflict");
    let (status, bad) = notify(Some(""), &body).await;
    assert_eq!(status, 400, "{bad}");

    // Bob gets the first one, then the next distinct one: never the retry.
    let (status, next) = notify(None, &other).await;
    assert_eq!(status, 202, "{next}");
    for expected in [&first, &next] {
        match bob.next().await {
            ServerFrame::Notify { id, .. } => assert_eq!(Some(id), expected["id"].as_u64()),
            frame => panic!("expected a notification, got {frame:?}"),
        }
    }
}
