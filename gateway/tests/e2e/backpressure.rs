//! A client that stops reading gets its pushes folded, then closed; others stay on time.

use std::time::Duration;

use pushgate_fanout::testing::eventually;
use pushgate_protocol::{Codec, Cursor, ErrorCode, ServerFrame};
use serde_json::json;

use crate::support::{Options, TestNode, WsClient};

/// Notifications big enough to fill kernel socket buffers quickly.
async fn flood(node: &TestNode, users: &[&str], count: usize) {
    let data = json!({ "blob": "x".repeat(15_000) });
    for _ in 0..count {
        let body = json!({ "users": users, "kind": "bulk", "data": data });
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_clients_are_folded_then_closed_while_others_keep_receiving() {
    let mut options = Options::default();
    options.config.mailbox_capacity = 16;
    options.config.write_timeout = Duration::from_secs(2);
    let node = TestNode::start_with(options).await;
    let stuck = node.connect("stuck").await;
    let mut healthy = node.connect("healthy").await;
    let before = node.node.gateway().registry.connections();
    assert_eq!(before, 2);

    // Far more than socket buffers plus the mailbox hold: the stuck client's writes block.
    let rounds = 600;
    let flooder = async { flood(&node, &["stuck", "healthy"], rounds).await };
    let reader = async {
        // Every notification reaches the healthy client, live or folded into feed_advanced.
        let mut got = 0;
        while got < rounds {
            match healthy.next().await {
                ServerFrame::Notify { .. } => got += 1,
                ServerFrame::FeedAdvanced { count, .. } => got += count as usize,
                other => panic!("healthy client got {other:?}"),
            }
        }
        assert_eq!(got, rounds);
    };
    tokio::join!(flooder, reader);

    // The stuck client is closed as a slow consumer once a write stays blocked.
    let mut stuck = stuck;
    eventually("the stuck client to be closed", || async {
        node.node.gateway().registry.connections() <= 1
    })
    .await;
    let mut closed_with = None;
    while let Some(frame) = read_any(&mut stuck).await {
        if let Some(code) = frame {
            closed_with = Some(code);
            break;
        }
    }
    assert_eq!(closed_with, Some(ErrorCode::SlowConsumer.close_code()));
}

/// Next message: `Some(None)` for data, `Some(Some(code))` for a close, `None` at the end.
async fn read_any(client: &mut WsClient) -> Option<Option<u16>> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    match tokio::time::timeout(Duration::from_secs(10), client.socket.next())
        .await
        .ok()??
    {
        Ok(Message::Close(frame)) => Some(Some(frame.map_or(1005, |f| u16::from(f.code)))),
        Ok(_) => Some(None),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_briefly_slow_client_gets_feed_advanced_and_can_catch_up_over_rest() {
    let mut options = Options::default();
    options.config.mailbox_capacity = 4;
    let node = TestNode::start_with(options).await;
    let mut slow = WsClient::connect(node.addr(), &node.token("slow"), Codec::Json, None)
        .await
        .expect("connects");
    let start = slow.welcome_cursor();
    // The small flood fits in socket buffers at first, then the mailbox folds the rest.
    flood(&node, &["slow"], 300).await;
    let mut notifies = 0u64;
    let mut folded = 0u64;
    let mut last = start;
    while notifies + folded < 300 {
        match slow.next().await {
            ServerFrame::Notify { cursor, .. } => {
                notifies += 1;
                last = cursor;
            }
            ServerFrame::FeedAdvanced { cursor, count } => {
                folded += count;
                last = cursor;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(last, Cursor::new(300, 0));
    // Whatever was folded is in the feed: paging `since` the start covers all 300.
    let (_, page) = node
        .call(
            reqwest::Method::GET,
            &format!("/v1/feed?since={start}&limit=500"),
            &node.token("slow"),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(300));
    assert_eq!(page["cursor"], "300:0");
}
