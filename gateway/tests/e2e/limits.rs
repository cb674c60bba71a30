//! Admission limits: allowed origins, handshakes per IP, API calls per user.

use std::num::NonZeroU32;

use pushgate_fanout::api::ApiLimits;
use pushgate_fanout::testing::eventually;
use pushgate_gateway::allowed_origins::AllowedOrigins;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{Options, TestNode};

fn refusal(result: Result<impl Sized, tungstenite::Error>) -> Option<u16> {
    match result {
        Err(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_from_foreign_origins_are_refused() {
    let mut options = Options::default();
    options.config.allowed_origins =
        AllowedOrigins::new(["https://app.example"]).expect("an origin");
    let node = TestNode::start_with(options).await;
    let url = format!(
        "ws://{}/v1/ws?access_token={}",
        node.addr(),
        node.token("bob")
    );
    let upgrade = |origin: &'static str| {
        let mut request = url.clone().into_client_request().expect("request");
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
        tokio_tungstenite::connect_async(request)
    };
    assert_eq!(refusal(upgrade("https://evil.example").await), Some(403));
    assert!(upgrade("https://app.example").await.is_ok());
    // Non-browser clients send no Origin and are not affected.
    assert!(tokio_tungstenite::connect_async(&url).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_floods_from_one_address_are_refused_with_429() {
    let mut options = Options::default();
    options.config.handshakes_per_sec = NonZeroU32::new(1).expect("non-zero");
    let node = TestNode::start_with(options).await;
    let url = format!(
        "ws://{}/v1/ws?access_token={}",
        node.addr(),
        node.token("bob")
    );
    let mut statuses = Vec::new();
    let mut open = Vec::new();
    for _ in 0..10 {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => open.push(socket),
            Err(error) => statuses.push(refusal(Err::<(), _>(error))),
        }
    }
    // A burst of 5 is admitted, the rest of the flood is not.
    assert_eq!(open.len(), 5);
    assert!(statuses.iter().all(|s| *s == Some(429)), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_calls_beyond_a_users_budget_get_429_problem_json() {
    let options = Options {
        limits: ApiLimits {
            user_rps: NonZeroU32::new(1).expect("non-zero"),
            ..ApiLimits::default()
        },
        ..Options::default()
    };
    let node = TestNode::start_with(options).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, problem) = node
            .call(reqwest::Method::GET, "/v1/feed", &node.token("bob"), None)
            .await;
        if status == 429 {
            assert_eq!(problem["code"], "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, vec![200, 200, 429, 429, 429]);
    // Another user has a budget of their own.
    assert_eq!(
        node.call(reqwest::Method::GET, "/v1/feed", &node.token("carol"), None)
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_refuses_upgrades_with_503_and_says_where_to_ask() {
    let mut options = Options::default();
    options.config.max_connections = 2;
    let node = TestNode::start_with(options).await;
    let first = node.connect("a").await;
    let _second = node.connect("b").await;
    let url = format!(
        "ws://{}/v1/ws?access_token={}",
        node.addr(),
        node.token("c")
    );
    assert_eq!(
        refusal(tokio_tungstenite::connect_async(&url).await),
        Some(503)
    );
    drop(first);
    // A freed slot is usable again once the node has counted the departure.
    eventually("the freed slot to be usable", || {
        tokio_tungstenite::connect_async(&url)
    })
    .await;
}
