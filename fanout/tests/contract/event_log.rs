//! [`EventLog`](pushgate_fanout::backplane::EventLog): at-least-once reads with reclaim and
//! attempt counts, acks, dead letters, idempotent appends, blocking reads that wake on an
//! append, and a bound of [`EVENT_LOG_CAP`] unacknowledged events.

use std::future::Future;
use std::time::Duration;

use pushgate_fanout::backplane::{
    AppendOutcome, Backplane, BackplaneError, FanoutEvent, Idempotency,
};
use pushgate_fanout::testing::samples::notification;

use super::EVENT_LOG_CAP;

/// Every promise of the fan-out log.
///
/// `read_blocked` resolves once a read is blocked in the store, waiting for an append: only
/// the implementation can tell (Redis lists blocked clients, the memory log has no view of
/// its waiters), and without it an append could land before the read blocks and the wake-up
/// would go untested.
pub async fn check(bp: &Backplane, read_blocked: impl Future<Output = ()>) {
    events_are_read_acked_reclaimed_and_dead_lettered(bp).await;
    idempotent_appends_replay(bp).await;
    a_blocked_read_wakes_on_append(bp, read_blocked).await;
    a_full_log_refuses_appends(bp).await;
}

/// With claims allowed at once, another consumer's read takes over an unacknowledged event.
async fn events_are_read_acked_reclaimed_and_dead_lettered(bp: &Backplane) {
    bp.events
        .append(notification(1), None)
        .await
        .expect("append");
    let first = bp.events.read("a", 10, Duration::ZERO).await.expect("read");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 0);
    assert_eq!(first[0].event, FanoutEvent::Notify(notification(1)));
    let again = bp.events.read("b", 10, Duration::ZERO).await.expect("read");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(bp.events.pending().await.expect("pending"), 1);
    bp.events.ack(&[again[0].id.clone()]).await.expect("ack");
    assert_eq!(bp.events.pending().await.expect("pending"), 0);
    assert!(
        bp.events
            .read("b", 10, Duration::ZERO)
            .await
            .expect("read")
            .is_empty()
    );

    bp.events
        .append(notification(2), None)
        .await
        .expect("append");
    let poison = bp.events.read("a", 1, Duration::ZERO).await.expect("read");
    bp.events
        .dead_letter(&poison[0], "poison")
        .await
        .expect("dead letter");
    assert_eq!(bp.events.pending().await.expect("pending"), 0);
    assert!(
        bp.events
            .read("c", 10, Duration::ZERO)
            .await
            .expect("read")
            .is_empty(),
        "a dead letter is never handed out again"
    );
}

/// An idempotent notification append: a retry replays the first notification's ID and
/// appends nothing; the same key with another request is a conflict.
async fn idempotent_appends_replay(bp: &Backplane) {
    let first = Idempotency {
        key: "retry-1",
        fingerprint: "aaaa",
    };
    assert_eq!(
        bp.events
            .append(notification(41), Some(first))
            .await
            .expect("append"),
        AppendOutcome::Appended
    );
    assert_eq!(
        bp.events
            .append(notification(42), Some(first))
            .await
            .expect("retry"),
        AppendOutcome::Replayed { notification: 41 }
    );
    let changed = Idempotency {
        fingerprint: "bbbb",
        ..first
    };
    assert!(matches!(
        bp.events.append(notification(43), Some(changed)).await,
        Err(BackplaneError::Conflict(_))
    ));
    let logged = bp
        .events
        .read("idem", 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(logged.len(), 1, "one event for the key");
    assert_eq!(logged[0].event, FanoutEvent::Notify(notification(41)));
    bp.events.ack(&[logged[0].id.clone()]).await.expect("ack");
}

/// A read blocked on an empty log returns the event appended meanwhile, long before its
/// block runs out (on Redis the append goes over the shared connection while the read
/// blocks its own).
async fn a_blocked_read_wakes_on_append(bp: &Backplane, read_blocked: impl Future<Output = ()>) {
    let reader = {
        let events = bp.events.clone();
        tokio::spawn(async move { events.read("a", 1, Duration::from_secs(8)).await })
    };
    read_blocked.await;
    bp.events
        .append(notification(7), None)
        .await
        .expect("append");
    let got = reader.await.expect("join").expect("read");
    assert_eq!(
        got.len(),
        1,
        "woken by the append, not by the block running out"
    );
    assert_eq!(got[0].event, FanoutEvent::Notify(notification(7)));
    bp.events.ack(&[got[0].id.clone()]).await.expect("ack");
}

async fn a_full_log_refuses_appends(bp: &Backplane) {
    assert_eq!(bp.events.pending().await.expect("pending"), 0);
    for n in 0..EVENT_LOG_CAP as u64 {
        bp.events
            .append(notification(100 + n), None)
            .await
            .expect("fits");
    }
    assert!(matches!(
        bp.events.append(notification(200), None).await,
        Err(BackplaneError::Full(_))
    ));
}
