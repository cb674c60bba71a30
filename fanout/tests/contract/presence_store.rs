//! [`PresenceStore`](pushgate_fanout::backplane::PresenceStore): counts summed over live
//! nodes, stale changes fenced off by epoch, leases that end a crashed node's presence and
//! renewals that say when one had lapsed, and batches of any size.

use std::time::Duration;

use pushgate_fanout::backplane::{Backplane, LeaseRenewal, PresenceChange};
use pushgate_fanout::testing::samples::{change, users};

/// Every promise of the presence store.
pub async fn check(bp: &Backplane) {
    fenced_by_epoch_and_ended_by_the_lease(bp).await;
    a_renewal_says_whether_the_lease_was_still_held(bp).await;
    a_change_under_a_spent_lease_is_offline_but_seen(bp).await;
    a_connect_storm_arrives_as_one_batch(bp).await;
}

async fn fenced_by_epoch_and_ended_by_the_lease(bp: &Backplane) {
    let lease = Duration::from_secs(30);
    let p = &bp.presence;
    p.publish("n1", &[change("u", 2, 5)], lease)
        .await
        .expect("publish");
    p.publish("n1", &[change("u", 0, 3)], lease)
        .await
        .expect("stale");
    p.publish("n2", &[change("u", 1, 1)], lease)
        .await
        .expect("publish");
    let got = p.query(&users(&["u", "never"])).await.expect("query");
    assert!(got[0].online);
    assert_eq!(got[0].connections, 3);
    assert!(!got[1].online);
    assert_eq!(got[1].last_seen, None);

    // A disconnect keeps its epoch, so an older connect that arrives late stays ignored.
    p.publish("n1", &[change("u", 0, 7)], lease)
        .await
        .expect("gone");
    p.publish("n1", &[change("u", 4, 6)], lease)
        .await
        .expect("late");
    assert_eq!(
        p.query(&users(&["u"])).await.expect("query")[0].connections,
        1
    );

    // n2's lease runs out: its users count as offline, with when they were last seen.
    p.renew("n2", Duration::ZERO).await.expect("expire");
    let gone = p.query(&users(&["u"])).await.expect("query");
    assert!(!gone[0].online);
    assert_eq!(gone[0].connections, 0);
    assert!(gone[0].last_seen.is_some());
    assert_eq!(
        p.renew("n2", lease).await.expect("renew"),
        LeaseRenewal::Lapsed,
        "a renewal after the lease ran out says so, so the node publishes everyone again"
    );
    assert!(p.query(&users(&["u"])).await.expect("query")[0].online);
    assert_eq!(
        p.renew("n2", lease).await.expect("renew"),
        LeaseRenewal::Held
    );
}

async fn a_renewal_says_whether_the_lease_was_still_held(bp: &Backplane) {
    let lease = Duration::from_secs(30);
    assert_eq!(
        bp.presence.renew("n5", lease).await.expect("renew"),
        LeaseRenewal::Lapsed,
        "a node's first renewal finds no lease"
    );
    assert_eq!(
        bp.presence.renew("n5", lease).await.expect("renew"),
        LeaseRenewal::Held
    );
    bp.presence
        .renew("n5", Duration::ZERO)
        .await
        .expect("expire");
    assert_eq!(
        bp.presence.renew("n5", lease).await.expect("renew"),
        LeaseRenewal::Lapsed
    );
}

async fn a_change_under_a_spent_lease_is_offline_but_seen(bp: &Backplane) {
    bp.presence
        .publish("n4", &[change("z", 1, 1)], Duration::ZERO)
        .await
        .expect("publish");
    let got = bp.presence.query(&users(&["z"])).await.expect("query");
    assert!(!got[0].online);
    assert!(got[0].last_seen.is_some());
}

/// 150 users in one batch (several script calls on Redis, every slot on a Cluster), each
/// answered in the order asked with its own count.
async fn a_connect_storm_arrives_as_one_batch(bp: &Backplane) {
    let storm: Vec<String> = (0..150).map(|i| format!("s{i}")).collect();
    let count = |i: usize| (i % 3) as u32 + 1;
    let changes: Vec<PresenceChange> = storm
        .iter()
        .enumerate()
        .map(|(i, u)| change(u, count(i), 1))
        .collect();
    bp.presence
        .publish("n3", &changes, Duration::from_secs(30))
        .await
        .expect("publish");
    let all = bp.presence.query(&storm).await.expect("query");
    assert_eq!(all.len(), storm.len());
    for (i, (p, u)) in all.iter().zip(&storm).enumerate() {
        assert_eq!(
            (p.user.as_str(), p.online, p.connections),
            (u.as_str(), true, count(i))
        );
    }
}
