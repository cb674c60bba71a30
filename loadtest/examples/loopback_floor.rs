//! Measures the kernel's floor on pushes per sender CPU-second: one thread makes one small write
//! per push to each of thousands of loopback TCP sockets, and only that thread's CPU is counted.
//!
//! Each round writes `--batch` frames of `--bytes` bytes to every socket as one write (to model
//! coalescing), then waits, blocked, until the receivers have drained the round. There is no
//! WebSocket framing, no channel and no task per connection: whatever a gateway spends per push
//! is on top of what this prints.
//!
//! Over loopback the peer's TCP receive runs as a softirq inside the sending syscall, so the
//! sender's figure also holds the receive path (and the wake-up of the receiving thread) that a
//! real NIC would move to the client's host.
//!
//! ```text
//! cargo run --release -p pushgate-loadtest --example loopback_floor -- --mode tokio --batch 4
//! ```

use std::fs;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::{Parser, ValueEnum};
use tokio::io::AsyncReadExt;

/// Both ends of every pair live in this process and the open-file limit is 20,000, so 9,000
/// pairs (18,000 descriptors) leaves room for the runtimes' epoll and the /proc reads.
const MAX_SOCKETS: i64 = 9_000;

/// `getconf CLK_TCK`; the workspace forbids unsafe code, so `sysconf` is out of reach.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// A round that takes this long means a receiver is stuck; better to fail than to hang.
const ROUND_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Parser)]
#[command(about = "Sender CPU per small write over many loopback TCP sockets")]
struct Args {
    /// Connection pairs (at most 9,000: two descriptors each under a 20,000 open-file limit).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=MAX_SOCKETS))]
    sockets: u32,

    /// Measured rounds; one extra unmeasured warm-up round runs first.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,

    /// Size of one push frame.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    bytes: u32,

    /// Pushes coalesced into one write per socket per round.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_024))]
    batch: u32,

    /// How the sending thread writes.
    #[arg(long, value_enum, default_value_t = Mode::Tokio)]
    mode: Mode,

    /// Worker threads of the receiving runtime (their CPU shows only in the process figure).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    receiver_threads: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Blocking `std::net` writes.
    Std,
    /// A current-thread tokio runtime doing `writable().await` then `try_write`, as a server does.
    Tokio,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let sockets = args.sockets as usize;
    let frame = vec![b'x'; (args.bytes * args.batch) as usize];
    let round_bytes = frame.len() as u64 * u64::from(args.sockets);

    let (senders, receivers) = connect_pairs(sockets)?;
    let tally = Arc::new(Tally::new(round_bytes));
    let receive_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.receiver_threads as usize)
        .thread_name("receiver")
        .enable_io()
        .build()?;
    {
        let _entered = receive_runtime.enter();
        for stream in receivers {
            stream.set_nonblocking(true)?;
            let stream = tokio::net::TcpStream::from_std(stream)?;
            receive_runtime.spawn(drain(stream, Arc::clone(&tally)));
        }
    }

    let load_before = fs::read_to_string("/proc/loadavg")?;
    let sender = thread::Builder::new().name("sender".into()).spawn({
        let tally = Arc::clone(&tally);
        let rounds = args.rounds;
        move || match args.mode {
            Mode::Std => send_std(senders, &frame, rounds, &tally),
            Mode::Tokio => send_tokio(senders, &frame, rounds, &tally),
        }
    })?;
    let measured = sender
        .join()
        .map_err(|_| anyhow!("sender thread panicked"))??;
    // The sender dropped its ends, so every drain task sees EOF and returns.
    receive_runtime.shutdown_timeout(Duration::from_secs(5));

    print_report(&args, &measured, load_before.trim());
    Ok(())
}

/// One loopback address is enough: 9,000 connections fit in the ~28k ephemeral ports, and each
/// run listens on a fresh port, so TIME_WAIT entries left by earlier runs never collide.
fn connect_pairs(count: usize) -> Result<(Vec<TcpStream>, Vec<TcpStream>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut senders = Vec::with_capacity(count);
    let mut receivers = Vec::with_capacity(count);
    for index in 0..count {
        // Accepting right after each connect keeps the backlog from ever filling.
        let client = TcpStream::connect(addr).with_context(|| format!("connect #{index}"))?;
        let (server, _) = listener
            .accept()
            .with_context(|| format!("accept #{index}"))?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        // The accepted end sends, as a gateway writes to the sockets it accepted.
        senders.push(server);
        receivers.push(client);
    }
    Ok((senders, receivers))
}

async fn drain(mut stream: tokio::net::TcpStream, tally: Arc<Tally>) {
    let mut buf = [0_u8; 4_096];
    while let Ok(read @ 1..) = stream.read(&mut buf).await {
        tally.add(read as u64);
    }
}

/// Bytes received so far, and a way for the sender to sleep until a round has arrived: spinning
/// on the counter would bill the wait to the very thread being measured.
#[derive(Debug)]
struct Tally {
    received: AtomicU64,
    round_bytes: u64,
    lock: Mutex<()>,
    round_done: Condvar,
}

impl Tally {
    fn new(round_bytes: u64) -> Self {
        Self {
            received: AtomicU64::new(0),
            round_bytes,
            lock: Mutex::new(()),
            round_done: Condvar::new(),
        }
    }

    fn add(&self, bytes: u64) {
        let before = self.received.fetch_add(bytes, Ordering::AcqRel);
        if before / self.round_bytes != (before + bytes) / self.round_bytes {
            // Notifying under the lock means the sender is either before its check or already
            // waiting, so the wake-up cannot fall between the two.
            let _locked = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.round_done.notify_all();
        }
    }

    fn wait_for_round(&self, round: u64) -> Result<()> {
        let target = round * self.round_bytes;
        let deadline = Instant::now() + ROUND_TIMEOUT;
        let mut locked = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.received.load(Ordering::Acquire) < target {
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| anyhow!("round {round} not drained within {ROUND_TIMEOUT:?}"))?;
            locked = self
                .round_done
                .wait_timeout(locked, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct WriteCounts {
    /// Write syscalls that accepted bytes.
    writes: u64,
    /// Writes that took less than the whole frame.
    partial: u64,
    /// `try_write` calls refused with `WouldBlock` (tokio mode only).
    would_block: u64,
}

fn send_std(
    mut streams: Vec<TcpStream>,
    frame: &[u8],
    rounds: u32,
    tally: &Tally,
) -> Result<Measured> {
    let mut counts = WriteCounts::default();
    measure_rounds(rounds, tally, &mut counts, |counts| {
        for stream in &mut streams {
            write_frame_std(stream, frame, counts)?;
        }
        Ok(())
    })
}

fn write_frame_std(stream: &mut TcpStream, frame: &[u8], counts: &mut WriteCounts) -> Result<()> {
    let mut rest = frame;
    while !rest.is_empty() {
        let written = stream.write(rest)?;
        if written == 0 {
            return Err(io::Error::from(io::ErrorKind::WriteZero).into());
        }
        counts.writes += 1;
        counts.partial += u64::from(written < rest.len());
        rest = &rest[written..];
    }
    Ok(())
}

fn send_tokio(
    streams: Vec<TcpStream>,
    frame: &[u8],
    rounds: u32,
    tally: &Tally,
) -> Result<Measured> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let streams = {
        let _entered = runtime.enter();
        streams
            .into_iter()
            .map(|stream| {
                stream.set_nonblocking(true)?;
                tokio::net::TcpStream::from_std(stream)
            })
            .collect::<io::Result<Vec<_>>>()?
    };
    let mut counts = WriteCounts::default();
    // The round wait blocks the thread, so it stays outside `block_on`; nothing else is
    // scheduled on this runtime that it could starve.
    measure_rounds(rounds, tally, &mut counts, |counts| {
        runtime.block_on(async {
            for stream in &streams {
                write_frame_tokio(stream, frame, counts).await?;
            }
            Ok(())
        })
    })
}

async fn write_frame_tokio(
    stream: &tokio::net::TcpStream,
    frame: &[u8],
    counts: &mut WriteCounts,
) -> Result<()> {
    let mut rest = frame;
    while !rest.is_empty() {
        stream.writable().await?;
        match stream.try_write(rest) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Ok(written) => {
                counts.writes += 1;
                counts.partial += u64::from(written < rest.len());
                rest = &rest[written..];
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => counts.would_block += 1,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Runs one warm-up round (first-touch of socket buffers, tokio's first readiness events), then
/// the measured rounds, sampling CPU on the calling thread, which must be the sending thread.
fn measure_rounds(
    rounds: u32,
    tally: &Tally,
    counts: &mut WriteCounts,
    mut write_round: impl FnMut(&mut WriteCounts) -> Result<()>,
) -> Result<Measured> {
    write_round(&mut WriteCounts::default())?;
    tally.wait_for_round(1)?;

    let started = Instant::now();
    let thread_before = CpuSample::read("/proc/thread-self/stat")?;
    let thread_ns_before = exec_nanos("/proc/thread-self/schedstat")?;
    let process_before = CpuSample::read("/proc/self/stat")?;
    for round in 0..u64::from(rounds) {
        write_round(counts)?;
        tally.wait_for_round(round + 2)?;
    }
    let thread_ns_after = exec_nanos("/proc/thread-self/schedstat")?;
    let thread_after = CpuSample::read("/proc/thread-self/stat")?;
    let process_after = CpuSample::read("/proc/self/stat")?;
    let wall = started.elapsed();

    Ok(Measured {
        counts: *counts,
        wall,
        sender_ns: thread_ns_after - thread_ns_before,
        sender: thread_after.since(thread_before),
        process: process_after.since(process_before),
    })
}

/// User and system CPU from a `/proc` stat file, in clock ticks. For `/proc/self/stat` the
/// kernel sums every thread of the process; for `/proc/thread-self/stat` it is one thread.
#[derive(Clone, Copy, Debug)]
struct CpuSample {
    user_ticks: u64,
    sys_ticks: u64,
}

impl CpuSample {
    fn read(path: &str) -> Result<Self> {
        let text = fs::read_to_string(path).with_context(|| format!("read {path}"))?;
        // The command name may hold spaces or parentheses, so count fields after its last ')'.
        let (_, after_name) = text
            .rsplit_once(')')
            .ok_or_else(|| anyhow!("no ')' in {path}"))?;
        let mut fields = after_name.split_whitespace().skip(11);
        let mut field = |name: &str| -> Result<u64> {
            fields
                .next()
                .ok_or_else(|| anyhow!("no {name} in {path}"))?
                .parse()
                .with_context(|| format!("{name} in {path}"))
        };
        Ok(Self {
            user_ticks: field("utime")?,
            sys_ticks: field("stime")?,
        })
    }

    fn since(self, earlier: Self) -> CpuSeconds {
        let seconds = |ticks: u64| ticks as f64 / CLOCK_TICKS_PER_SEC;
        CpuSeconds {
            user: seconds(self.user_ticks - earlier.user_ticks),
            sys: seconds(self.sys_ticks - earlier.sys_ticks),
        }
    }
}

/// Nanoseconds on CPU from a schedstat file: exact, where stat only has 10 ms ticks.
fn exec_nanos(path: &str) -> Result<u64> {
    let text = fs::read_to_string(path).with_context(|| format!("read {path}"))?;
    text.split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("empty {path}"))?
        .parse()
        .with_context(|| format!("run time in {path}"))
}

#[derive(Clone, Copy, Debug)]
struct CpuSeconds {
    user: f64,
    sys: f64,
}

impl CpuSeconds {
    fn total(self) -> f64 {
        self.user + self.sys
    }
}

#[derive(Debug)]
struct Measured {
    counts: WriteCounts,
    wall: Duration,
    sender_ns: u64,
    sender: CpuSeconds,
    process: CpuSeconds,
}

fn print_report(args: &Args, measured: &Measured, load_before: &str) {
    let mode = match args.mode {
        Mode::Std => "std",
        Mode::Tokio => "tokio",
    };
    let pushes = u64::from(args.sockets) * u64::from(args.rounds) * u64::from(args.batch);
    let counts = measured.counts;
    // schedstat is exact; the stat split is only good to a tick, so it serves the user/sys ratio.
    let sender_cpu = measured.sender_ns as f64 / 1e9;
    let process_cpu = measured.process.total();
    let per_second = |cpu: f64| {
        if cpu > 0.0 {
            pushes as f64 / cpu
        } else {
            f64::NAN
        }
    };
    let micros_per_write = sender_cpu * 1e6 / counts.writes as f64;

    println!(
        "mode={mode} sockets={} rounds={} batch={} bytes={} receiver_threads={}",
        args.sockets, args.rounds, args.batch, args.bytes, args.receiver_threads
    );
    println!("loadavg before      {load_before}");
    println!(
        "pushes              {pushes} in {} writes ({} partial, {} would-block)",
        counts.writes, counts.partial, counts.would_block
    );
    println!("wall                {:.3} s", measured.wall.as_secs_f64());
    println!(
        "sender CPU          {sender_cpu:.3} s (stat ticks: user {:.2} s, sys {:.2} s)",
        measured.sender.user, measured.sender.sys
    );
    println!(
        "process CPU         {process_cpu:.2} s (user {:.2} s, sys {:.2} s)",
        measured.process.user, measured.process.sys
    );
    println!("pushes/sender CPU-s {:.0}", per_second(sender_cpu));
    println!("us sender CPU/write {micros_per_write:.2}");
    println!("pushes/proc CPU-s   {:.0}", per_second(process_cpu));
    println!(
        "| {mode} | {} | {} | {} | {pushes} | {sender_cpu:.3} | {:.0} | {micros_per_write:.2} | {:.0} |",
        args.sockets,
        args.batch,
        args.bytes,
        per_second(sender_cpu),
        per_second(process_cpu)
    );
}
