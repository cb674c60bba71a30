//! Shutdown: clients are told to reconnect, spread over the window, and closed with 1012.

use std::time::Duration;

use pushgate_protocol::{ErrorCode, ServerFrame};

use crate::support::{Options, TestNode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_sends_reconnect_spread_over_the_window_then_closes() {
    let mut options = Options::default();
    options.config.drain_window = Duration::from_secs(5);
    let node = TestNode::start_with(options).await;
    let mut clients = Vec::new();
    for i in 0..20 {
        clients.push(node.connect(&format!("user{i}")).await);
    }
    let own_url = format!("ws://{}/v1/ws", node.addr());
    let shutdown = tokio::spawn(node.node.shutdown());
    let mut delays = Vec::new();
    for client in &mut clients {
        match client.next().await {
            ServerFrame::Reconnect { url, after_ms, .. } => {
                assert_eq!(url, own_url, "the last node sends clients back to itself");
                assert!(after_ms < 5000);
                delays.push(after_ms);
            }
            other => panic!("expected reconnect, got {other:?}"),
        }
        let close = client.closed().await.expect("close frame");
        assert_eq!(u16::from(close.code), ErrorCode::Draining.close_code());
    }
    delays.sort_unstable();
    delays.dedup();
    assert!(
        delays.len() > 10,
        "reconnects are spread, not a herd: {delays:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("drains in time")
        .expect("join");
}
