//! Friends-only posts: pushed, listed, replayed and readable only between mutual follows, and
//! checked again at every read, so the author's unfollow hides them from then on. The same
//! scenario runs on `pushgate dev` (here) and on Redis processes (`cluster.rs`).

use std::time::Duration;

use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, Cursor, ServerFrame};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestNode, WAIT, WsClient, rest_call};

/// A deployment's REST side: where the scenario calls and who signs its tokens.
pub struct Api<'a> {
    /// `http://host:port` of the REST API.
    pub base: String,
    /// Mints user tokens the deployment accepts.
    pub verifier: &'a TokenVerifier,
    pub http: reqwest::Client,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, user: &str) -> (u16, Value) {
        let token = self.verifier.mint(user, 3600);
        let url = format!("{}{path}", self.base);
        rest_call(&self.http, method, &url, &token, None).await
    }

    async fn follow(&self, user: &str, author: &str) {
        let (status, body) = self
            .call(Method::PUT, &format!("/v1/follows/{author}"), user)
            .await;
        assert_eq!(status, 204, "{body}");
    }

    async fn post(&self, author: &str, visibility: &str) -> u64 {
        let url = format!("{}/v1/posts", self.base);
        let body = json!({ "content": format!("a {visibility} post"), "visibility": visibility });
        let token = self.verifier.mint(author, 3600);
        let (status, post) = rest_call(&self.http, Method::POST, &url, &token, Some(body)).await;
        assert_eq!(status, 201, "{post}");
        post["id"].as_u64().expect("post id")
    }

    /// `user` connected to its home node, resuming after `after` when given.
    async fn connect(&self, user: &str, after: Option<Cursor>) -> WsClient {
        let (status, home) = self.call(Method::GET, "/v1/connect", user).await;
        assert_eq!(status, 200, "{home}");
        let url = home["url"].as_str().expect("url");
        let token = self.verifier.mint(user, 3600);
        WsClient::connect_url(url, &token, Codec::Json, after)
            .await
            .expect("connects")
    }

    /// The post IDs of `user`'s feed (`GET /v1/feed`), newest first.
    async fn feed(&self, user: &str) -> Vec<u64> {
        let (status, page) = self.call(Method::GET, "/v1/feed?limit=50", user).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items");
        items.iter().filter_map(|i| i["id"].as_u64()).collect()
    }

    /// Waits until `user`'s feed lists `id`: the worker has fanned it out.
    async fn until_in_feed(&self, user: &str, id: u64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.feed(user).await.contains(&id) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "post {id} never reached {user}'s feed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether `user` may read post `id`, by both `GET /v1/posts/{id}` and `?ids=`.
    async fn can_read(&self, user: &str, id: u64) -> bool {
        let (one, body) = self
            .call(Method::GET, &format!("/v1/posts/{id}"), user)
            .await;
        let (_, batch) = self
            .call(Method::GET, &format!("/v1/posts?ids={id}"), user)
            .await;
        let in_batch = batch["posts"].as_array().expect("posts").len() == 1;
        match one {
            200 => assert!(in_batch, "{batch}"),
            404 => assert!(!in_batch && body["code"] == "not_found", "{body} {batch}"),
            other => panic!("GET /v1/posts/{id}: {other} {body}"),
        }
        one == 200
    }
}

/// Frames of a resume: the replayed post IDs, then `resumed`.
async fn replay(client: &mut WsClient) -> (Vec<u64>, u64, bool) {
    let mut ids = Vec::new();
    loop {
        match client.next().await {
            ServerFrame::Post { id, .. } => ids.push(id),
            ServerFrame::Resumed { replayed, complete } => return (ids, replayed, complete),
            other => panic!("expected a replay, got {other:?}"),
        }
    }
}

/// fred and alice follow each other (friends); otto follows alice, alice follows sam (one
/// way each); zed knows no one.
pub async fn friends_posts_reach_friends_only(api: &Api<'_>) {
    for (user, author) in [
        ("fred", "alice"),
        ("alice", "fred"),
        ("otto", "alice"),
        ("alice", "sam"),
    ] {
        api.follow(user, author).await;
    }
    let mut fred = api.connect("fred", None).await;
    let mut otto = api.connect("otto", None).await;
    let mut sam = api.connect("sam", None).await;
    let mut zed = api.connect("zed", None).await;

    // Live: one author's posts arrive in order, so otto's first push being the public post
    // shows the friends post was not pushed to him.
    let p1 = api.post("alice", "friends").await;
    let p2 = api.post("alice", "public").await;
    let fred_live = fred.posts(2).await;
    assert_eq!(fred_live.iter().map(|p| p.0).collect::<Vec<_>>(), [p1, p2]);
    let otto_live = otto.posts(1).await;
    assert_eq!(otto_live[0].0, p2);
    sam.silent_for(Duration::from_millis(300)).await;
    zed.silent_for(Duration::from_millis(100)).await;

    // Feeds and post reads.
    assert_eq!(api.feed("fred").await, [p2, p1]);
    let (_, page) = api.call(Method::GET, "/v1/feed?limit=50", "fred").await;
    assert_eq!(page["items"][1]["audience"], "friends", "{page}");
    assert_eq!(page["items"][0].get("audience"), None, "{page}");
    assert_eq!(api.feed("otto").await, [p2]);
    assert!(api.feed("sam").await.is_empty() && api.feed("zed").await.is_empty());
    assert!(api.can_read("alice", p1).await && api.can_read("fred", p1).await);
    for reader in ["otto", "sam", "zed"] {
        assert!(!api.can_read(reader, p1).await, "{reader} read it");
        assert!(api.can_read(reader, p2).await);
    }

    // Resume: fred gets the friends post he missed, otto only the public one.
    drop((fred, otto));
    let p3 = api.post("alice", "friends").await;
    let p4 = api.post("alice", "public").await;
    api.until_in_feed("otto", p4).await;
    let mut fred = api.connect("fred", Some(fred_live[1].1)).await;
    assert_eq!(replay(&mut fred).await, (vec![p3, p4], 2, true));
    let mut otto = api.connect("otto", Some(otto_live[0].1)).await;
    assert_eq!(replay(&mut otto).await, (vec![p4], 1, true));

    // alice unfollows fred: her friends posts leave his reads, and new ones are not pushed.
    let (status, _) = api.call(Method::DELETE, "/v1/follows/fred", "alice").await;
    assert_eq!(status, 204);
    assert_eq!(api.feed("fred").await, [p4, p2]);
    assert!(!api.can_read("fred", p1).await && !api.can_read("fred", p3).await);
    let mut again = api.connect("fred", Some(Cursor::default())).await;
    assert_eq!(replay(&mut again).await, (vec![p2, p4], 2, true));
    let p5 = api.post("alice", "friends").await;
    let p6 = api.post("alice", "public").await;
    assert_eq!(fred.posts(1).await[0].0, p6);
    assert_eq!(again.posts(1).await[0].0, p6);
    assert_eq!(otto.posts(1).await[0].0, p6);
    assert!(api.can_read("alice", p5).await && !api.can_read("fred", p5).await);
    assert_eq!(api.feed("fred").await, [p6, p4, p2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_posts_reach_friends_only_on_dev() {
    let node = TestNode::start().await;
    let api = Api {
        base: node.url(""),
        verifier: &node.verifier,
        http: node.http.clone(),
    };
    friends_posts_reach_friends_only(&api).await;
}
