//! Celebrity authors: delivered by broadcast without per-follower feed writes, yet in feeds.

use pushgate_fanout::worker::WorkerConfig;
use pushgate_protocol::{ClientFrame, Codec, Cursor, ServerFrame};

use crate::support::{Options, TestNode, WsClient};

/// A node on which "star" is a celebrity (threshold 3) followed by f1, f2 and f3.
async fn node_with_a_celebrity() -> TestNode {
    let options = Options {
        worker: WorkerConfig {
            celebrity_threshold: 3,
            ..WorkerConfig::default()
        },
        ..Options::default()
    };
    let node = TestNode::start_with(options).await;
    for fan in ["f1", "f2", "f3"] {
        node.follow(fan, "star").await;
    }
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celebrity_posts_are_broadcast_and_merged_into_feeds_and_resumes() {
    let node = node_with_a_celebrity().await;
    node.follow("f1", "friend").await;
    let mut f1 = node.connect("f1").await;
    let mut f2 = node.connect("f2").await;
    let mut outsider = node.connect("outsider").await;

    let star_post = node.post("star", "to all my fans").await;
    let friend_post = node.post("friend", "just for f1").await;
    let got = f1.posts(2).await;
    assert_eq!(
        got.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![star_post, friend_post]
    );
    assert_eq!(
        got[0].1,
        Cursor::new(0, 1),
        "celebrity posts advance the broadcast position"
    );
    assert_eq!(
        got[1].1,
        Cursor::new(1, 1),
        "own feed entries advance the feed position"
    );
    assert_eq!(f2.posts(1).await[0].0, star_post);
    outsider
        .silent_for(std::time::Duration::from_millis(300))
        .await;

    // No per-follower feed write happened for the celebrity post, yet it is in the feed.
    let (_, feed) = node
        .call(
            reqwest::Method::GET,
            "/v1/feed?limit=10",
            &node.token("f2"),
            None,
        )
        .await;
    assert_eq!(feed["items"].as_array().map(Vec::len), Some(1), "{feed}");
    assert_eq!(feed["items"][0]["id"], star_post);

    // And a resume from before it replays it.
    let mut f3 = WsClient::connect(node.addr(), &node.token("f3"), Codec::Json, None)
        .await
        .expect("connects");
    f3.send(&ClientFrame::Resume {
        after: Cursor::default(),
    })
    .await;
    assert_eq!(f3.posts(1).await[0].0, star_post);
    assert!(matches!(
        f3.next().await,
        ServerFrame::Resumed {
            replayed: 1,
            complete: true
        }
    ));
}

/// The node remembers which of its users follow a celebrity; a follow, an unfollow or a new
/// connection must each change who gets the next broadcast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_audiences_follow_follows_unfollows_and_new_connections() {
    let node = node_with_a_celebrity().await;
    let mut f1 = node.connect("f1").await;
    let mut late = node.connect("late").await;
    let quiet = std::time::Duration::from_millis(300);

    let first = node.post("star", "one").await;
    assert_eq!(f1.posts(1).await[0].0, first);
    late.silent_for(quiet).await;

    // A follow: the next broadcast reaches the new follower too.
    node.follow("late", "star").await;
    let second = node.post("star", "two").await;
    assert_eq!(late.posts(1).await[0].0, second);
    assert_eq!(f1.posts(1).await[0].0, second);

    // An unfollow: it stops reaching f1 (star still has three followers: a celebrity).
    let (status, body) = node
        .call(
            reqwest::Method::DELETE,
            "/v1/follows/star",
            &node.token("f1"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let third = node.post("star", "three").await;
    assert_eq!(late.posts(1).await[0].0, third);
    f1.silent_for(quiet).await;

    // A new connection of a follower: reached without any follow change.
    let mut f2 = node.connect("f2").await;
    let fourth = node.post("star", "four").await;
    assert_eq!(f2.posts(1).await[0].0, fourth);
    assert_eq!(late.posts(1).await[0].0, fourth);
    f1.silent_for(quiet).await;
}
