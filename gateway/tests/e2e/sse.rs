//! `GET /v1/sse`: the WebSocket's admission, pushes and resume over Server-Sent Events.

use std::time::Duration;

use pushgate_protocol::{Codec, Cursor, ErrorCode, ServerFrame};

use crate::support::{Options, SseClient, SseItem, SseRequest, TestNode, WAIT, WsClient};

/// Wait until `check` holds, polling the node's state.
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "waited for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_bad_token_is_refused_with_401_before_the_stream() {
    let node = TestNode::start().await;
    for request in [
        SseRequest::default(),
        SseRequest {
            bearer: Some("not-a-jwt".into()),
            ..SseRequest::default()
        },
        SseRequest {
            access_token: Some(node.verifier.mint("bob", 0)),
            ..SseRequest::default()
        },
    ] {
        let Err((status, problem)) = SseClient::open(node.addr(), &request).await else {
            panic!("{request:?} was admitted");
        };
        assert_eq!(status, 401, "{request:?}: {problem}");
        assert!(
            ["unauthorized", "token_expired"].contains(&problem["code"].as_str().unwrap_or("")),
            "{problem}"
        );
    }
    assert_eq!(node.node.gateway().registry.connections(), 0);
    let bad_cursor = SseRequest {
        bearer: Some(node.token("bob")),
        last_event_id: Some("nope".into()),
        ..SseRequest::default()
    };
    let (status, problem) = SseClient::open(node.addr(), &bad_cursor)
        .await
        .err()
        .expect("refused");
    assert_eq!((status, &problem["field"]), (400, &"Last-Event-ID".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_arrive_as_events_with_their_cursor_as_id() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let request = SseRequest {
        access_token: Some(node.token("bob")),
        ..SseRequest::default()
    };
    let mut bob = SseClient::open(node.addr(), &request).await.expect("opens");
    let headers = bob.response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let welcome = bob.next_event().await;
    assert_eq!(
        (welcome.event.as_str(), welcome.id.as_ref()),
        ("welcome", None)
    );
    assert!(matches!(welcome.frame(), ServerFrame::Welcome { ref user, .. } if user == "bob"));

    let ids = [
        node.post("alice", "one").await,
        node.post("alice", "two").await,
    ];
    for (want, number) in ids.into_iter().zip(1..) {
        let event = bob.next_event().await;
        let frame = event.frame();
        let ServerFrame::Post { id, cursor, .. } = frame else {
            panic!("expected a post, got {event:?}");
        };
        assert_eq!((event.event.as_str(), id), ("post", want));
        assert_eq!(cursor, Cursor::new(number, 0));
        assert_eq!(event.id, Some(cursor.to_string()));
        // The data is the frame exactly as the WebSocket's JSON codec writes it.
        assert_eq!(
            event.data.as_bytes(),
            Codec::Json.encode(&frame).expect("encodes")
        );
    }
    assert_eq!(bob.last_event_id, "2:0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_with_exactly_the_missed_posts_once_in_order() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let (mut bob, _) = SseClient::connect(&node, "bob").await;
    node.post("alice", "seen").await;
    bob.posts(1).await;
    let last = bob.last_event_id.clone();
    drop(bob);

    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(node.post("alice", &format!("missed {i}")).await);
    }
    // An EventSource reconnects to the URL it was given (here with an older `?after=`) and
    // says where it got to in the header, which wins.
    let request = SseRequest {
        bearer: Some(node.token("bob")),
        last_event_id: Some(last),
        after: Some(Cursor::default()),
        ..SseRequest::default()
    };
    let mut bob = SseClient::open(node.addr(), &request).await.expect("opens");
    assert_eq!(bob.next_event().await.event, "welcome");
    let replayed = bob.posts(5).await;
    assert_eq!(
        replayed.iter().map(|(id, ..)| *id).collect::<Vec<_>>(),
        missed
    );
    for (_, cursor, id) in &replayed {
        assert_eq!(id.as_deref(), Some(cursor.to_string().as_str()));
    }
    let resumed = bob.next_event().await;
    assert_eq!(resumed.event, "resumed");
    assert_eq!(resumed.id, None);
    assert_eq!(
        resumed.frame(),
        ServerFrame::Resumed {
            replayed: 5,
            complete: true
        }
    );
    let live = node.post("alice", "live").await;
    assert_eq!(bob.posts(1).await[0].0, live);
    bob.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_in_the_query_resumes_too() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    // Bob's socket sees the three posts live, so they are in his feed before he resumes.
    let mut probe = node.connect("bob").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(node.post("alice", &format!("p{i}")).await);
    }
    probe.posts(3).await;
    drop(probe);
    let request = SseRequest {
        bearer: Some(node.token("bob")),
        after: Some(Cursor::new(1, 0)),
        ..SseRequest::default()
    };
    let mut bob = SseClient::open(node.addr(), &request).await.expect("opens");
    assert_eq!(bob.next_event().await.event, "welcome");
    let replayed = bob.posts(2).await;
    assert_eq!(
        replayed.iter().map(|(id, ..)| *id).collect::<Vec<_>>(),
        ids[1..]
    );
    assert_eq!(
        bob.next_event().await.frame(),
        ServerFrame::Resumed {
            replayed: 2,
            complete: true
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_sends_reconnect_then_ends_the_stream() {
    let node = TestNode::start().await;
    let (mut bob, _) = SseClient::connect(&node, "bob").await;
    let own_url = format!("ws://{}/v1/ws", node.addr());
    let shutdown = tokio::spawn(node.node.shutdown());
    let events = bob.until_end().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].event.as_str(), events[0].id.as_ref()),
        ("reconnect", None)
    );
    match events[0].frame() {
        ServerFrame::Reconnect { url, .. } => assert_eq!(url, own_url),
        other => panic!("expected reconnect, got {other:?}"),
    }
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("drains in time")
        .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_sends_token_expired_then_ends_the_stream() {
    let node = TestNode::start().await;
    let request = SseRequest {
        bearer: Some(node.verifier.mint("bob", 2)),
        ..SseRequest::default()
    };
    let mut bob = SseClient::open(node.addr(), &request).await.expect("opens");
    let events = bob.until_end().await;
    let kinds: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(kinds, ["welcome", "error"]);
    match events[1].frame() {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::TokenExpired),
        other => panic!("expected an error, got {other:?}"),
    }
    let gateway = node.node.gateway();
    until("the expired stream to leave", || {
        gateway.registry.connections() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_websockets_share_the_per_user_cap() {
    let mut options = Options::default();
    options.config.max_connections_per_user = 2;
    let node = TestNode::start_with(options).await;
    let _socket = node.connect("bob").await;
    let (stream, _) = SseClient::connect(&node, "bob").await;
    let request = SseRequest {
        bearer: Some(node.token("bob")),
        ..SseRequest::default()
    };
    let (status, problem) = SseClient::open(node.addr(), &request)
        .await
        .err()
        .expect("over the cap");
    assert_eq!(status, 429);
    assert_eq!(problem["code"], "too_many_connections");
    let refused = WsClient::connect(node.addr(), &node.token("bob"), Codec::Json, None).await;
    assert!(refused.is_err(), "a WebSocket over the cap was admitted");
    // Closing the stream frees its slot.
    drop(stream);
    let gateway = node.node.gateway();
    until("the closed stream to leave", || {
        gateway.registry.connections() == 1
    })
    .await;
    SseClient::connect(&node, "bob").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_comments_and_a_silent_client_is_not_reaped() {
    let mut options = Options::default();
    options.config.heartbeat = Duration::from_millis(200);
    options.config.idle_timeout = Duration::from_millis(700);
    let node = TestNode::start_with(options).await;
    let (mut bob, _) = SseClient::connect(&node, "bob").await;
    let mut pings = 0;
    // Well past the idle timeout: an event stream's client never sends, so silence is no
    // sign it left.
    while pings < 6 {
        match bob.try_next_item(Duration::from_secs(5)).await {
            Some(SseItem::Comment(text)) => {
                assert_eq!(text, "ping");
                pings += 1;
            }
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }
    assert_eq!(node.node.gateway().registry.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_served_through_hyper_is_the_same_stream() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    // More headers than the early path parses: hyper and the router serve this one.
    let request = SseRequest {
        bearer: Some(node.token("bob")),
        extra_headers: (0..40)
            .map(|i| (format!("x-pad-{i}"), "v".into()))
            .collect(),
        ..SseRequest::default()
    };
    let mut bob = SseClient::open(node.addr(), &request).await.expect("opens");
    let headers = bob.response.headers();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert_eq!(bob.next_event().await.event, "welcome");
    let id = node.post("alice", "through hyper").await;
    let posts = bob.posts(1).await;
    assert_eq!((posts[0].0, posts[0].2.as_deref()), (id, Some("1:0")));
    let (status, _) = SseClient::open(
        node.addr(),
        &SseRequest {
            extra_headers: request.extra_headers.clone(),
            ..SseRequest::default()
        },
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(status, 401);
    // The client leaving ends the connection there too.
    drop(bob);
    let gateway = node.node.gateway();
    until("the stream to leave", || {
        gateway.registry.connections() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_take_from_the_handshake_budget_of_their_address() {
    let mut options = Options::default();
    options.config.handshakes_per_sec = std::num::NonZeroU32::new(1).expect("non-zero");
    let node = TestNode::start_with(options).await;
    let mut open = Vec::new();
    let refused = loop {
        let request = SseRequest {
            bearer: Some(node.token(&format!("user{}", open.len()))),
            ..SseRequest::default()
        };
        match SseClient::open(node.addr(), &request).await {
            Ok(stream) => open.push(stream),
            Err(refusal) => break refusal,
        }
        assert!(open.len() <= 10, "the budget never ran out");
    };
    assert_eq!(refused.0, 429);
    assert_eq!(refused.1["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_falls_behind_is_folded_and_no_id_passes_the_fold() {
    let mut options = Options::default();
    options.config.mailbox_capacity = 4;
    // The flood must fold, not close the stream as a slow consumer.
    options.config.write_timeout = Duration::from_secs(60);
    let node = TestNode::start_with(options).await;
    let (mut bob, _) = SseClient::connect(&node, "bob").await;
    // Not read meanwhile: far more than the socket buffers of an unread stream hold.
    let rounds = 600u64;
    let data = serde_json::json!({ "blob": "x".repeat(15_000) });
    for _ in 0..rounds {
        let body = serde_json::json!({ "users": ["bob"], "kind": "bulk", "data": data });
        let (status, problem) = node
            .call(
                reqwest::Method::POST,
                "/v1/notify",
                node.api_key(),
                Some(body),
            )
            .await;
        assert_eq!(status, 202, "{problem}");
    }
    let (mut delivered, mut folded, mut ids_after_fold) = (0, 0, 0);
    let mut last_id = None;
    while delivered + folded < rounds {
        let event = bob.next_event().await;
        match event.frame() {
            ServerFrame::Notify { cursor, .. } if folded == 0 => {
                assert_eq!(event.id, Some(cursor.to_string()));
                last_id = event.id;
                delivered += 1;
            }
            ServerFrame::Notify { .. } => {
                ids_after_fold += usize::from(event.id.is_some());
                delivered += 1;
            }
            ServerFrame::FeedAdvanced { count, .. } => {
                assert_eq!(
                    (event.event.as_str(), event.id.as_ref()),
                    ("feed_advanced", None)
                );
                folded += count;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(folded > 0, "the stream was never folded");
    assert_eq!(ids_after_fold, 0, "an id moved past the folded entries");
    // What an EventSource would resume from is the last entry delivered before the fold.
    assert_eq!(
        Some(bob.last_event_id.clone()),
        last_id.or(Some(String::new()))
    );
}
