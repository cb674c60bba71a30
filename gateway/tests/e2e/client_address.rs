//! The client address behind trusted proxies: the handshake limit and logs use it, and
//! forwarding headers from anyone else are ignored.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pushgate_fanout::token::TokenVerifier;
use pushgate_gateway::trusted_proxies::{ForwardedHeader, TrustedProxies, parse_network};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::{Options, TestNode};

/// Handshake statuses: 101 when upgraded (the socket is dropped), else the HTTP status.
async fn upgrade(addr: SocketAddr, token: &str, header: Option<(&str, &str)>) -> u16 {
    let mut request = format!("ws://{addr}/v1/ws?access_token={token}")
        .into_client_request()
        .expect("request");
    if let Some((name, value)) = header {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("upgrade failed: {other}"),
    }
}

/// A node allowing one handshake per second per address (bursts of 5), trusting `proxies`.
async fn strict_node(proxies: TrustedProxies) -> TestNode {
    let mut options = Options::default();
    options.config.handshakes_per_sec = NonZeroU32::MIN;
    options.config.trusted_proxies = proxies;
    TestNode::start_with(options).await
}

/// Upgrade with `header(i)` for attempt `i` until one is refused; the attempt count.
async fn attempts_until_refused(
    node: &TestNode,
    header: impl Fn(usize) -> Option<(&'static str, String)>,
) -> usize {
    let token = node.token("bob");
    for i in 0..30 {
        let header = header(i);
        let header = header.as_ref().map(|(name, value)| (*name, value.as_str()));
        match upgrade(node.addr(), &token, header).await {
            101 => {}
            429 => return i + 1,
            other => panic!("unexpected status {other}"),
        }
    }
    panic!("30 handshakes and none refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let loopback = parse_network("127.0.0.0/8").expect("network");
    let node = strict_node(TrustedProxies::new(
        vec![loopback],
        ForwardedHeader::XForwardedFor,
    ))
    .await;
    let xff = |client: &'static str| move |_| Some(("x-forwarded-for", client.to_owned()));
    assert!(attempts_until_refused(&node, xff("203.0.113.1")).await > 1);
    let token = node.token("bob");
    // Another client behind the same proxy is unaffected...
    let other = Some(("x-forwarded-for", "203.0.113.2"));
    assert_eq!(upgrade(node.addr(), &token, other).await, 101);
    // ...and the spent one cannot escape its budget by writing another address first.
    let spoofed = Some(("x-forwarded-for", "198.51.100.7, 203.0.113.1"));
    assert_eq!(upgrade(node.addr(), &token, spoofed).await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // Trusting some other network: the loopback peer's headers mean nothing.
    let elsewhere = parse_network("10.0.0.0/8").expect("network");
    let node = strict_node(TrustedProxies::new(
        vec![elsewhere],
        ForwardedHeader::Forwarded,
    ))
    .await;
    // A fresh forwarded address every time would never run out if it were believed.
    let rotating = |i: usize| Some(("forwarded", format!("for=203.0.113.{}", i + 1)));
    assert!(attempts_until_refused(&node, rotating).await <= 10);
}

#[test]
fn the_connection_log_names_the_forwarded_client() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--trusted-proxies",
            "127.0.0.1",
        ])
        .args(["--log", "pushgate_gateway=debug"])
        .env_remove("PUSHGATE_JWT_SECRET")
        .env_remove("PUSHGATE_API_KEY")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts pushgate dev");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let addr: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let (lines_tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let token = TokenVerifier::new(
        pushgate_gateway::DEV_JWT_SECRET,
        pushgate_gateway::DEV_API_KEY,
    )
    .mint("bob", 3600);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let forwarded = Some(("x-forwarded-for", "198.51.100.7, 203.0.113.9"));
    assert_eq!(runtime.block_on(upgrade(addr, &token, forwarded)), 101);
    // The socket was dropped: the connection's close is logged inside its span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("connection closed") => break Some(line),
            Ok(_) => {}
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("a connection closed line");
    assert!(line.contains("client=203.0.113.9"), "{line}");
    assert!(!line.contains("198.51.100.7"), "{line}");
}
