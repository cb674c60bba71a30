//! Per-user bounds: sockets per user and node, resume replays per connection, follows.

use futures_util::StreamExt;
use pushgate_fanout::testing::eventually;
use pushgate_protocol::{ClientFrame, Codec, Cursor, ErrorCode, ServerFrame};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{Options, TestNode, WAIT, WsClient};

/// The status and problem JSON of a refused upgrade.
fn refusal(error: tungstenite::Error) -> (u16, serde_json::Value) {
    match error {
        tungstenite::Error::Http(response) => {
            let body = response.body().clone().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or_default(),
            )
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

fn capped(max_per_user: u32) -> Options {
    let mut options = Options::default();
    options.config.max_connections_per_user = max_per_user;
    options
}

/// Wait until the node holds `count` sockets.
async fn connections_become(node: &TestNode, count: u64) {
    eventually(&format!("{count} sockets"), || async {
        node.node.gateway().registry.connections() == count
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_past_the_per_user_cap_get_429_until_one_closes() {
    let node = TestNode::start_with(capped(3)).await;
    let mut bobs = Vec::new();
    for _ in 0..3 {
        bobs.push(node.connect("bob").await);
    }
    let token = node.token("bob");
    let refused = WsClient::connect(node.addr(), &token, Codec::Json, None).await;
    let (status, problem) = refusal(refused.err().expect("refused"));
    assert_eq!(status, 429);
    assert_eq!(problem["code"], "too_many_connections", "{problem}");
    // Other users are not affected.
    let _alice = node.connect("alice").await;
    bobs.pop();
    connections_become(&node, 3).await;
    bobs.push(node.connect("bob").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrades_of_one_user_cannot_overshoot_the_cap() {
    let node = TestNode::start_with(capped(5)).await;
    let token = node.token("bob");
    let attempts: Vec<_> = (0..30)
        .map(|_| {
            let (addr, token) = (node.addr(), token.clone());
            tokio::spawn(async move { WsClient::connect(addr, &token, Codec::Json, None).await })
        })
        .collect();
    let mut open = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.expect("task") {
            Ok(client) => open.push(client),
            Err(error) => {
                assert_eq!(refusal(error).0, 429);
                refused += 1;
            }
        }
    }
    assert_eq!((open.len(), refused), (5, 25));
    assert_eq!(node.node.gateway().registry.connections(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_flood_replays_a_bounded_amount() {
    let node = TestNode::start().await;
    node.follow("bob", "alice").await;
    for i in 0..300 {
        node.post("alice", &format!("backlog {i}")).await;
    }
    let feeds = node.node.gateway().backplane.feeds.clone();
    eventually("the backlog to be fanned out", || async {
        feeds.head("bob").await.expect("head") >= 300
    })
    .await;

    // The case: 40 resumes from the start on one socket.
    let mut bob = node.connect("bob").await;
    for _ in 0..40 {
        bob.send(&ClientFrame::Resume {
            after: Cursor::default(),
        })
        .await;
    }
    let (mut posts, mut replays, mut refusals) = (0, 0, 0);
    let mut replay_cursors: Vec<u64> = Vec::new();
    let close = loop {
        let message = tokio::time::timeout(WAIT, bob.socket.next())
            .await
            .expect("frames keep coming until the close")
            .expect("open")
            .expect("readable");
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => break frame,
            _ => continue,
        };
        match Codec::Json
            .decode::<ServerFrame>(text.as_bytes())
            .expect("decodes")
        {
            ServerFrame::Post { cursor, .. } => {
                posts += 1;
                replay_cursors.push(cursor.feed);
            }
            ServerFrame::Resumed { replayed, .. } => {
                // Replays never interleave: each one is the whole feed, in order.
                assert_eq!(replayed, 300);
                assert_eq!(replay_cursors, (1..=300).collect::<Vec<u64>>());
                replay_cursors.clear();
                replays += 1;
            }
            ServerFrame::Error { code, .. } => {
                assert_eq!(code, ErrorCode::RateLimited);
                refusals += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    // Three replays, then error frames until too many of them close the socket.
    assert_eq!(replays, 3);
    assert_eq!(posts, 900);
    assert_eq!(refusals, 10);
    assert_eq!(u16::from(close.expect("a close frame").code), 4003);
}
