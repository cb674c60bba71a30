//! [`RevocationList`](pushgate_fanout::backplane::RevocationList): the latest revocation per
//! user wins, `since` reads from a point on, revocations older than `keep` are forgotten.

use std::time::Duration;

use pushgate_fanout::backplane::Backplane;

/// Every promise of the revocation list.
pub async fn check(bp: &Backplane) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let keep = Duration::from_secs(3600);
    bp.revocations
        .revoke("ann", now, keep)
        .await
        .expect("revoke");
    bp.revocations
        .revoke("ann", now - 100, keep)
        .await
        .expect("older");
    bp.revocations
        .revoke("bo", now - 50, keep)
        .await
        .expect("revoke");
    bp.revocations
        .revoke("cy", now - 7200, keep)
        .await
        .expect("long ago");
    let mut all = bp.revocations.since(0).await.expect("since");
    all.sort();
    assert_eq!(all, vec![("ann".into(), now), ("bo".into(), now - 50)]);
    assert_eq!(
        bp.revocations.since(now - 49).await.expect("since"),
        vec![("ann".to_owned(), now)]
    );
}
