//! [`FeedStore`](pushgate_fanout::backplane::FeedStore): dense per-user positions, retries
//! that dedupe, trimming at [`FEED_CAP`](super::FEED_CAP) that old cursors notice.

use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::testing::samples::{post, users};

/// Every promise of the feed store.
pub async fn check(bp: &Backplane) {
    positions_are_dense_per_user_and_retries_dedupe(bp).await;
    trimming_makes_old_cursors_incomplete(bp).await;
    one_call_appends_and_dedupes_for_many_users(bp).await;
}

async fn positions_are_dense_per_user_and_retries_dedupe(bp: &Backplane) {
    let xy = users(&["x", "y"]);
    assert_eq!(
        bp.feeds.append(&xy[..1], &post(1)).await.expect("append"),
        vec![1]
    );
    assert_eq!(
        bp.feeds.append(&xy, &post(2)).await.expect("append"),
        vec![2, 1]
    );
    assert_eq!(
        bp.feeds.append(&xy, &post(2)).await.expect("retry"),
        vec![2, 1]
    );
    assert_eq!(bp.feeds.head("x").await.expect("head"), 2);
    assert_eq!(bp.feeds.head("nobody").await.expect("head"), 0);
    let slice = bp.feeds.since("x", 0, 10).await.expect("since");
    assert!(slice.complete);
    assert_eq!(
        slice
            .entries
            .iter()
            .map(|e| (e.seq, e.item.clone()))
            .collect::<Vec<_>>(),
        vec![(1, post(1)), (2, post(2))]
    );
    let empty = bp.feeds.since("nobody", 0, 10).await.expect("since");
    assert!(empty.complete && empty.entries.is_empty());
}

/// With a cap of 3, five appends keep positions 3 to 5.
async fn trimming_makes_old_cursors_incomplete(bp: &Backplane) {
    let t = users(&["t"]);
    for id in 1..=5 {
        bp.feeds.append(&t, &post(id)).await.expect("append");
    }
    let old = bp.feeds.since("t", 1, 10).await.expect("since");
    assert!(!old.complete);
    assert_eq!(
        old.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    let recent = bp.feeds.since("t", 2, 10).await.expect("since");
    assert!(recent.complete);
    assert_eq!(recent.entries.len(), 3);
    let limited = bp.feeds.since("t", 2, 2).await.expect("since");
    assert_eq!(
        limited.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    let page = bp.feeds.before("t", Some(5), 2).await.expect("before");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 3]);
    let newest = bp.feeds.before("t", None, 10).await.expect("before");
    assert_eq!(
        newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 4, 3]
    );
    // The trimmed item's dedupe entry went with it: appending it again is a new entry.
    assert_eq!(
        bp.feeds.append(&t, &post(1)).await.expect("append"),
        vec![6]
    );
    assert_eq!(bp.feeds.append(&t, &post(5)).await.expect("retry"), vec![5]);
}

/// A worker appends one item for a chunk of followers in one call; on a Redis Cluster they
/// spread over every slot.
async fn one_call_appends_and_dedupes_for_many_users(bp: &Backplane) {
    let many: Vec<String> = (0..50).map(|i| format!("user{i}")).collect();
    assert_eq!(
        bp.feeds.append(&many, &post(1)).await.expect("append"),
        vec![1; 50]
    );
    assert_eq!(
        bp.feeds.append(&many, &post(2)).await.expect("append"),
        vec![2; 50]
    );
    assert_eq!(
        bp.feeds.append(&many, &post(1)).await.expect("retry"),
        vec![1; 50]
    );
    let slice = bp.feeds.since("user7", 0, 10).await.expect("since");
    assert_eq!(
        slice.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
}
