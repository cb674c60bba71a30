//! [`PostStore`](pushgate_fanout::backplane::PostStore): a post and its fan-out event in one
//! step, idempotency keys scoped to the author, deletes, and load shedding when the fan-out
//! log is full.

use std::time::Duration;

use pushgate_fanout::backplane::{
    Backplane, BackplaneError, CreateOutcome, FanoutEvent, LoggedEvent, PostEvent, Visibility,
};
use pushgate_fanout::testing::samples::{new_post, notification};
use pushgate_protocol::Audience;

use super::EVENT_LOG_CAP;

/// Every promise of the post store.
pub async fn check(bp: &Backplane) {
    create_is_atomic_and_idempotent(bp).await;
    a_full_log_refuses_creates_that_fan_out(bp).await;
}

async fn create_is_atomic_and_idempotent(bp: &Backplane) {
    let first = bp
        .posts
        .create(new_post("al", "hi", Visibility::Public), Some("k1"))
        .await
        .expect("create");
    let CreateOutcome::Created(created) = first else {
        panic!("first create must create");
    };
    assert_eq!(created.id, 1);
    let again = bp
        .posts
        .create(new_post("al", "hi", Visibility::Public), Some("k1"))
        .await
        .expect("replay");
    assert_eq!(again, CreateOutcome::Replayed(created.clone()));
    let conflict = bp
        .posts
        .create(new_post("al", "other", Visibility::Public), Some("k1"))
        .await;
    assert!(
        matches!(conflict, Err(BackplaneError::Conflict(_))),
        "{conflict:?}"
    );
    // The key is scoped to the author.
    let other_author = bp
        .posts
        .create(new_post("bo", "other", Visibility::Followers), Some("k1"))
        .await
        .expect("create");
    assert!(matches!(other_author, CreateOutcome::Created(ref p) if p.id == 2));
    let private = bp
        .posts
        .create(new_post("al", "secret", Visibility::Private), None)
        .await
        .expect("create");
    assert!(matches!(private, CreateOutcome::Created(ref p) if p.id == 3));

    let got = bp.posts.get_many(&[3, 99, 1]).await.expect("get");
    assert_eq!(got.iter().map(|p| p.id).collect::<Vec<_>>(), vec![3, 1]);
    assert_eq!(got[1], created);

    // Two fan-out events (public and followers-only); the private post has none.
    let events = bp.events.read("w", 10, Duration::ZERO).await.expect("read");
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].event,
        FanoutEvent::Post(PostEvent {
            id: 1,
            author: "al".into(),
            ts: created.ts,
            audience: Audience::Followers,
        })
    );
    assert!(matches!(
        events[1].event,
        FanoutEvent::Post(PostEvent {
            id: 2,
            audience: Audience::Followers,
            ..
        })
    ));
    let ids: Vec<String> = events.into_iter().map(|e| e.id).collect();
    bp.events.ack(&ids).await.expect("ack");
    // A friends-only post's event says so.
    bp.posts
        .create(new_post("al", "pals", Visibility::Friends), None)
        .await
        .expect("create");
    let events = bp.events.read("w", 10, Duration::ZERO).await.expect("read");
    assert!(matches!(
        events[..],
        [LoggedEvent {
            event: FanoutEvent::Post(PostEvent {
                id: 4,
                audience: Audience::Friends,
                ..
            }),
            ..
        }]
    ));
    let ids: Vec<String> = events.into_iter().map(|e| e.id).collect();
    bp.events.ack(&ids).await.expect("ack");

    assert!(bp.posts.delete(1).await.expect("delete"));
    assert!(!bp.posts.delete(1).await.expect("delete again"));
    assert!(bp.posts.get_many(&[1]).await.expect("get").is_empty());
    let deleted = bp
        .posts
        .create(new_post("al", "hi", Visibility::Public), Some("k1"))
        .await;
    assert!(
        matches!(deleted, Err(BackplaneError::Conflict(_))),
        "{deleted:?}"
    );
}

/// Posts and notifications share the log's bound: once notifications fill it, a post that
/// fans out is refused; a private post appends nothing, so a full log does not stop it.
async fn a_full_log_refuses_creates_that_fan_out(bp: &Backplane) {
    assert_eq!(bp.events.pending().await.expect("pending"), 0);
    for n in 0..EVENT_LOG_CAP as u64 {
        bp.events.append(notification(n), None).await.expect("fits");
    }
    for visibility in [Visibility::Public, Visibility::Followers] {
        let refused = bp
            .posts
            .create(new_post("al", "hi", visibility), None)
            .await;
        assert!(
            matches!(refused, Err(BackplaneError::Full(_))),
            "{refused:?}"
        );
    }
    assert!(matches!(
        bp.posts
            .create(new_post("al", "hi", Visibility::Private), None)
            .await,
        Ok(CreateOutcome::Created(_))
    ));
}
