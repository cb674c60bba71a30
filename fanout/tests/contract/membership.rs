//! [`Membership`](pushgate_fanout::backplane::Membership): live nodes sorted by ID, renewals
//! that keep the newest info, expiry by TTL and leaving at once.

use std::time::Duration;

use pushgate_fanout::backplane::{Backplane, NodeInfo};
use pushgate_fanout::testing::samples::users;

/// Every promise of membership.
pub async fn check(bp: &Backplane) {
    let node = |id: &str, connections| NodeInfo {
        id: id.into(),
        url: format!("ws://{id}:8080/v1/ws"),
        connections,
        capacity: 100,
    };
    let long = Duration::from_secs(60);
    bp.membership
        .heartbeat(&node("n3", 1), long)
        .await
        .expect("hb");
    bp.membership
        .heartbeat(&node("n1", 2), long)
        .await
        .expect("hb");
    bp.membership
        .heartbeat(&node("dead", 0), Duration::ZERO)
        .await
        .expect("hb");
    bp.membership
        .heartbeat(&node("n2", 3), long)
        .await
        .expect("hb");
    bp.membership
        .heartbeat(&node("n1", 5), long)
        .await
        .expect("renew");
    let live = bp.membership.live().await.expect("live");
    assert_eq!(
        live,
        vec![node("n1", 5), node("n2", 3), node("n3", 1)],
        "sorted by id, expired gone, renewal keeps the newest info"
    );
    bp.membership.leave("n2").await.expect("leave");
    let ids: Vec<String> = bp
        .membership
        .live()
        .await
        .expect("live")
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(ids, users(&["n1", "n3"]));
}
