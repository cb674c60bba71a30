//! CORS for browser pages on other origins: REST preflights and answers, event streams.

use pushgate_gateway::allowed_origins::AllowedOrigins;
use pushgate_protocol::ServerFrame;
use reqwest::Method;
use reqwest::header::{HeaderMap, ORIGIN};

use crate::support::{Options, SseClient, SseRequest, TestNode};

const APP: &str = "https://app.example";
const FOREIGN: &str = "https://evil.example";

async fn node_allowing(origins: &[&str]) -> TestNode {
    let mut options = Options::default();
    options.config.allowed_origins = AllowedOrigins::new(origins).expect("origins");
    TestNode::start_with(options).await
}

/// The headers of a preflight for a `GET` with a bearer token from `origin`.
async fn preflight(node: &TestNode, path: &str, origin: &str) -> HeaderMap {
    let response = node
        .http
        .request(Method::OPTIONS, node.url(path))
        .header(ORIGIN, origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("preflight sent");
    assert!(response.status().is_success(), "{}", response.status());
    response.headers().clone()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_origin_may_call_rest_and_others_may_not_read_it() {
    let node = node_allowing(&[APP]).await;
    let allowed = preflight(&node, "/v1/feed", APP).await;
    assert_eq!(header(&allowed, "access-control-allow-origin"), Some(APP));
    let headers = header(&allowed, "access-control-allow-headers").unwrap_or_default();
    assert!(headers.contains("authorization"), "{headers}");
    assert_eq!(header(&allowed, "access-control-max-age"), Some("600"));
    let refused = preflight(&node, "/v1/feed", FOREIGN).await;
    assert_eq!(header(&refused, "access-control-allow-origin"), None);

    let answer = |origin: &'static str| {
        node.http
            .get(node.url("/v1/feed"))
            .bearer_auth(node.token("bob"))
            .header(ORIGIN, origin)
            .send()
    };
    let listed = answer(APP).await.expect("sent");
    assert_eq!(listed.status(), 200);
    assert_eq!(
        header(listed.headers(), "access-control-allow-origin"),
        Some(APP)
    );
    assert!(varies_by_origin(listed.headers()), "answers vary by origin");
    let foreign = answer(FOREIGN).await.expect("sent");
    assert_eq!(
        header(foreign.headers(), "access-control-allow-origin"),
        None
    );
}

/// An event-stream request from `origin`: as browsers send it, which the early path serves,
/// or with more headers than it parses, so hyper and the router serve it.
fn stream_request(node: &TestNode, origin: &str, through_hyper: bool) -> SseRequest {
    let pads = if through_hyper { 40 } else { 0 };
    let mut extra_headers: Vec<(String, String)> = (0..pads)
        .map(|i| (format!("x-pad-{i}"), "v".into()))
        .collect();
    extra_headers.push(("origin".into(), origin.into()));
    SseRequest {
        access_token: Some(node.token("bob")),
        extra_headers,
        ..SseRequest::default()
    }
}

fn varies_by_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|name| name.trim() == "origin"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_from_a_listed_origin_is_readable_and_a_foreign_one_is_refused() {
    let node = node_allowing(&[APP]).await;
    for through_hyper in [false, true] {
        let mut stream = SseClient::open(node.addr(), &stream_request(&node, APP, through_hyper))
            .await
            .map_err(|(status, problem)| format!("{status} {problem}"))
            .expect("admitted");
        let headers = stream.response.headers().clone();
        assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
        assert!(varies_by_origin(&headers), "{headers:?}");
        let welcome = stream.next_event().await;
        assert!(matches!(welcome.frame(), ServerFrame::Welcome { .. }));

        let request = stream_request(&node, FOREIGN, through_hyper);
        let (status, problem) = SseClient::open(node.addr(), &request)
            .await
            .err()
            .expect("refused");
        assert_eq!((status, &problem["code"]), (403, &"forbidden".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_list_every_origin_may_read_the_api_and_none_the_operations_endpoints() {
    let node = node_allowing(&[]).await;
    let preflighted = preflight(&node, "/v1/posts", FOREIGN).await;
    assert_eq!(
        header(&preflighted, "access-control-allow-origin"),
        Some(FOREIGN)
    );
    for through_hyper in [false, true] {
        let request = stream_request(&node, FOREIGN, through_hyper);
        let stream = SseClient::open(node.addr(), &request)
            .await
            .map_err(|(status, problem)| format!("{status} {problem}"))
            .expect("admitted");
        let headers = stream.response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some(FOREIGN)
        );
        assert!(varies_by_origin(headers), "{headers:?}");
    }
    // Needing no token, they must not be readable by any page a visitor's browser opens.
    for path in ["/metrics", "/readyz", "/healthz", "/openapi.json"] {
        let answer = node
            .http
            .get(node.url(path))
            .header(ORIGIN, FOREIGN)
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status(), 200, "{path}");
        let allowed = header(answer.headers(), "access-control-allow-origin");
        assert_eq!(allowed, None, "{path}");
        let preflighted = preflight(&node, path, FOREIGN).await;
        assert_eq!(header(&preflighted, "access-control-allow-origin"), None);
    }
}
