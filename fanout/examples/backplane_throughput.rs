//! Throughput of the Redis backplane's hot paths against a real `redis-server` on this
//! machine: messages per second through each node bus (several concurrent senders into one
//! inbox), and feed appends per second when one item fans out to many users in chunks, as a
//! worker does.
//!
//! ```text
//! cargo run --release -p pushgate-fanout --example backplane_throughput [-- bus|feed]
//! ```
//!
//! With no argument both run; `bus` or `feed` runs one. A figure, not a test: nothing is
//! asserted beyond every message arriving.

use std::time::{Duration, Instant};

use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::redis::{BusKind, RedisConfig};
use pushgate_fanout::testing::RedisServer;
use pushgate_fanout::testing::samples::{delivery, post};

/// A server and a backplane on it.
async fn standalone(tune: impl FnOnce(&mut RedisConfig)) -> (RedisServer, Backplane) {
    let server = RedisServer::start();
    let mut config = RedisConfig::new(server.target());
    tune(&mut config);
    let backplane = Backplane::redis(&config).await.expect("connect");
    (server, backplane)
}

/// Messages per second from 8 concurrent senders into one inbox, per bus kind.
async fn bus_throughput() {
    const SENDERS: usize = 8;
    const PER_SENDER: usize = 5_000;
    for kind in [BusKind::PubSub, BusKind::Stream] {
        let (_server, bp) = standalone(|c| {
            c.bus = kind;
            c.inbox_capacity = 8192;
        })
        .await;
        let mut inbox = bp.bus.subscribe("n1").await.expect("subscribe");
        let started = Instant::now();
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let bp = bp.clone();
                tokio::spawn(async move {
                    for i in 0..PER_SENDER {
                        bp.bus
                            .send("n1", delivery((s * PER_SENDER + i) as u64))
                            .await
                            .expect("send");
                    }
                })
            })
            .collect();
        let total = SENDERS * PER_SENDER;
        let mut received = 0;
        // A stream inbox keeps only its newest messages and pub/sub drops what a slow
        // subscriber cannot take, so a quiet inbox ends the count instead of a hang.
        while received < total {
            match tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        let elapsed = started.elapsed();
        for sender in senders {
            sender.await.expect("sender");
        }
        println!(
            "{kind:?}: {received}/{total} received in {elapsed:?} = {:.0} msg/s",
            received as f64 / elapsed.as_secs_f64()
        );
    }
}

/// Feed appends per second: 5 items, each appended for 20,000 users in chunks of 1,000.
async fn feed_append_throughput() {
    const USERS: usize = 20_000;
    const CHUNK: usize = 1_000;
    const ITEMS: u64 = 5;
    let (_server, bp) = standalone(|_| {}).await;
    let all: Vec<String> = (0..USERS).map(|i| format!("user{i}")).collect();
    let started = Instant::now();
    for id in 1..=ITEMS {
        for chunk in all.chunks(CHUNK) {
            bp.feeds.append(chunk, &post(id)).await.expect("append");
        }
    }
    let elapsed = started.elapsed();
    let appends = USERS as u64 * ITEMS;
    println!(
        "feed appends: {appends} in {elapsed:?} = {:.0} appends/s (chunks of {CHUNK})",
        appends as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args().nth(1);
    let runs = |name: &str| only.as_deref().is_none_or(|only| only == name);
    if let Some(other) = only.as_deref().filter(|o| !["bus", "feed"].contains(o)) {
        eprintln!("unknown benchmark {other:?}: pass bus, feed, or nothing for both");
        std::process::exit(2);
    }
    if runs("bus") {
        bus_throughput().await;
    }
    if runs("feed") {
        feed_append_throughput().await;
    }
}
