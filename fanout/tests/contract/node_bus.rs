//! [`NodeBus`](pushgate_fanout::backplane::NodeBus): sends reach one node's inbox,
//! broadcasts every node's, a later subscribe replaces the inbox, and an inbox holds only
//! what was sent after it opened.

use std::time::Duration;

use pushgate_fanout::backplane::{Backplane, BackplaneError, NodeInfo};
use pushgate_fanout::testing::samples::delivery;
use pushgate_protocol::{NodeMessage, TraceParent};

use super::recv;

/// What a send to a node without an inbox does. It differs by design: the memory bus and
/// pub/sub on one Redis server see that nobody listens and say so; a stream inbox keeps the
/// message for a node that may be reconnecting, and a Redis Cluster's `PUBLISH` counts only
/// the subscribers of the shard it ran on, so neither can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unheard {
    /// The send fails as unavailable.
    Refused,
    /// The send succeeds; the message reaches no inbox opened later.
    Dropped,
}

/// Every promise of the node bus.
///
/// Nodes heartbeat before they subscribe, as gateways do: a stream bus broadcasts to the
/// live nodes in membership, the others to every subscribed inbox.
pub async fn check(bp: &Backplane, unheard: Unheard) {
    for id in ["n1", "n2"] {
        let info = NodeInfo {
            id: id.into(),
            url: format!("ws://{id}"),
            connections: 0,
            capacity: 0,
        };
        bp.membership
            .heartbeat(&info, Duration::from_secs(60))
            .await
            .expect("heartbeat");
    }
    let before = bp.bus.send("n1", delivery(0)).await;
    match unheard {
        Unheard::Refused => assert!(
            matches!(before, Err(BackplaneError::Unavailable(_))),
            "{before:?}"
        ),
        Unheard::Dropped => before.expect("accepted before the node subscribed"),
    }
    let mut n1 = bp.bus.subscribe("n1").await.expect("subscribe");
    let mut n2 = bp.bus.subscribe("n2").await.expect("subscribe");
    bp.bus.send("n1", delivery(1)).await.expect("send");
    assert_eq!(recv(&mut n1).await, delivery(1), "an inbox starts empty");

    // Traced: the context crosses the broadcast path too.
    let celebrity = NodeMessage::Broadcast {
        id: 5,
        author: "star".into(),
        ts: 9,
        seq: 1,
        trace: Some(TraceParent::new(format!("00-{:032x}-{:016x}-01", 7, 8))),
    };
    bp.bus
        .broadcast(celebrity.clone())
        .await
        .expect("broadcast");
    assert_eq!(recv(&mut n1).await, celebrity);
    assert_eq!(recv(&mut n2).await, celebrity);

    let mut n1_again = bp.bus.subscribe("n1").await.expect("resubscribe");
    bp.bus.send("n1", delivery(3)).await.expect("send");
    assert_eq!(
        recv(&mut n1_again).await,
        delivery(3),
        "a later subscribe replaces the inbox"
    );
}
