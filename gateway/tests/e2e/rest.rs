//! The REST sidecar: idempotency, feed paging, follows, delete, connect, presence, operations.

use std::time::Duration;

use pushgate_fanout::testing::eventually;
use reqwest::Method;
use serde_json::json;

use crate::support::{TestNode, metrics_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_return_the_same_post_and_fan_out_once() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let mut bob = node.connect("bob").await;
    let send = |content: &'static str| {
        node.http
            .post(node.url("/v1/posts"))
            .bearer_auth(node.api_key())
            .header("idempotency-key", "retry-1")
            .json(&json!({ "content": content, "author": "alice" }))
            .send()
    };
    let first = send("once").await.expect("request");
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.expect("json");
    let again = send("once").await.expect("request");
    assert_eq!(again.status(), 200);
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(first, again);
    assert_eq!(send("different").await.expect("request").status(), 409);
    assert_eq!(bob.posts(1).await[0].0, first["id"].as_u64().expect("id"));
    bob.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_pages_back_in_time_and_catches_up_after_a_cursor() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(node.post("alice", &format!("p{i}")).await);
    }
    let token = node.token("bob");
    // Fan-out runs behind the 201s: connect once bob's feed holds all seven, so none of them
    // arrives as a live push.
    eventually("fan-out to finish", || async {
        let (_, page) = node
            .call(Method::GET, "/v1/feed?limit=10", &token, None)
            .await;
        let done = page["items"].as_array().map(Vec::len) == Some(ids.len());
        done.then_some(()).ok_or(page)
    })
    .await;
    let mut bob = node.connect("bob").await;
    bob.silent_for(Duration::from_millis(200)).await;
    let mut seen = Vec::new();
    let mut path = "/v1/feed?limit=3".to_owned();
    loop {
        let (status, page) = node.call(Method::GET, &path, &token, None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["id"].as_u64().expect("id")),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/feed?limit=3&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids.iter().rev().copied().collect::<Vec<_>>());
    let (_, caught) = node
        .call(Method::GET, "/v1/feed?since=4:0", &token, None)
        .await;
    let after: Vec<u64> = caught["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(after, ids[4..].to_vec());
    assert_eq!(
        (caught["cursor"].as_str(), caught["complete"].as_bool()),
        (Some("7:0"), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfollow_stops_pushes_and_delete_is_author_only() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let (status, _) = node
        .call(
            Method::DELETE,
            "/v1/follows/alice",
            &node.token("bob"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = node
        .call(Method::PUT, "/v1/follows/bob", &node.token("bob"), None)
        .await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("author")));
    let mut bob = node.connect("bob").await;
    let id = node.post("alice", "after unfollow").await;
    bob.silent_for(Duration::from_millis(300)).await;

    let path = format!("/v1/posts/{id}");
    assert_eq!(
        node.call(Method::DELETE, &path, &node.token("bob"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        node.call(Method::DELETE, &path, &node.token("alice"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        node.call(Method::GET, &path, &node.token("alice"), None)
            .await
            .0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_presence_and_operations_endpoints_answer() {
    let node = TestNode::start().await;
    let (status, connect) = node
        .call(Method::GET, "/v1/connect", &node.token("bob"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(connect["node"], "dev");
    assert_eq!(connect["url"], format!("ws://{}/v1/ws", node.addr()));

    let _bob = node.connect("bob").await;
    let _bob_too = node.connect("bob").await;
    let presence = eventually("presence to show both of bob's sockets", || async {
        let (_, presence) = node
            .call(
                Method::GET,
                "/v1/presence?users=bob,nobody",
                node.api_key(),
                None,
            )
            .await;
        let shown = presence["users"][0]["connections"] == 2;
        if shown { Ok(presence) } else { Err(presence) }
    })
    .await;
    assert_eq!(presence["users"][0]["online"], true);
    assert_eq!(presence["users"][1]["online"], false);
    assert_eq!(presence["users"][1]["last_seen"], serde_json::Value::Null);

    assert_eq!(
        node.http
            .get(node.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    let ready: serde_json::Value = node
        .http
        .get(node.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["ready"], true, "{ready}");
    let metrics = metrics_text(node.addr()).await;
    assert!(metrics.contains("pushgate_connections"), "{metrics}");
    let spec: serde_json::Value = node
        .http
        .get(node.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(spec["paths"]["/v1/posts"]["post"].is_object());
    for (path, method) in [
        ("/v1/notify", "post"),
        ("/v1/presence", "get"),
        ("/v1/follows/batch", "post"),
        ("/v1/users/{user}/follows/{author}", "put"),
        ("/v1/users/{user}/follows/{author}", "delete"),
        ("/v1/users/{user}/follows", "get"),
        ("/v1/users/{user}/followers", "get"),
        ("/v1/users/{user}/disconnect", "post"),
    ] {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} in the spec"
        );
    }
    assert!(
        spec["paths"]["/v1/notify"]["post"]["parameters"]
            .to_string()
            .contains("Idempotency-Key"),
        "notify documents its idempotency key"
    );

    let (status, minted) = node
        .call(
            Method::POST,
            "/v1/dev/token",
            "",
            Some(json!({ "user": "newbie" })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        node.verifier
            .verify(minted["token"].as_str().expect("token"))
            .await
            .expect("valid")
            .sub,
        "newbie"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_private_to_friends_and_counts_to_the_service() {
    let node = TestNode::start().await;
    // alice and bob follow each other (friends); carol follows alice, who does not follow back.
    node.follow("alice", "bob").await;
    node.follow("bob", "alice").await;
    node.follow("carol", "alice").await;
    let _alice = node.connect("alice").await;
    let ask = async |caller: &str, users: &str| {
        let (status, body) = node
            .call(
                Method::GET,
                &format!("/v1/presence?users={users}"),
                caller,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["users"].as_array().expect("users").clone()
    };
    // The service sees every field, once the connect is published.
    let seen = eventually("alice to be online", || async {
        let seen = ask(node.api_key(), "alice,carol").await;
        if seen[0]["online"] == true {
            Ok(seen)
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await;
    assert_eq!(seen[0]["connections"], 1);
    assert_eq!(seen[1]["user"], "carol");
    // A friend learns that alice is online, not how many devices she has open.
    let for_bob = ask(&node.token("bob"), "alice,carol,nobody").await;
    assert_eq!(for_bob.len(), 1, "only the friend: {for_bob:?}");
    assert_eq!(for_bob[0]["user"], "alice");
    assert_eq!(for_bob[0]["online"], true);
    assert!(for_bob[0].get("connections").is_none(), "{for_bob:?}");
    // Following alice without her following back, or being a stranger, shows nothing.
    assert!(ask(&node.token("carol"), "alice").await.is_empty());
    assert!(ask(&node.token("mallory"), "alice,bob").await.is_empty());
    // Anyone sees themselves.
    let own = ask(&node.token("alice"), "alice,carol").await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["user"], "alice");
}
