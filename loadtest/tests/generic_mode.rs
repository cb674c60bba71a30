//! End-to-end runs of the real `pushgate-loadtest` binary (parent plus worker processes)
//! against a small in-test pub/sub server: subscribe over WebSocket, publish over HTTP.
//!
//! The server can be told to drop every publish on one channel and to send every publish on
//! another twice, so the loss and duplicate counts are checked against exact expectations.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::broadcast;

/// Channels and how the server mistreats them.
#[derive(Clone, Default)]
struct Hub {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<String>>>>,
    dropped_channel: Option<&'static str>,
    doubled_channel: Option<&'static str>,
}

impl Hub {
    fn channel(&self, name: &str) -> broadcast::Sender<String> {
        let mut channels = self.channels.lock().expect("hub lock");
        channels
            .entry(name.to_owned())
            .or_insert_with(|| broadcast::channel(1024).0)
            .clone()
    }
}

#[derive(Deserialize)]
struct Subscribe {
    channel: String,
}

async fn subscribe(
    ws: WebSocketUpgrade,
    Query(query): Query<Subscribe>,
    State(hub): State<Hub>,
) -> Response {
    // Subscribe before the upgrade completes, so the client is registered once it is open.
    let receiver = hub.channel(&query.channel).subscribe();
    ws.on_upgrade(move |socket| forward(socket, receiver))
}

async fn forward(mut socket: WebSocket, mut receiver: broadcast::Receiver<String>) {
    while let Ok(text) = receiver.recv().await {
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
    }
}

async fn publish(
    UrlPath(channel): UrlPath<String>,
    State(hub): State<Hub>,
    body: String,
) -> StatusCode {
    if hub.dropped_channel == Some(channel.as_str()) {
        return StatusCode::NO_CONTENT;
    }
    let copies = if hub.doubled_channel == Some(channel.as_str()) {
        2
    } else {
        1
    };
    let sender = hub.channel(&channel);
    for _ in 0..copies {
        // No subscriber yet is not an error for a pub/sub server.
        let _ = sender.send(format!(r#"{{"channel":"{channel}","data":{body}}}"#));
    }
    StatusCode::NO_CONTENT
}

async fn start_server(hub: Hub) -> SocketAddr {
    let app = Router::new()
        .route("/sub", get(subscribe))
        .route("/publish/{channel}", post(publish))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    addr
}

/// Run the binary's generic mode against `addr` and return its JSON report.
async fn run_generic(addr: SocketAddr, dir: &Path, extra: &[&str]) -> serde_json::Value {
    let json = dir.join("report.json");
    let svg = dir.join("chart.svg");
    let mut args: Vec<String> = [
        "generic",
        "--connections",
        "200",
        "--workers",
        "2",
        "--ramp",
        "2000",
        "--duration",
        "2",
        "--drain",
        "1",
        "--rate",
        "20",
        "--channels",
        "4",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend([
        "--subscribe-url".into(),
        format!("ws://{addr}/sub?channel={{channel}}"),
        "--publish-url".into(),
        format!("http://{addr}/publish/{{channel}}"),
        "--publish-body".into(),
        r#"{"seq":{seq},"ts":{ts_us}}"#.into(),
        "--json".into(),
        json.display().to_string(),
        "--svg".into(),
        svg.display().to_string(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_pushgate-loadtest"))
        .args(&args)
        .output()
        .await
        .expect("runs the binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("LOST"), "the table is printed: {stdout}");
    let chart = std::fs::read_to_string(&svg).expect("svg written");
    assert!(chart.starts_with("<svg"));
    serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid json")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_server_loses_nothing() {
    let addr = start_server(Hub::default()).await;
    let dir = temp_dir("honest");
    let report = run_generic(addr, &dir, &[]).await;

    assert_eq!(report["connections"]["planned"], 200);
    assert_eq!(report["connections"]["workers"], 2);
    assert_eq!(report["connections"]["handshake_errors"], 0);
    let d = &report["deliveries"];
    let published = d["published"].as_u64().expect("published");
    assert!(published > 0, "{d}");
    assert_eq!(d["publish_errors"], 0);
    // Every publish reaches the 50 subscribers of its channel.
    assert_eq!(d["expected"].as_u64(), Some(published * 50));
    assert_eq!(d["received"], d["expected"]);
    assert_eq!(
        (d["lost"].as_u64(), d["duplicates"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(d["unexpected"], 0);
    let latency = &report["latency_us"];
    assert_eq!(latency["count"].as_u64(), Some(published * 50));
    assert!(latency["p50_us"].as_u64() <= latency["max_us"].as_u64());
    assert!(!report["timeline"].as_array().expect("timeline").is_empty());
    assert_eq!(report["parameters"]["generic"]["channels"], 4);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_doubled_publishes_are_counted_exactly() {
    let hub = Hub {
        dropped_channel: Some("ch0"),
        doubled_channel: Some("ch1"),
        ..Hub::default()
    };
    let addr = start_server(hub).await;
    let dir = temp_dir("faulty");
    let report = run_generic(addr, &dir, &["--source-addrs", "none"]).await;

    let d = &report["deliveries"];
    let published = d["published"].as_u64().expect("published");
    assert!(published >= 4, "{d}");
    // Publish `seq` goes to channel `seq % 4`, each channel has 50 subscribers.
    let on_channel = |channel: u64| (0..published).filter(|seq| seq % 4 == channel).count() as u64;
    assert_eq!(d["expected"].as_u64(), Some(published * 50));
    assert_eq!(d["lost"].as_u64(), Some(on_channel(0) * 50));
    assert_eq!(d["duplicates"].as_u64(), Some(on_channel(1) * 50));
    assert_eq!(
        d["received"].as_u64(),
        Some((published - on_channel(0)) * 50)
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}
