//! The server pings; a peer that stops answering is reaped within the idle timeout.

use std::time::Duration;

use futures_util::StreamExt;
use pushgate_fanout::testing::eventually;
use pushgate_protocol::Codec;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Options, TestNode, WsClient};

fn fast_heartbeats() -> Options {
    let mut options = Options::default();
    options.config.heartbeat = Duration::from_millis(200);
    options.config.idle_timeout = Duration::from_millis(700);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_and_answering_keeps_the_connection() {
    let node = TestNode::start_with(fast_heartbeats()).await;
    let mut bob = WsClient::connect(node.addr(), &node.token("bob"), Codec::Json, None)
        .await
        .expect("connects");
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    // Reading lets tungstenite answer each ping with a pong.
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, bob.socket.next()).await {
        if matches!(message, Message::Ping(_)) {
            pings += 1;
        }
    }
    assert!(pings >= 3, "{pings} pings");
    assert_eq!(node.node.gateway().registry.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_reaped_and_goes_offline() {
    let node = TestNode::start_with(fast_heartbeats()).await;
    // Connected, then never read again: no pongs, as if the peer vanished without a FIN.
    let _vanished = WsClient::connect(node.addr(), &node.token("ghost"), Codec::Json, None)
        .await
        .expect("connects");
    eventually("the silent peer to be reaped", || async {
        node.node.gateway().registry.connections() == 0
    })
    .await;
    // Presence follows on the next node heartbeat.
    eventually("the ghost to go offline", || async {
        let (_, body) = node
            .call(
                reqwest::Method::GET,
                "/v1/presence?users=ghost",
                node.api_key(),
                None,
            )
            .await;
        // Offline with a last_seen: the connect and the disconnect were both published.
        let offline =
            body["users"][0]["online"] == false && body["users"][0]["last_seen"].as_u64().is_some();
        offline.then_some(()).ok_or(body)
    })
    .await;
}
