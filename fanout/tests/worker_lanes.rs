//! The fan-out worker's lanes against a real `redis-server`: a big post does not hold back
//! other authors' posts, one author's posts keep their order, and entries no worker can
//! decode hold back nothing.

use std::sync::Arc;
use std::time::Duration;

use pushgate_fanout::backplane::{
    Backplane, CreateOutcome, Inbox, NewPost, NodeInfo, UserId, Visibility,
};
use pushgate_fanout::drain::Drain;
use pushgate_fanout::redis::RedisConfig;
use pushgate_fanout::ring::{DEFAULT_VNODES, Ring};
use pushgate_fanout::testing::raw_log::{RawLog, undecodable_entries};
use pushgate_fanout::testing::{RedisServer, eventually};
use pushgate_fanout::worker::{Worker, WorkerConfig};
use pushgate_protocol::{FeedItem, NodeMessage};
use tokio::sync::watch;

/// A backplane on a fresh server with every user homed on node `n1`, whose inbox is open.
async fn deployment() -> (RedisServer, Backplane, Inbox) {
    let server = RedisServer::start();
    let backplane = Backplane::redis(&RedisConfig::new(server.target()))
        .await
        .expect("connect");
    let inbox = backplane.bus.subscribe("n1").await.expect("inbox");
    (server, backplane, inbox)
}

/// Start a worker with `lanes` lanes, small chunks (many round trips per big post), and a
/// ring of the one node `n1`.
fn start_worker(backplane: &Backplane, lanes: usize, drain: &Drain) {
    let node = NodeInfo {
        id: "n1".into(),
        url: "ws://n1/v1/ws".into(),
        connections: 0,
        capacity: 0,
    };
    let (ring, view) = watch::channel(Arc::new(Ring::new(vec![node], DEFAULT_VNODES)));
    let config = WorkerConfig {
        consumer: "w1".into(),
        chunk: 100,
        lanes,
        ..WorkerConfig::default()
    };
    let worker = Worker::new(backplane.clone(), view, config);
    let stop = drain.clone();
    drain.spawn(async move {
        // The ring's sender lives as long as the worker, so the ring never goes stale.
        let _ring = ring;
        worker.run(stop).await;
    });
}

async fn post(backplane: &Backplane, author: &str) -> u64 {
    let new = NewPost {
        author: author.into(),
        content: "hello".into(),
        media_url: None,
        visibility: Visibility::Public,
    };
    match backplane.posts.create(new, None).await.expect("create") {
        CreateOutcome::Created(post) => post.id,
        CreateOutcome::Replayed(_) => panic!("no idempotency key was given"),
    }
}

/// Read the inbox until `deliveries` recipients were delivered; returns the post of each
/// message in arrival order.
async fn delivered_posts(inbox: &mut Inbox, mut deliveries: usize) -> Vec<u64> {
    let mut order = Vec::new();
    while deliveries > 0 {
        let message = tokio::time::timeout(Duration::from_secs(20), inbox.recv())
            .await
            .expect("deliveries arrive")
            .expect("inbox open");
        if let NodeMessage::Deliver {
            item, recipients, ..
        } = message
        {
            let FeedItem::Post { id, .. } = item else {
                panic!("only posts were made")
            };
            deliveries -= recipients.len();
            order.push(id);
        }
    }
    order
}

/// `big` is followed by 3,000 users (30 chunks, each a feed append and a publish), then eight
/// small authors post once each to one follower. Returns where the big post's last delivery
/// arrived, the small posts, and the arrival order of deliveries.
async fn big_post_then_small_ones(lanes: usize) -> (usize, Vec<u64>, Vec<u64>) {
    let (_server, backplane, mut inbox) = deployment().await;
    let fans: Vec<UserId> = (0..3_000).map(|i| format!("fan{i}")).collect();
    for fan in &fans {
        backplane
            .follows
            .follow(fan, "big", 10)
            .await
            .expect("follow");
    }
    let smalls: Vec<String> = (0..8).map(|i| format!("small{i}")).collect();
    for small in &smalls {
        backplane
            .follows
            .follow("reader", small, 10)
            .await
            .expect("follow");
    }
    // Everything is in the log before the worker starts, so it reads all nine at once.
    let big = post(&backplane, "big").await;
    let mut small_ids = Vec::new();
    for small in &smalls {
        small_ids.push(post(&backplane, small).await);
    }
    let drain = Drain::new();
    start_worker(&backplane, lanes, &drain);
    let order = delivered_posts(&mut inbox, fans.len() + smalls.len()).await;
    drain.drain_and_wait().await;
    let last_big = order
        .iter()
        .rposition(|id| *id == big)
        .expect("big delivered");
    (last_big, small_ids, order)
}

#[tokio::test]
async fn a_big_post_does_not_hold_back_other_authors_posts() {
    let (last_big, small_ids, order) = big_post_then_small_ones(8).await;
    let first_small = order
        .iter()
        .position(|id| small_ids.contains(id))
        .expect("small delivered");
    assert!(
        first_small < last_big,
        "a small author's post goes out while the big one is still fanning out: {order:?}"
    );
}

#[tokio::test]
async fn with_one_lane_events_go_strictly_one_after_another() {
    let (last_big, small_ids, order) = big_post_then_small_ones(1).await;
    assert_eq!(
        last_big, 29,
        "the big post's 30 chunks come first: {order:?}"
    );
    assert!(order[30..].iter().all(|id| small_ids.contains(id)));
}

#[tokio::test]
async fn one_authors_posts_keep_their_order_across_lanes() {
    let (_server, backplane, mut inbox) = deployment().await;
    let authors = ["ann", "bob", "cyd"];
    for author in authors {
        backplane
            .follows
            .follow("reader", author, 10)
            .await
            .expect("follow");
    }
    let mut made: Vec<(usize, u64)> = Vec::new();
    for _ in 0..10 {
        for (a, author) in authors.iter().enumerate() {
            made.push((a, post(&backplane, author).await));
        }
    }
    let drain = Drain::new();
    start_worker(&backplane, 8, &drain);
    delivered_posts(&mut inbox, made.len()).await;
    drain.drain_and_wait().await;

    let feed = backplane
        .feeds
        .since("reader", 0, 100)
        .await
        .expect("feed")
        .entries;
    assert_eq!(feed.len(), made.len());
    for (a, _) in authors.iter().enumerate() {
        let posted: Vec<u64> = made
            .iter()
            .filter(|(b, _)| *b == a)
            .map(|(_, id)| *id)
            .collect();
        let in_feed: Vec<u64> = feed
            .iter()
            .filter_map(|entry| match &entry.item {
                FeedItem::Post { id, .. } if posted.contains(id) => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(in_feed, posted, "{} posts in the order made", authors[a]);
    }
}

/// A poison message: entries a foreign writer put in the log between two posts, in the same
/// read batch, are dead-lettered and acked, and both posts reach the follower's feed.
#[tokio::test]
async fn undecodable_entries_are_dead_lettered_and_later_posts_still_fan_out() {
    let (server, backplane, _inbox) = deployment().await;
    let raw = RawLog::open(&server).await;
    backplane
        .follows
        .follow("reader", "ann", 10)
        .await
        .expect("follow");
    let first = post(&backplane, "ann").await;
    let mut garbage = Vec::new();
    for entry in undecodable_entries() {
        garbage.push(raw.append(&entry.fields).await);
    }
    let second = post(&backplane, "ann").await;
    // Everything is in the log before the worker starts, so one read takes all of it.
    let drain = Drain::new();
    start_worker(&backplane, 8, &drain);

    let feed = eventually("both posts in the follower's feed", || async {
        let feed = backplane
            .feeds
            .since("reader", 0, 10)
            .await
            .expect("feed")
            .entries;
        (feed.len() == 2).then_some(feed)
    })
    .await;
    let ids: Vec<FeedItem> = feed.into_iter().map(|entry| entry.item).collect();
    assert!(
        matches!(&ids[..], [FeedItem::Post { id: a, .. }, FeedItem::Post { id: b, .. }] if (*a, *b) == (first, second)),
        "{ids:?}"
    );
    let dead = eventually("every undecodable entry dead-lettered", || async {
        let dead = raw.dead_letters().await;
        (dead.len() == garbage.len()).then_some(dead)
    })
    .await;
    let dead_ids: Vec<Option<String>> = dead.iter().map(|d| d.get("id")).collect();
    assert_eq!(dead_ids, garbage.into_iter().map(Some).collect::<Vec<_>>());
    eventually("nothing pending", || async { raw.pending().await == 0 }).await;
    drain.drain_and_wait().await;
}
