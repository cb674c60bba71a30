//! [`FollowGraph`](pushgate_fanout::backplane::FollowGraph): paged followers, both sides of
//! every edge, revisions that move with changes, the follow limit under concurrency, batches
//! and friends.

use pushgate_fanout::backplane::{Backplane, Edge, Followed};
use pushgate_fanout::testing::samples::users;

/// Every promise of the follow graph.
pub async fn check(bp: &Backplane) {
    follower_pages_cover_everyone_once(bp).await;
    unfollow_updates_both_sides_and_revisions_follow_changes(bp).await;
    the_follow_limit_holds_under_concurrent_follows(bp).await;
    batches_apply_every_edge(bp).await;
    friends_are_mutual_follows(bp).await;
}

/// 25 followers in pages of 7; on a Redis Cluster they spread over the slots.
async fn follower_pages_cover_everyone_once(bp: &Backplane) {
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
    assert_eq!(
        bp.follows.following("u03").await.expect("following"),
        users(&["star"])
    );
}

async fn unfollow_updates_both_sides_and_revisions_follow_changes(bp: &Backplane) {
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

/// 20 concurrent follows against a limit of 5: exactly 5 get in. A refused follow leaves no
/// follower behind, a repeated one still succeeds, and an unfollow makes room.
async fn the_follow_limit_holds_under_concurrent_follows(bp: &Backplane) {
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
