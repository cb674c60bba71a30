//! [`BroadcastLog`](pushgate_fanout::backplane::BroadcastLog): one global order over every
//! author, dedupe by post, per-author trimming at [`BROADCAST_CAP`](super::BROADCAST_CAP),
//! and the all-authors range gateways fill gaps from.

use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::testing::samples::users;
use pushgate_protocol::{Audience, FeedItem};

/// Every promise of the broadcast log.
pub async fn check(bp: &Backplane) {
    let log = &bp.broadcasts;
    assert_eq!(log.append("a", 10, 1).await.expect("append"), 1);
    assert_eq!(log.append("b", 11, 2).await.expect("append"), 2);
    assert_eq!(log.append("a", 10, 1).await.expect("retry"), 1);
    assert_eq!(log.append("a", 12, 3).await.expect("append"), 3);
    let authors = users(&["a", "b"]);
    let slice = log.since(&authors, 0, 10).await.expect("since");
    assert_eq!(
        slice.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        slice.entries[1].item,
        FeedItem::Post {
            id: 11,
            author: "b".into(),
            ts: 2,
            audience: Audience::Followers,
        }
    );
    assert!(slice.complete);
    // A third post by `a` trims its first: a cursor before it can no longer be complete.
    log.append("a", 13, 4).await.expect("append");
    assert!(!log.since(&authors, 0, 10).await.expect("since").complete);
    assert!(log.since(&authors, 1, 10).await.expect("since").complete);
    let newest = log.before(&authors, None, 2).await.expect("before");
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 3]);
    let older = log.before(&authors, Some(3), 10).await.expect("before");
    assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(log.head().await.expect("head"), 4);
    let all = log.range(2, 10).await.expect("range");
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
    // Gateways fill gaps from the all-authors log, authors with odd names included.
    log.append("c:d", 14, 5).await.expect("append");
    let tail = log.range(3, 10).await.expect("range");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
    assert_eq!(
        tail[1].item,
        FeedItem::Post {
            id: 14,
            author: "c:d".into(),
            ts: 5,
            audience: Audience::Followers,
        }
    );
}
