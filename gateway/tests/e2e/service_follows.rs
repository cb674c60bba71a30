//! The app's backend owns the graph: service-key follows for any user, batches, and the
//! lists to check a sync; pushes follow what the backend wrote.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_writes_and_lists_anyones_follows_and_pushes_follow_them() {
    let node = TestNode::start().await;
    let key = node.api_key();
    let (status, _) = node
        .call(Method::PUT, "/v1/users/bob/follows/alice", key, None)
        .await;
    assert_eq!(status, 204);
    let mut bob = node.connect("bob").await;
    let id = node.post("alice", "for bob").await;
    assert_eq!(
        bob.posts(1).await[0].0,
        id,
        "a follow the backend wrote is pushed"
    );

    // Users cannot write other users' edges, nor list them.
    let bob_token = node.token("bob");
    for (method, path) in [
        (Method::PUT, "/v1/users/carol/follows/alice"),
        (Method::DELETE, "/v1/users/bob/follows/alice"),
        (Method::GET, "/v1/users/carol/follows"),
        (Method::GET, "/v1/users/alice/followers"),
    ] {
        let (status, body) = node.call(method.clone(), path, &bob_token, None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (status, own) = node
        .call(Method::GET, "/v1/users/bob/follows", &bob_token, None)
        .await;
    assert_eq!((status, &own["users"]), (200, &json!(["alice"])));

    let (status, _) = node
        .call(Method::DELETE, "/v1/users/bob/follows/alice", key, None)
        .await;
    assert_eq!(status, 204);
    let (_, followers) = node
        .call(Method::GET, "/v1/users/alice/followers", key, None)
        .await;
    assert_eq!(followers["users"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_ten_thousand_edges_is_applied_once_and_paged_back() {
    let node = TestNode::start().await;
    let key = node.api_key();
    let fans: Vec<String> = (0..5_000).map(|i| format!("fan{i:04}")).collect();
    let edges: Vec<Value> = fans
        .iter()
        .flat_map(|fan| [json!([fan, "star"]), json!([fan, "comet"])])
        .collect();
    let body = json!({ "follow": edges });
    let (status, done) = node
        .call(Method::POST, "/v1/follows/batch", key, Some(body.clone()))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["followed"].as_u64(), done["already"].as_u64()),
        (Some(10_000), Some(0))
    );
    let (_, again) = node
        .call(Method::POST, "/v1/follows/batch", key, Some(body))
        .await;
    assert_eq!(
        (again["followed"].as_u64(), again["already"].as_u64()),
        (Some(0), Some(10_000)),
        "idempotent"
    );

    // Paged back exactly once each, in order.
    let mut seen = Vec::new();
    let mut path = "/v1/users/star/followers?limit=1000".to_owned();
    loop {
        let (status, page) = node.call(Method::GET, &path, key, None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["users"]
                .as_array()
                .expect("users")
                .iter()
                .map(|u| u.as_str().expect("id").to_owned()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/users/star/followers?limit=1000&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, fans);
    let (_, fan) = node
        .call(Method::GET, "/v1/users/fan0007/follows?limit=1", key, None)
        .await;
    assert_eq!(
        (&fan["users"], &fan["next"]),
        (&json!(["comet"]), &json!("comet"))
    );

    // Unfollows in a batch, and the push path agrees.
    let unfollow: Vec<Value> = fans.iter().map(|fan| json!([fan, "comet"])).collect();
    let (status, done) = node
        .call(
            Method::POST,
            "/v1/follows/batch",
            key,
            Some(json!({ "unfollow": unfollow })),
        )
        .await;
    assert_eq!((status, done["unfollowed"].as_u64()), (200, Some(5_000)));
    let mut fan = node.connect("fan0042").await;
    let star = node.post("star", "still followed").await;
    let comet = node.post("comet", "not any more").await;
    let star_again = node.post("star", "again").await;
    let got: Vec<u64> = fan.posts(2).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, vec![star, star_again], "no push of {comet}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_name_the_edge_and_the_limit_is_reported_per_edge() {
    let mut options = crate::support::Options::default();
    options.limits.max_following = std::num::NonZeroUsize::new(2).expect("non-zero");
    let node = TestNode::start_with(options).await;
    let key = node.api_key();
    let call = async |body: Value| {
        node.call(Method::POST, "/v1/follows/batch", key, Some(body))
            .await
    };
    let (status, problem) = call(json!({ "follow": [["ann", "bo"], ["ann", "a,b"]] })).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("follow[1][1]")),
        "{problem}"
    );
    let (status, problem) = call(json!({ "unfollow": [["ann", "ann"]] })).await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (400, Some("unfollow[0]")),
        "{problem}"
    );
    let (status, problem) = call(json!({ "follow": [] })).await;
    assert_eq!(status, 400, "{problem}");
    let too_many: Vec<Value> = (0..10_001).map(|i| json!([format!("u{i}"), "x"])).collect();
    let (status, problem) = call(json!({ "follow": too_many })).await;
    assert_eq!(status, 400, "{problem}");
    let (status, problem) = node
        .call(
            Method::POST,
            "/v1/follows/batch",
            &node.token("ann"),
            Some(json!({ "follow": [["ann", "bo"]] })),
        )
        .await;
    assert_eq!(status, 403, "{problem}");

    let (status, done) =
        call(json!({ "follow": [["ann", "a1"], ["ann", "a2"], ["ann", "a3"]] })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["followed"], 2);
    assert_eq!(done["limit_reached"], json!([["ann", "a3"]]));
    // A user named "batch" is still followed with PUT.
    node.follow("ann2", "batch").await;
}
