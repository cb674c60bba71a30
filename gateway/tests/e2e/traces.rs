//! OpenTelemetry traces across real processes: an API, a worker and a gateway on one Redis
//! export to an OTLP/HTTP receiver run by the test, and one post is one trace whose spans
//! link API -> worker -> gateway (under the caller's own span when a backend sends its
//! `traceparent`); spans still batched at SIGTERM are flushed by the drain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as Any, KeyValue};
use prost::Message;
use pushgate_fanout::testing::RedisServer;
use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, ServerFrame};
use reqwest::Method;
use serde_json::json;

use crate::support::{Process, WsClient, rest_call};

const SECRET: &str = "traces-test-secret-0123456789";
const API_KEY: &str = "traces-test-api-key-0123456789";

/// One received span with what the test checks.
#[derive(Clone, Debug)]
struct ReceivedSpan {
    /// `service.name` of the exporting process.
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, AnyValue>,
}

impl ReceivedSpan {
    fn int(&self, key: &str) -> Option<i64> {
        match self.attributes.get(key)? {
            AnyValue::IntValue(n) => Some(*n),
            _ => None,
        }
    }

    fn text(&self, key: &str) -> Option<&str> {
        match self.attributes.get(key)? {
            AnyValue::StringValue(s) => Some(s),
            _ => None,
        }
    }
}

/// A span of the caller's own, named by the `traceparent` it sends.
struct CallerSpan {
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
}

impl CallerSpan {
    /// W3C version 00, sampled.
    fn traceparent(&self) -> String {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        format!("00-{}-{}-01", hex(&self.trace_id), hex(&self.span_id))
    }
}

/// A REST call that sends `traceparent`; returns status and JSON body.
async fn traced_call(
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
    traceparent: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = http
        .post(url)
        .bearer_auth(bearer)
        .header("traceparent", traceparent)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Spans received so far.
type Received = Arc<Mutex<Vec<ReceivedSpan>>>;

fn attributes(list: &[KeyValue]) -> HashMap<String, AnyValue> {
    list.iter()
        .filter_map(|kv| {
            let value = kv.value.as_ref().and_then(|v: &Any| v.value.clone())?;
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// `POST /v1/traces` of an OTLP/HTTP receiver: decodes the protobuf request.
async fn export(State(received): State<Received>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
    let mut spans = received.lock().expect("lock");
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = match resource.get("service.name") {
            Some(AnyValue::StringValue(name)) => name.clone(),
            _ => String::new(),
        };
        for span in resource_spans
            .scope_spans
            .into_iter()
            .flat_map(|scope| scope.spans)
        {
            spans.push(ReceivedSpan {
                service: service.clone(),
                name: span.name,
                trace_id: span.trace_id,
                span_id: span.span_id,
                parent_span_id: span.parent_span_id,
                attributes: attributes(&span.attributes),
            });
        }
    }
    ExportTraceServiceResponse::default().encode_to_vec()
}

/// An OTLP/HTTP receiver on a free port: its base URL and what it got.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// SIGTERM (the deploy signal), then wait for the process to finish its drain and exit.
async fn terminate(process: &mut Process) {
    let pid = process.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while process.child.try_wait().expect("wait").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "{pid} did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Poll until `received` holds spans satisfying `done`.
async fn spans_until(received: &Received, done: impl Fn(&[ReceivedSpan]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        if done(&received.lock().expect("lock")) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "spans never arrived: {:#?}",
            received.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one span named `name` with item ID `id`.
fn span<'a>(spans: &'a [ReceivedSpan], name: &str, id: u64) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.int("pushgate.item.id") == Some(id as i64))
        .collect();
    assert_eq!(found.len(), 1, "one {name} span for item {id}: {spans:#?}");
    found[0]
}

/// Check the trace of item `id`: `root` (the API request) -> fanout -> dispatch, one trace
/// ID, each process's span the parent of the next, and the counts on each.
fn check_trace(spans: &[ReceivedSpan], request: &str, id: u64, caller: Option<&CallerSpan>) {
    let api = span(spans, request, id);
    let worker = span(spans, "fanout", id);
    let dispatch = span(spans, "dispatch", id);
    assert_eq!(api.service, "pushgate-api");
    assert_eq!(worker.service, "pushgate-worker");
    assert_eq!(dispatch.service, "pushgate-gateway");
    match caller {
        None => assert!(api.parent_span_id.is_empty(), "the API request is the root"),
        Some(caller) => {
            assert_eq!(api.trace_id, caller.trace_id, "the caller's trace goes on");
            assert_eq!(api.parent_span_id, caller.span_id, "API under the caller");
        }
    }
    assert_eq!(worker.trace_id, api.trace_id);
    assert_eq!(dispatch.trace_id, api.trace_id);
    assert_eq!(worker.parent_span_id, api.span_id, "worker under API");
    assert_eq!(
        dispatch.parent_span_id, worker.span_id,
        "gateway under worker"
    );
    assert_eq!(worker.int("pushgate.recipients"), Some(1));
    assert_eq!(worker.int("pushgate.nodes"), Some(1));
    assert_eq!(dispatch.text("pushgate.node"), Some("gw0"));
    assert_eq!(dispatch.int("pushgate.recipients"), Some(1));
    assert_eq!(dispatch.int("pushgate.connections"), Some(1));
    assert_eq!(dispatch.int("pushgate.socket_writes"), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_and_a_notification_are_each_one_trace_from_the_api_to_the_socket_write() {
    let (endpoint, received) = receiver().await;
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let prefix = format!("t{}", rand::random::<u32>());
    // A batch delay longer than the test: every span reaches the receiver only through the
    // flush at shutdown, which this test therefore proves.
    let env = [
        ("PUSHGATE_JWT_SECRET", SECRET),
        ("PUSHGATE_API_KEY", API_KEY),
        ("PUSHGATE_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ];
    let args = |role: &str, extra: &[&str]| -> Vec<String> {
        [role, "--listen", "127.0.0.1:0", "--redis", &redis_url]
            .iter()
            .chain(["--redis-prefix", &prefix, "--membership-interval-ms", "200"].iter())
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let mut api = Process::spawn(&args("api", &[]), &env);
    let mut worker = Process::spawn(&args("worker", &[]), &env);
    let mut gateway = Process::spawn(
        &args(
            "gateway",
            &[
                "--node-id=gw0",
                "--resume-window-ms=0",
                "--drain-window-ms=100",
            ],
        ),
        &env,
    );
    let http = reqwest::Client::new();
    let base = format!("http://{}", api.addr);
    let verifier = TokenVerifier::new(SECRET, API_KEY);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (status, ready) =
            rest_call(&http, Method::GET, &format!("{base}/readyz"), "", None).await;
        if status == 200 && ready["nodes"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway never joined"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = rest_call(
        &http,
        Method::PUT,
        &format!("{base}/v1/follows/alice"),
        &verifier.mint("bob", 3600),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let mut bob = WsClient::connect(gateway.addr, &verifier.mint("bob", 3600), Codec::Json, None)
        .await
        .expect("bob connects");

    // A backend's trace goes on through the service key's request; a user's `traceparent`
    // is not taken, so its post starts a trace of our own.
    let backend = CallerSpan {
        trace_id: (1..=16).collect(),
        span_id: (1..=8).collect(),
    };
    let stranger = CallerSpan {
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
    };
    let (status, post) = traced_call(
        &http,
        &format!("{base}/v1/posts"),
        &verifier.mint("alice", 3600),
        &stranger.traceparent(),
        json!({ "content": "traced" }),
    )
    .await;
    assert_eq!(status, 201, "{post}");
    let post_id = post["id"].as_u64().expect("id");
    assert!(matches!(bob.next().await, ServerFrame::Post { id, .. } if id == post_id));
    let (status, note) = traced_call(
        &http,
        &format!("{base}/v1/notify"),
        API_KEY,
        &backend.traceparent(),
        json!({ "users": ["bob"], "kind": "mention", "data": {} }),
    )
    .await;
    assert_eq!(status, 202, "{note}");
    let note_id = note["id"].as_u64().expect("id");
    assert!(matches!(bob.next().await, ServerFrame::Notify { id, .. } if id == note_id));
    drop(bob);

    // The gateway's span ends once bob's socket write is done; the drains export the rest.
    for process in [&mut gateway, &mut worker, &mut api] {
        terminate(process).await;
    }
    spans_until(&received, |spans| {
        ["POST /v1/posts", "fanout", "dispatch"]
            .iter()
            .all(|name| spans.iter().filter(|s| s.name == *name).count() >= 1)
            && spans.iter().filter(|s| s.name == "dispatch").count() >= 2
    })
    .await;
    let spans = received.lock().expect("lock").clone();
    check_trace(&spans, "POST /v1/posts", post_id, None);
    check_trace(&spans, "POST /v1/notify", note_id, Some(&backend));
    assert_ne!(
        span(&spans, "POST /v1/posts", post_id).trace_id,
        stranger.trace_id
    );
    assert_ne!(
        span(&spans, "POST /v1/posts", post_id).trace_id,
        span(&spans, "POST /v1/notify", note_id).trace_id,
        "each request is a trace of its own"
    );
}
