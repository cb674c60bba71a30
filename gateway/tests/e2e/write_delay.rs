//! The write delay: held pushes still all arrive, in order, and drain still closes sockets.

use std::time::Duration;

use pushgate_protocol::{ErrorCode, ServerFrame};

use crate::support::{Options, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_pushes_arrive_complete_and_in_order_and_drain_still_closes() {
    let mut options = Options::default();
    options.config.write_delay = Duration::from_millis(200);
    options.config.drain_window = Duration::from_millis(100);
    let node = TestNode::start_with(options).await;
    node.follow("reader", "alice").await;
    node.follow("reader", "bob").await;
    let mut reader = node.connect("reader").await;

    let mut sent = Vec::new();
    for i in 0..10 {
        let author = if i % 2 == 0 { "alice" } else { "bob" };
        sent.push(node.post(author, &format!("post {i}")).await);
    }
    let got = reader.posts(sent.len()).await;
    let ids: Vec<u64> = got.iter().map(|(id, _)| *id).collect();
    // Two authors' posts are fanned out by separate worker lanes, so they may interleave in
    // any order; each author's own posts stay in order.
    let alice: Vec<u64> = sent.iter().step_by(2).copied().collect();
    let bob: Vec<u64> = sent.iter().skip(1).step_by(2).copied().collect();
    for own in [alice, bob] {
        let seen: Vec<u64> = ids.iter().copied().filter(|id| own.contains(id)).collect();
        assert_eq!(seen, own, "one author's posts in order");
    }
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, sent, "every post once");
    let feed_positions: Vec<u64> = got.iter().map(|(_, cursor)| cursor.feed).collect();
    assert_eq!(
        feed_positions,
        (1..=10).collect::<Vec<_>>(),
        "no gap, no repeat"
    );

    // Drain must not wait on a held wake-up: the reader hears reconnect and is closed.
    let shutdown = tokio::spawn(node.node.shutdown());
    assert!(matches!(reader.next().await, ServerFrame::Reconnect { .. }));
    let close = reader.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ErrorCode::Draining.close_code());
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("drains in time")
        .expect("join");
}
