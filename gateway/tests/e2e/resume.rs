//! Reconnect with `resume`: missed pushes exactly once, in order, with live ones merged in.

use std::time::Duration;

use pushgate_fanout::memory::MemoryConfig;
use pushgate_protocol::{ClientFrame, Codec, Cursor, ServerFrame};

use crate::support::{Options, TestNode, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_missed_posts_once_in_order_then_goes_live() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    let mut bob = node.connect("bob").await;
    let first = node.post("alice", "one").await;
    let (_, cursor) = bob.posts(1).await[0];
    drop(bob);

    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(node.post("alice", &format!("missed {i}")).await);
    }
    let mut bob = WsClient::connect(node.addr(), &node.token("bob"), Codec::Json, None)
        .await
        .expect("connects");
    bob.send(&ClientFrame::Resume { after: cursor }).await;
    let replayed = bob.posts(5).await;
    assert_eq!(
        replayed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        missed
    );
    assert!(!replayed.iter().any(|(id, _)| *id == first));
    assert!(
        replayed.windows(2).all(|w| w[0].1.feed < w[1].1.feed),
        "cursors increase: {replayed:?}"
    );
    match bob.next().await {
        ServerFrame::Resumed { replayed, complete } => assert_eq!((replayed, complete), (5, true)),
        other => panic!("expected resumed, got {other:?}"),
    }
    let live = node.post("alice", "live").await;
    assert_eq!(bob.posts(1).await[0].0, live);
    bob.silent_for(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_created_during_replay_are_neither_lost_nor_duplicated() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    for i in 0..300 {
        node.post("alice", &format!("backlog {i}")).await;
    }
    // Let the worker finish the backlog before bob reconnects from the start.
    let mut probe = node.connect("bob").await;
    probe.silent_for(Duration::from_millis(300)).await;
    drop(probe);

    let mut bob = WsClient::connect(node.addr(), &node.token("bob"), Codec::MsgPack, None)
        .await
        .expect("connects");
    bob.send(&ClientFrame::Resume {
        after: Cursor::default(),
    })
    .await;
    let writer = {
        let node_url = node.url("/v1/posts");
        let http = node.http.clone();
        let token = node.token("alice");
        tokio::spawn(async move {
            for i in 0..50 {
                let response = http
                    .post(&node_url)
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "content": format!("during {i}") }))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(response.status(), 201);
            }
        })
    };
    let mut seen = Vec::new();
    let mut resumed = false;
    while seen.len() < 350 {
        match bob.next().await {
            ServerFrame::Post { cursor, .. } => seen.push(cursor.feed),
            ServerFrame::Resumed { complete, .. } => {
                assert!(complete);
                resumed = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    writer.await.expect("writer");
    assert!(resumed);
    assert_eq!(
        seen,
        (1..=350).collect::<Vec<u64>>(),
        "every position exactly once, in order"
    );
    bob.silent_for(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_the_url_and_too_old_cursors_say_incomplete() {
    let options = Options {
        memory: MemoryConfig {
            feed_cap: 5,
            ..MemoryConfig::default()
        },
        ..Options::default()
    };
    let node = TestNode::start_with(options).await;
    node.follow("bob", "alice").await;
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(node.post("alice", &format!("p{i}")).await);
    }
    let mut probe = node.connect("bob").await;
    probe.silent_for(Duration::from_millis(300)).await;
    drop(probe);

    let mut bob = WsClient::connect(
        node.addr(),
        &node.token("bob"),
        Codec::Json,
        Some(Cursor::new(1, 0)),
    )
    .await
    .expect("connects");
    let replayed = bob.posts(5).await;
    assert_eq!(
        replayed.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids[3..].to_vec()
    );
    match bob.next().await {
        ServerFrame::Resumed { replayed, complete } => assert_eq!((replayed, complete), (5, false)),
        other => panic!("expected resumed, got {other:?}"),
    }
    // A cursor inside the retained window is complete.
    let mut carol = WsClient::connect(
        node.addr(),
        &node.token("bob"),
        Codec::Json,
        Some(Cursor::new(6, 0)),
    )
    .await
    .expect("connects");
    assert_eq!(
        carol
            .posts(2)
            .await
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<_>>(),
        ids[6..].to_vec()
    );
    assert!(matches!(
        carol.next().await,
        ServerFrame::Resumed {
            replayed: 2,
            complete: true
        }
    ));
}
