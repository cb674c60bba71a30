//! Celebrity authors: delivered by broadcast without per-follower feed writes, yet in feeds.

use pushgate_fanout::worker::WorkerConfig;
use pushgate_protocol::{ClientFrame, Codec, Cursor, ServerFrame};

use crate::support::{Options, TestNode, WsClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn celebrity_posts_are_broadcast_and_merged_into_feeds_and_resumes() {
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
