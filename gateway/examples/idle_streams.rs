//! Idle memory per stream: opens many idle `/v1/sse` streams or `/v1/ws` sockets to a running
//! `pushgate dev` and prints its RSS growth per stream, so both transports are measured the
//! same way (docs/benchmarks/2026-12-01-sse-memory.md).
//!
//! ```text
//! cargo build --release -p pushgate-gateway --bin pushgate --example idle_streams
//! target/release/pushgate dev --listen 127.0.0.1:18190 &
//! target/release/examples/idle_streams sse 15000 127.0.0.1:18190 <pid of pushgate>
//! ```
//!
//! Each stream is a distinct user with a development token, opened at 2,000 a second (the
//! load generator's default ramp) from source addresses 127.0.0.2-251 (as the load generator
//! does, so the per-address handshake limit is not what is measured), and counted once its
//! `welcome` arrived; the RSS is read
//! from /proc/<pid>/status before the first connect and again after a 5 s hold. A measuring
//! tool rather than a test: its figure depends on the machine.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use pushgate_fanout::token::TokenVerifier;
use pushgate_gateway::{DEV_API_KEY, DEV_JWT_SECRET};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Connects per second.
const RAMP: u64 = 2000;
/// Connects in flight at once.
const IN_FLIGHT: usize = 256;
/// How long the streams are held idle before the second reading.
const HOLD: Duration = Duration::from_secs(5);
/// Loopback source addresses to spread the connects over.
const SOURCES: u64 = 250;

/// One held stream (a socket of either kind), kept open until the end of the run.
type Held = Box<dyn std::any::Any + Send>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, count, addr, pid] = args.as_slice() else {
        bail!("usage: idle_streams <sse|sse-hyper|ws> <count> <addr> <gateway pid>");
    };
    // `sse-hyper` pads the request past what the early path parses, so hyper serves it.
    let (sse, padded) = match kind.as_str() {
        "sse" => (true, false),
        "sse-hyper" => (true, true),
        "ws" => (false, false),
        other => bail!("transport {other:?}: sse, sse-hyper or ws"),
    };
    let count: u64 = count.parse().context("count")?;
    let addr: SocketAddr = addr.parse().context("addr")?;
    let pid: u32 = pid.parse().context("pid")?;
    let verifier = Arc::new(TokenVerifier::new(DEV_JWT_SECRET, DEV_API_KEY));

    let before = rss(pid)?;
    let start = Instant::now();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(count as usize);
    for i in 0..count {
        tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / RAMP)).await;
        let permit = in_flight.clone().acquire_owned().await?;
        let token = verifier.mint(&format!("idle{i}"), 3600);
        let source = [127, 0, 0, 2 + (i % SOURCES) as u8];
        tasks.push(tokio::spawn(async move {
            let held: anyhow::Result<Held> = match connect(source, addr).await {
                Err(error) => Err(error),
                Ok(tcp) if sse => open_sse(tcp, addr, &token, padded)
                    .await
                    .map(|tcp| Box::new(tcp) as Held),
                Ok(tcp) => open_ws(tcp, addr, &token)
                    .await
                    .map(|ws| Box::new(ws) as Held),
            };
            drop(permit);
            held
        }));
    }
    let mut held = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok(stream) => held.push(stream),
            Err(error) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("connect failed: {error:#}");
                }
            }
        }
    }
    let connected_after = start.elapsed();
    tokio::time::sleep(HOLD).await;
    let after = rss(pid)?;
    let growth = after as f64 - before as f64;
    println!(
        "{kind}: {} open, {failed} failed, connected in {:.1} s; RSS {:.1} MiB before, {:.1} MiB \
         after; {:.0} B per stream",
        held.len(),
        connected_after.as_secs_f64(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        growth / held.len().max(1) as f64
    );
    Ok(())
}

/// VmRSS of `pid`, in bytes.
fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?;
    Ok(kib * 1024)
}

/// A TCP connection to `addr` from the loopback address `source`.
async fn connect(source: [u8; 4], addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    Ok(socket.connect(addr).await?)
}

/// Open an event stream on `tcp` and read up to the end of its `welcome` event.
async fn open_sse(
    mut tcp: TcpStream,
    addr: SocketAddr,
    token: &str,
    padded: bool,
) -> anyhow::Result<TcpStream> {
    let padding: String = if padded {
        (0..40).map(|i| format!("X-Pad-{i}: v\r\n")).collect()
    } else {
        String::new()
    };
    let request = format!(
        "GET /v1/sse?access_token={token} HTTP/1.1\r\nHost: {addr}\r\n\
         Accept: text/event-stream\r\n{padding}\r\n"
    );
    tcp.write_all(request.as_bytes()).await?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 2048];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed before welcome: {}", String::from_utf8_lossy(&got));
        }
        got.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&got);
        if !text.starts_with("HTTP/1.1 200") && text.contains("\r\n\r\n") {
            bail!("refused: {text}");
        }
        if let Some(at) = text.find("event: welcome\n") {
            if text[at..].contains("\n\n") {
                return Ok(tcp);
            }
        }
    }
}

/// Open a WebSocket on `tcp` and read its `welcome` frame.
async fn open_ws(
    tcp: TcpStream,
    addr: SocketAddr,
    token: &str,
) -> anyhow::Result<tokio_tungstenite::WebSocketStream<TcpStream>> {
    let url = format!("ws://{addr}/v1/ws?access_token={token}");
    let (mut socket, _) = tokio_tungstenite::client_async(url, tcp).await?;
    match socket.next().await {
        Some(Ok(message)) if message.is_text() => Ok(socket),
        other => bail!("no welcome: {other:?}"),
    }
}
