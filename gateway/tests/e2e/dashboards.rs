//! deploy/grafana and deploy/prometheus name only metrics the processes export, and the
//! alerting rules pass `promtool check rules`.

use std::collections::BTreeSet;
use std::process::Command;

use pushgate_fanout::testing::RedisServer;
use pushgate_fanout::token::TokenVerifier;
use pushgate_protocol::{Codec, ServerFrame};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Process, WsClient, metrics_text, rest_call};
use pushgate_fanout::testing::eventually;

const SECRET: &str = "dashboards-test-secret-0123456789";
const KEY: &str = "dashboards-test-api-key-0123456789";
const CREDENTIALS: &[(&str, &str)] = &[("PUSHGATE_JWT_SECRET", SECRET), ("PUSHGATE_API_KEY", KEY)];

fn deploy(path: &str) -> String {
    let path = format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `pushgate_*` name in `text` (a PromQL expression, a rules file).
fn metric_names(text: &str) -> BTreeSet<String> {
    text.match_indices("pushgate_")
        .filter(|(at, _)| {
            // Not the tail of a longer identifier.
            !text[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// The series names in a Prometheus text exposition.
fn exported(scrape: &str) -> BTreeSet<String> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every PromQL expression of the dashboard's panels, checking the shape Grafana imports.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    assert_eq!(dashboard["uid"], "pushgate");
    assert!(dashboard["schemaVersion"].as_u64().is_some());
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queries = Vec::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(panel["gridPos"]["w"].as_u64().is_some(), "{title}: gridPos");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} queries nothing");
        for target in targets {
            queries.push(target["expr"].as_str().expect("expr").to_owned());
        }
    }
    queries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_alerts_name_is_exported_after_traffic() {
    let dashboard: Value =
        serde_json::from_str(&deploy("grafana/pushgate.json")).expect("dashboard JSON");
    let mut wanted = BTreeSet::new();
    for query in dashboard_queries(&dashboard) {
        wanted.extend(metric_names(&query));
    }
    let dashboard_count = wanted.len();
    wanted.extend(metric_names(&deploy("prometheus/alerts.yml")));
    assert!(dashboard_count >= 15, "{wanted:?}");

    // A deployment as deploy/ describes it: API, gateway and worker on one Redis.
    let redis = RedisServer::start();
    let common = |role: &str| {
        [role, "--listen=127.0.0.1:0", "--membership-interval-ms=200"]
            .map(String::from)
            .into_iter()
            .chain([format!("--redis={}", redis.url())])
            .collect::<Vec<_>>()
    };
    let api = Process::spawn(&common("api"), CREDENTIALS);
    let gateway = Process::spawn(&common("gateway"), CREDENTIALS);
    let worker = Process::spawn(&common("worker"), CREDENTIALS);
    let http = reqwest::Client::new();
    let call = |method: Method, path: &str, bearer: &str, body: Option<Value>| {
        let url = format!("http://{}{path}", api.addr);
        let http = http.clone();
        let bearer = bearer.to_owned();
        async move { rest_call(&http, method, &url, &bearer, body).await }
    };
    eventually("the API to see the gateway", || async {
        call(Method::GET, "/readyz", "", None).await.0 == 200
    })
    .await;
    // The gateway and the worker answer readiness too (what the Kubernetes probes ask).
    for process in [&gateway, &worker] {
        let (status, _) = rest_call(
            &http,
            Method::GET,
            &format!("http://{}/readyz", process.addr),
            "",
            None,
        )
        .await;
        assert_eq!(status, 200);
    }

    // Traffic: a follow, a connected follower, a post pushed to it, a refused handshake.
    let verifier = TokenVerifier::new(SECRET, KEY);
    let (status, body) = call(
        Method::PUT,
        "/v1/follows/alice",
        &verifier.mint("bob", 60),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let mut bob = WsClient::connect(gateway.addr, &verifier.mint("bob", 60), Codec::Json, None)
        .await
        .expect("bob connects");
    let refused = WsClient::connect(gateway.addr, "not-a-token", Codec::Json, None).await;
    assert!(refused.is_err());
    let (status, body) = call(
        Method::POST,
        "/v1/posts",
        &verifier.mint("alice", 60),
        Some(json!({"content": "hello"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(matches!(bob.next().await, ServerFrame::Post { .. }));
    drop(bob);

    // The socket write is the last stage: once the gateway shows it, every process has
    // recorded its part of the traffic.
    eventually("the gateway to export the push age", || async {
        exported(&metrics_text(gateway.addr).await).contains("pushgate_push_age_seconds_bucket")
    })
    .await;
    let mut seen = BTreeSet::new();
    for process in [&api, &gateway, &worker] {
        seen.extend(exported(&metrics_text(process.addr).await));
    }
    let missing: Vec<_> = wanted.difference(&seen).collect();
    assert!(missing.is_empty(), "named but not exported: {missing:?}");
}

#[test]
fn the_alerting_rules_pass_promtool() {
    let rules = format!(
        "{}/../deploy/prometheus/alerts.yml",
        env!("CARGO_MANIFEST_DIR")
    );
    let output = Command::new("promtool")
        .args(["check", "rules", &rules])
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool ({e}) is needed: apt-get install prometheus (scripts/test.sh does)")
        });
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn metric_names_are_found_whole() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le) (rate(pushgate_push_age_seconds_bucket[5m]))) \
         + my_pushgate_other + pushgate_connections",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["pushgate_connections", "pushgate_push_age_seconds_bucket"]
    );
}
