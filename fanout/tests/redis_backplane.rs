//! The Redis backplane against real `redis-server`s: every trait on one server, a subset on a
//! 3-master Cluster, recovery across a server restart, and (ignored) a bus benchmark.

use std::time::{Duration, Instant};

use pushgate_fanout::backplane::{
    AppendOutcome, Backplane, BackplaneError, CreateOutcome, Edge, FanoutEvent, Followed,
    Idempotency, NewPost, NodeInfo, PresenceChange, Visibility,
};
use pushgate_fanout::memory::MemoryConfig;
use pushgate_fanout::redis::{BusKind, RedisConfig};
use pushgate_fanout::testing::{RedisCluster, RedisServer};
use pushgate_protocol::{FeedItem, NodeMessage, Recipient, TraceParent};

fn post(id: u64) -> FeedItem {
    FeedItem::Post {
        id,
        author: "a".into(),
        ts: id,
    }
}

fn notify_event(n: u64) -> FanoutEvent {
    FanoutEvent::Notify {
        item: FeedItem::Notify {
            id: n,
            kind: "k".into(),
            data: serde_json::json!({"n": n}),
            ts: n,
        },
        users: vec!["u".into()],
    }
}

fn new_post(author: &str, content: &str, visibility: Visibility) -> NewPost {
    NewPost {
        author: author.into(),
        content: content.into(),
        media_url: None,
        visibility,
    }
}

/// A batch, traced for odd `n`: the optional context crosses every bus, and so does its absence.
fn deliver(n: u64) -> NodeMessage {
    NodeMessage::Deliver {
        item: post(n),
        recipients: vec![Recipient {
            user: "u".into(),
            seq: n,
        }],
        trace: (n % 2 == 1)
            .then(|| TraceParent::new(format!("00-{:032x}-{n:016x}-01", u128::from(n) + 1))),
    }
}

fn change(user: &str, connections: u32, epoch: u64) -> PresenceChange {
    PresenceChange {
        user: user.into(),
        connections,
        epoch,
    }
}

fn users(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// A server and a backplane on it.
async fn standalone(tune: impl FnOnce(&mut RedisConfig)) -> (RedisServer, Backplane) {
    let server = RedisServer::start();
    let mut config = RedisConfig::new(server.url());
    tune(&mut config);
    let backplane = Backplane::redis(&config).await.expect("connect");
    (server, backplane)
}

async fn recv(inbox: &mut pushgate_fanout::backplane::Inbox) -> NodeMessage {
    tokio::time::timeout(Duration::from_secs(10), inbox.recv())
        .await
        .expect("a message arrives")
        .expect("inbox open")
}

#[tokio::test]
async fn feed_positions_are_dense_per_user_and_retries_dedupe() {
    let (_server, bp) = standalone(|c| c.feed_cap = 10).await;
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

#[tokio::test]
async fn feed_trimming_makes_old_cursors_incomplete() {
    let (_server, bp) = standalone(|c| c.feed_cap = 3).await;
    let x = users(&["x"]);
    for id in 1..=5 {
        bp.feeds.append(&x, &post(id)).await.expect("append");
    }
    let old = bp.feeds.since("x", 1, 10).await.expect("since");
    assert!(!old.complete);
    assert_eq!(
        old.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    let recent = bp.feeds.since("x", 2, 10).await.expect("since");
    assert!(recent.complete);
    assert_eq!(recent.entries.len(), 3);
    let limited = bp.feeds.since("x", 2, 2).await.expect("since");
    assert_eq!(
        limited.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    let page = bp.feeds.before("x", Some(5), 2).await.expect("before");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 3]);
    let newest = bp.feeds.before("x", None, 10).await.expect("before");
    assert_eq!(
        newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![5, 4, 3]
    );
    // The trimmed item's dedupe entry went with it: appending it again is a new entry.
    assert_eq!(
        bp.feeds.append(&x, &post(1)).await.expect("append"),
        vec![6]
    );
    assert_eq!(bp.feeds.append(&x, &post(5)).await.expect("retry"), vec![5]);
}

#[tokio::test]
async fn follower_pages_cover_everyone_once_and_unfollow_updates_both_sides() {
    let (_server, bp) = standalone(|_| {}).await;
    for i in 0..25 {
        bp.follows
            .follow(&format!("u{i:02}"), "star", 10)
            .await
            .expect("follow");
    }
    assert_eq!(bp.follows.follower_count("star").await.expect("count"), 25);
    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    loop {
        let page = bp
            .follows
            .followers("star", from.as_deref(), 7)
            .await
            .expect("page");
        assert!(page.users.len() <= 7);
        seen.extend(page.users);
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25);
    seen.dedup();
    assert_eq!(seen.len(), 25);
    assert_eq!(
        bp.follows
            .filter_followers("star", &users(&["u03", "zz", "u24"]))
            .await
            .expect("filter"),
        vec![true, false, true]
    );

    let revision = |author: &'static str| {
        let follows = bp.follows.clone();
        async move { follows.followers_revision(author).await.expect("revision") }
    };
    assert_eq!(revision("b").await, 0, "nothing recorded yet");
    assert_eq!(
        bp.follows.follow("a", "b", 10).await.expect("follow"),
        Followed::New
    );
    let followed = revision("b").await;
    assert_ne!(followed, 0, "a follow moves the revision");
    assert_eq!(
        bp.follows.follow("a", "b", 10).await.expect("follow again"),
        Followed::Already
    );
    assert_eq!(revision("b").await, followed, "a no-op leaves it");
    assert_eq!(
        bp.follows.following("a").await.expect("following"),
        users(&["b"])
    );
    assert!(bp.follows.unfollow("a", "b").await.expect("unfollow"));
    let unfollowed = revision("b").await;
    assert_ne!(unfollowed, followed, "an unfollow moves it again");
    assert!(!bp.follows.unfollow("a", "b").await.expect("unfollow again"));
    assert_eq!(revision("b").await, unfollowed);
    assert_eq!(bp.follows.follower_count("b").await.expect("count"), 0);
    assert!(
        bp.follows
            .following("a")
            .await
            .expect("following")
            .is_empty()
    );
}

#[tokio::test]
async fn the_follow_limit_holds_under_concurrent_follows() {
    let (_server, bp) = standalone(|_| {}).await;
    let attempts: Vec<_> = (0..20)
        .map(|i| {
            let follows = bp.follows.clone();
            tokio::spawn(async move { follows.follow("fan", &format!("author{i}"), 5).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("task").expect("follow"));
    }
    let new = outcomes.iter().filter(|o| **o == Followed::New).count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == Followed::LimitReached)
        .count();
    assert_eq!((new, refused), (5, 15));
    let following = bp.follows.following("fan").await.expect("following");
    assert_eq!(following.len(), 5);
    // A refused follow left no follower behind, a repeated one still succeeds, and an
    // unfollow makes room.
    let refused_author = (0..20)
        .map(|i| format!("author{i}"))
        .find(|a| !following.contains(a))
        .expect("one was refused");
    assert_eq!(
        bp.follows
            .follower_count(&refused_author)
            .await
            .expect("count"),
        0
    );
    assert_eq!(
        bp.follows
            .follow("fan", &following[0], 5)
            .await
            .expect("again"),
        Followed::Already
    );
    bp.follows
        .unfollow("fan", &following[0])
        .await
        .expect("unfollow");
    assert_eq!(
        bp.follows
            .follow("fan", &refused_author, 5)
            .await
            .expect("follow"),
        Followed::New
    );
    assert_eq!(
        bp.follows
            .follower_count(&refused_author)
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn create_is_atomic_and_idempotent() {
    let (_server, bp) = standalone(|_| {}).await;
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
        FanoutEvent::Post {
            item: FeedItem::Post {
                id: 1,
                author: "al".into(),
                ts: created.ts
            },
            visibility: Visibility::Public,
        }
    );
    assert!(matches!(
        events[1].event,
        FanoutEvent::Post {
            visibility: Visibility::Followers,
            ..
        }
    ));

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

/// An idempotent notification append: a retry replays the first notification's ID and
/// appends nothing; the same key with another request is a conflict.
async fn idempotent_appends_replay(bp: &Backplane) {
    let first = Idempotency {
        key: "retry-1",
        fingerprint: "aaaa",
    };
    assert_eq!(
        bp.events
            .append(notify_event(41), Some(first))
            .await
            .expect("append"),
        AppendOutcome::Appended
    );
    assert_eq!(
        bp.events
            .append(notify_event(42), Some(first))
            .await
            .expect("retry"),
        AppendOutcome::Replayed { notification: 41 }
    );
    let changed = Idempotency {
        fingerprint: "bbbb",
        ..first
    };
    assert!(matches!(
        bp.events.append(notify_event(43), Some(changed)).await,
        Err(BackplaneError::Conflict(_))
    ));
    let logged = bp
        .events
        .read("idem", 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(logged.len(), 1, "one event for the key");
    assert_eq!(logged[0].event, notify_event(41));
    bp.events.ack(&[logged[0].id.clone()]).await.expect("ack");
}

#[tokio::test]
async fn idempotent_appends_replay_in_memory() {
    idempotent_appends_replay(&Backplane::memory(&MemoryConfig::default())).await;
}

#[tokio::test]
async fn idempotent_appends_replay_on_redis() {
    let (_server, bp) = standalone(|_| {}).await;
    idempotent_appends_replay(&bp).await;
}

fn edges(pairs: &[(&str, &str)]) -> Vec<Edge> {
    pairs
        .iter()
        .map(|(user, author)| Edge {
            user: (*user).into(),
            author: (*author).into(),
        })
        .collect()
}

/// A batch does what the single calls would, edge by edge, and keeps the revisions right.
async fn batches_apply_every_edge(bp: &Backplane) {
    bp.follows.follow("kim", "old", 10).await.expect("follow");
    let untouched = bp.follows.followers_revision("calm").await.expect("rev");
    let before = bp.follows.followers_revision("new1").await.expect("rev");
    let outcome = bp
        .follows
        .apply(
            &edges(&[
                ("kim", "new1"),
                ("kim", "old"),
                ("lee", "new1"),
                ("kim", "new2"),
                ("kim", "new3"),
            ]),
            &edges(&[("kim", "old"), ("kim", "never")]),
            3,
        )
        .await
        .expect("apply");
    assert_eq!(
        outcome.followed,
        vec![
            Followed::New,
            Followed::Already,
            Followed::New,
            Followed::New,
            Followed::LimitReached
        ],
        "kim held old, took new1 and new2, and was full for new3"
    );
    assert_eq!(outcome.unfollowed, vec![true, false]);
    let mut kim = bp.follows.following("kim").await.expect("following");
    kim.sort();
    assert_eq!(kim, users(&["new1", "new2"]));
    let new1 = bp
        .follows
        .followers("new1", None, 10)
        .await
        .expect("followers");
    assert_eq!(new1.users, users(&["kim", "lee"]));
    assert_ne!(
        bp.follows.followers_revision("new1").await.expect("rev"),
        before
    );
    assert_eq!(
        bp.follows.followers_revision("calm").await.expect("rev"),
        untouched
    );
    // Retried, the batch converges: nothing new, nothing lost.
    let again = bp
        .follows
        .apply(&edges(&[("kim", "new1"), ("lee", "new1")]), &[], 3)
        .await
        .expect("apply again");
    assert_eq!(again.followed, vec![Followed::Already; 2]);
}

#[tokio::test]
async fn batches_apply_every_edge_in_memory() {
    batches_apply_every_edge(&Backplane::memory(&MemoryConfig::default())).await;
}

#[tokio::test]
async fn batches_apply_every_edge_on_redis() {
    let (_server, bp) = standalone(|_| {}).await;
    batches_apply_every_edge(&bp).await;
}

/// A later revocation replaces an earlier one; `since` reads from a point on; revocations
/// older than `keep` are forgotten.
async fn revocations_keep_the_latest(bp: &Backplane) {
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

#[tokio::test]
async fn revocations_keep_the_latest_in_memory() {
    revocations_keep_the_latest(&Backplane::memory(&MemoryConfig::default())).await;
}

#[tokio::test]
async fn revocations_keep_the_latest_on_redis() {
    let (_server, bp) = standalone(|_| {}).await;
    revocations_keep_the_latest(&bp).await;
}

/// Friends are mutual follows: following someone who does not follow back is not enough.
async fn friends_are_mutual_follows(bp: &Backplane) {
    for (user, author) in [
        ("amy", "ben"),
        ("ben", "amy"),
        ("amy", "cat"),
        ("dan", "amy"),
    ] {
        bp.follows.follow(user, author, 10).await.expect("follow");
    }
    let others = users(&["ben", "cat", "dan", "eve"]);
    assert_eq!(
        bp.follows.friends("amy", &others).await.expect("friends"),
        vec![true, false, false, false]
    );
    bp.follows.unfollow("ben", "amy").await.expect("unfollow");
    assert_eq!(
        bp.follows.friends("amy", &others).await.expect("friends"),
        vec![false; 4]
    );
}

#[tokio::test]
async fn friends_are_mutual_follows_in_memory() {
    friends_are_mutual_follows(&Backplane::memory(&MemoryConfig::default())).await;
}

#[tokio::test]
async fn friends_are_mutual_follows_on_redis() {
    let (_server, bp) = standalone(|_| {}).await;
    friends_are_mutual_follows(&bp).await;
}

#[tokio::test]
async fn events_are_read_acked_reclaimed_and_dead_lettered() {
    let (server, bp) = standalone(|c| c.claim_after = Duration::ZERO).await;
    bp.events
        .append(notify_event(1), None)
        .await
        .expect("append");
    let first = bp.events.read("a", 10, Duration::ZERO).await.expect("read");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 0);
    assert_eq!(first[0].event, notify_event(1));
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
        .append(notify_event(2), None)
        .await
        .expect("append");
    let poison = bp.events.read("a", 1, Duration::ZERO).await.expect("read");
    bp.events
        .dead_letter(&poison[0], "poison")
        .await
        .expect("dead letter");
    assert_eq!(bp.events.pending().await.expect("pending"), 0);
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let dead: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("pg:{fo}:dead")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("xrange");
    assert_eq!(dead.ids.len(), 1);
    assert_eq!(
        dead.ids[0].get::<String>("reason").as_deref(),
        Some("poison")
    );
    // Acked entries are trimmed, so the stream holds only the backlog.
    let len: u64 = redis::cmd("XLEN")
        .arg("pg:{fo}:events")
        .query_async(&mut conn)
        .await
        .expect("xlen");
    assert_eq!(len, 0);
}

#[tokio::test]
async fn full_log_refuses_appends_and_creates() {
    let (_server, bp) = standalone(|c| c.event_log_cap = 1).await;
    bp.events
        .append(notify_event(1), None)
        .await
        .expect("first fits");
    assert!(matches!(
        bp.events.append(notify_event(2), None).await,
        Err(BackplaneError::Full(_))
    ));
    assert!(matches!(
        bp.posts
            .create(new_post("al", "hi", Visibility::Public), None)
            .await,
        Err(BackplaneError::Full(_))
    ));
    // A private post appends nothing, so a full log does not stop it.
    assert!(
        bp.posts
            .create(new_post("al", "hi", Visibility::Private), None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn blocked_read_wakes_on_append() {
    let (_server, bp) = standalone(|_| {}).await;
    let reader = {
        let bp = bp.clone();
        tokio::spawn(async move { bp.events.read("a", 1, Duration::from_secs(8)).await })
    };
    // Appending from the shared connection while the read blocks on its own one.
    tokio::time::sleep(Duration::from_millis(100)).await;
    bp.events
        .append(notify_event(7), None)
        .await
        .expect("append");
    let got = reader.await.expect("join").expect("read");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event, notify_event(7));
}

#[tokio::test]
async fn broadcasts_merge_authors_in_global_order_and_dedupe_by_post() {
    let (_server, bp) = standalone(|c| c.broadcast_cap = 2).await;
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
            ts: 2
        }
    );
    assert!(slice.complete);
    log.append("a", 13, 4).await.expect("append");
    assert!(!log.since(&authors, 0, 10).await.expect("since").complete);
    assert!(log.since(&authors, 1, 10).await.expect("since").complete);
    let newest = log.before(&authors, None, 2).await.expect("before");
    assert_eq!(newest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 3]);
    let older = log.before(&authors, Some(3), 10).await.expect("before");
    assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2]);
    assert_eq!(log.head().await.expect("head"), 4);
    // Gateways fill gaps from the all-authors log, authors with odd names included.
    log.append("c:d", 14, 5).await.expect("append");
    let tail = log.range(3, 10).await.expect("range");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
    assert_eq!(
        tail[1].item,
        FeedItem::Post {
            id: 14,
            author: "c:d".into(),
            ts: 5
        }
    );
}

/// A broadcast reaches both subscribed inboxes.
async fn broadcast_reaches(
    bp: &Backplane,
    n1: &mut pushgate_fanout::backplane::Inbox,
    n2: &mut pushgate_fanout::backplane::Inbox,
) {
    let celebrity = NodeMessage::Broadcast {
        id: 5,
        author: "star".into(),
        ts: 9,
        seq: 1,
        trace: Some(TraceParent::new(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        )),
    };
    bp.bus
        .broadcast(celebrity.clone())
        .await
        .expect("broadcast");
    assert_eq!(recv(n1).await, celebrity);
    assert_eq!(recv(n2).await, celebrity);
}

#[tokio::test]
async fn pubsub_inboxes_receive_sends_and_broadcasts() {
    let (_server, bp) = standalone(|_| {}).await;
    let mut n1 = bp.bus.subscribe("n1").await.expect("subscribe");
    let mut n2 = bp.bus.subscribe("n2").await.expect("subscribe");
    bp.bus.send("n1", deliver(1)).await.expect("send");
    assert_eq!(recv(&mut n1).await, deliver(1));
    assert!(matches!(
        bp.bus.send("nobody", deliver(2)).await,
        Err(BackplaneError::Unavailable(_))
    ));
    broadcast_reaches(&bp, &mut n1, &mut n2).await;
    // A later subscribe replaces the inbox.
    let mut n1_again = bp.bus.subscribe("n1").await.expect("resubscribe");
    bp.bus.send("n1", deliver(3)).await.expect("send");
    assert_eq!(recv(&mut n1_again).await, deliver(3));
}

#[tokio::test]
async fn stream_inboxes_receive_sends_and_broadcasts_to_live_nodes() {
    let (_server, bp) = standalone(|c| c.bus = BusKind::Stream).await;
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
    bp.bus
        .send("n1", deliver(0))
        .await
        .expect("sent before subscribing");
    let mut n1 = bp.bus.subscribe("n1").await.expect("subscribe");
    let mut n2 = bp.bus.subscribe("n2").await.expect("subscribe");
    bp.bus.send("n1", deliver(1)).await.expect("send");
    assert_eq!(recv(&mut n1).await, deliver(1), "an inbox starts empty");
    broadcast_reaches(&bp, &mut n1, &mut n2).await;
}

#[tokio::test]
async fn membership_expires_by_ttl_and_lists_by_id() {
    let (_server, bp) = standalone(|_| {}).await;
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

#[tokio::test]
async fn presence_is_fenced_by_epoch_and_ends_with_the_lease() {
    let (_server, bp) = standalone(|_| {}).await;
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
    p.renew("n2", lease).await.expect("renew");
    assert!(p.query(&users(&["u"])).await.expect("query")[0].online);

    // A connect storm arrives as one batch spanning several script calls.
    let storm: Vec<String> = (0..150).map(|i| format!("s{i}")).collect();
    let changes: Vec<PresenceChange> = storm.iter().map(|u| change(u, 1, 1)).collect();
    p.publish("n3", &changes, lease).await.expect("publish");
    let all = p.query(&storm).await.expect("query");
    assert!(
        all.iter()
            .zip(&storm)
            .all(|(p, u)| p.online && p.user == *u)
    );
}

#[tokio::test]
async fn a_cluster_serves_every_concept() {
    let cluster = RedisCluster::start();
    let mut config = RedisConfig::new(cluster.url());
    config.claim_after = Duration::ZERO;
    config.feed_cap = 3;
    let bp = Backplane::redis(&config).await.expect("connect");
    idempotent_appends_replay(&bp).await;
    batches_apply_every_edge(&bp).await;

    // Users spread over every slot: one call still appends and dedupes for all of them.
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

    for user in &many[..10] {
        bp.follows.follow(user, "star", 10).await.expect("follow");
    }
    assert_eq!(bp.follows.follower_count("star").await.expect("count"), 10);
    assert_eq!(
        bp.follows.following("user3").await.expect("following"),
        users(&["star"])
    );

    let created = bp
        .posts
        .create(new_post("star", "hello", Visibility::Public), Some("k"))
        .await
        .expect("create");
    let CreateOutcome::Created(created) = created else {
        panic!("must create");
    };
    assert_eq!(
        bp.posts
            .create(new_post("star", "hello", Visibility::Public), Some("k"))
            .await
            .expect("replay"),
        CreateOutcome::Replayed(created.clone())
    );
    let events = bp.events.read("w", 10, Duration::ZERO).await.expect("read");
    assert_eq!(events.len(), 1);
    let reclaimed = bp
        .events
        .read("w2", 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(reclaimed[0].attempts, 1);
    bp.events
        .ack(&[reclaimed[0].id.clone()])
        .await
        .expect("ack");
    assert_eq!(bp.events.pending().await.expect("pending"), 0);

    bp.broadcasts
        .append("star", created.id, created.ts)
        .await
        .expect("append");
    bp.broadcasts.append("moon", 99, 1).await.expect("append");
    let slice = bp
        .broadcasts
        .since(&users(&["star", "moon"]), 0, 10)
        .await
        .expect("since");
    assert_eq!(slice.entries.len(), 2);

    let lease = Duration::from_secs(30);
    bp.presence
        .publish("n1", &[change("user1", 1, 1), change("user2", 2, 1)], lease)
        .await
        .expect("publish");
    let presence = bp.presence.query(&many[..3]).await.expect("query");
    assert_eq!(
        presence.iter().map(|p| p.connections).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    let info = NodeInfo {
        id: "n1".into(),
        url: "ws://n1".into(),
        connections: 3,
        capacity: 0,
    };
    bp.membership
        .heartbeat(&info, lease)
        .await
        .expect("heartbeat");
    assert_eq!(bp.membership.live().await.expect("live"), vec![info]);

    let mut inbox = bp.bus.subscribe("n1").await.expect("subscribe");
    bp.bus.send("n1", deliver(1)).await.expect("send");
    assert_eq!(recv(&mut inbox).await, deliver(1));
}

/// Retry `call` until it succeeds, for a backplane waiting for Redis to come back.
async fn eventually<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BackplaneError>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match call().await {
            Ok(value) => return value,
            Err(e) => {
                assert!(Instant::now() < deadline, "never recovered: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn calls_fail_unavailable_while_redis_is_down_and_recover_after() {
    let (mut server, bp) = standalone(|_| {}).await;
    let x = users(&["x"]);
    bp.feeds.append(&x, &post(1)).await.expect("append");
    let mut inbox = bp.bus.subscribe("n1").await.expect("subscribe");
    bp.events
        .append(notify_event(1), None)
        .await
        .expect("append");

    server.stop();
    let down = bp.feeds.append(&x, &post(2)).await;
    assert!(
        matches!(down, Err(BackplaneError::Unavailable(_))),
        "{down:?}"
    );
    let down = bp.events.read("w", 1, Duration::ZERO).await;
    assert!(
        matches!(down, Err(BackplaneError::Unavailable(_))),
        "{down:?}"
    );

    // Back, but empty (nothing is persisted): the same backplane works again.
    server.restart();
    let second = post(2);
    let positions = eventually(|| bp.feeds.append(&x, &second)).await;
    assert_eq!(positions, vec![1]);
    eventually(|| bp.events.append(notify_event(2), None)).await;
    let events = eventually(|| bp.events.read("w", 10, Duration::ZERO)).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event, notify_event(2));
    // The inbox pump resubscribes by itself; sends fail only until it has.
    eventually(|| bp.bus.send("n1", deliver(9))).await;
    assert_eq!(recv(&mut inbox).await, deliver(9));
}

/// Messages per second through each node bus, from several concurrent senders into one
/// inbox. Run with `cargo test -p pushgate-fanout --release --test redis_backplane -- \
/// --ignored --nocapture bus_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly"]
async fn bus_throughput() {
    const SENDERS: usize = 8;
    const PER_SENDER: usize = 5_000;
    for kind in [BusKind::PubSub, BusKind::Stream] {
        let (_server, bp) = standalone(|c| {
            c.bus = kind;
            c.inbox_capacity = 8192;
        })
        .await;
        let mut inbox = bp.bus.subscribe("n1").await.expect("subscribe");
        let started = Instant::now();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let bp = bp.clone();
                tokio::spawn(async move {
                    for i in 0..PER_SENDER {
                        bp.bus
                            .send("n1", deliver((s * PER_SENDER + i) as u64))
                            .await
                            .expect("send");
                    }
                })
            })
            .collect();
        let total = SENDERS * PER_SENDER;
        let mut received = 0;
        while received < total {
            match tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        let elapsed = started.elapsed();
        for sender in senders {
            sender.await.expect("sender");
        }
        println!(
            "{kind:?}: {received}/{total} received in {elapsed:?} = {:.0} msg/s",
            received as f64 / elapsed.as_secs_f64()
        );
    }
}

/// Feed appends per second when one item fans out to many users in chunks, as a worker does.
/// Run like `bus_throughput`, filtered by `feed_append_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run explicitly"]
async fn feed_append_throughput() {
    const USERS: usize = 20_000;
    const CHUNK: usize = 1_000;
    const ITEMS: u64 = 5;
    let (_server, bp) = standalone(|_| {}).await;
    let all: Vec<String> = (0..USERS).map(|i| format!("user{i}")).collect();
    let started = Instant::now();
    for id in 1..=ITEMS {
        for chunk in all.chunks(CHUNK) {
            bp.feeds.append(chunk, &post(id)).await.expect("append");
        }
    }
    let elapsed = started.elapsed();
    let appends = USERS as u64 * ITEMS;
    println!(
        "feed appends: {appends} in {elapsed:?} = {:.0} appends/s (chunks of {CHUNK})",
        appends as f64 / elapsed.as_secs_f64()
    );
}
