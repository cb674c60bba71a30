//! The command line: one subcommand per scenario, sharing argument groups.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::WireCodec;

/// Load generator for pushgate and other WebSocket pub/sub servers.
#[derive(Debug, Parser)]
#[command(name = "pushgate-loadtest", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open sockets and hold them: connect rate, handshake errors, gateway memory per socket.
    Idle {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
    },
    /// Authors post at --rate; every client measures latency, loss and duplicates.
    Fanout {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        feed: FeedArgs,
    },
    /// Fan-out while a fraction of clients keeps disconnecting and resuming.
    Churn {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        churn: ChurnArgs,
    },
    /// Fan-out while a fraction of clients stops reading; their figures are kept apart.
    Slow {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        slow: SlowArgs,
    },
    /// Fan-out, then kill -9 a gateway: time until every client is back, and loss.
    Failover {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        gateway: GatewayArgs,
        #[command(flatten)]
        feed: FeedArgs,
        #[command(flatten)]
        kill: KillArgs,
    },
    /// Any WebSocket pub/sub server, driven by URL and body templates.
    Generic {
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        generic: GenericArgs,
    },
    /// Internal: a worker process, driven by its parent over stdin and stdout.
    #[command(hide = true)]
    Worker,
}

/// Size, pacing, bounds and output of any run.
#[derive(Clone, Debug, Args, Serialize)]
pub struct RunArgs {
    /// Sockets to open.
    #[arg(
        short = 'n',
        long,
        env = "PUSHGATE_LOADTEST_CONNECTIONS",
        default_value_t = 1000
    )]
    pub connections: u32,
    /// Refuse runs larger than this (a guard against typos).
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_MAX_CONNECTIONS",
        default_value_t = 100_000
    )]
    pub max_connections: u32,
    /// New connections per second over all workers.
    #[arg(long, env = "PUSHGATE_LOADTEST_RAMP", default_value_t = 2000.0)]
    pub ramp: f64,
    /// Seconds to hold (idle) or publish (other scenarios) once connected.
    #[arg(long, env = "PUSHGATE_LOADTEST_DURATION", default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to wait for every socket to connect before going on anyway.
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_CONNECT_TIMEOUT",
        default_value_t = 60.0
    )]
    pub connect_timeout: f64,
    /// Seconds after publishing stops for late deliveries, before loss is counted.
    #[arg(long, env = "PUSHGATE_LOADTEST_DRAIN", default_value_t = 3.0)]
    pub drain: f64,
    /// Worker processes (default: enough for --per-worker, at least one per core).
    #[arg(long, env = "PUSHGATE_LOADTEST_WORKERS")]
    pub workers: Option<u32>,
    /// Most sockets one worker holds; the open-file limit per process is 20,000 here.
    #[arg(long, env = "PUSHGATE_LOADTEST_PER_WORKER", default_value_t = 18_000)]
    pub per_worker: u32,
    /// Client source addresses for loopback targets ("none" to let the kernel pick).
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_SOURCE_ADDRS",
        default_value = "127.0.0.2-127.0.0.254"
    )]
    pub source_addrs: String,
    /// Seconds one connection attempt may take.
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_HANDSHAKE_TIMEOUT",
        default_value_t = 10.0
    )]
    pub handshake_timeout: f64,
    /// Connection attempts in flight at once over all workers (0: no cap). Past it, clients
    /// wait their turn instead of piling onto a saturated server and timing out.
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_MAX_PENDING_CONNECTS",
        default_value_t = 1024
    )]
    pub max_pending_connects: u32,
    /// Server process to watch for memory (VmRSS) and CPU time; repeatable.
    #[arg(
        long = "gateway-pid",
        env = "PUSHGATE_LOADTEST_GATEWAY_PIDS",
        value_delimiter = ','
    )]
    pub gateway_pids: Vec<u32>,
    /// Seed of the follow graph.
    #[arg(long, env = "PUSHGATE_LOADTEST_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Write the full report as JSON here.
    #[arg(long, env = "PUSHGATE_LOADTEST_JSON")]
    pub json: Option<PathBuf>,
    /// Write a latency and throughput chart as SVG here.
    #[arg(long, env = "PUSHGATE_LOADTEST_SVG")]
    pub svg: Option<PathBuf>,
    /// No progress line.
    #[arg(short, long, env = "PUSHGATE_LOADTEST_QUIET")]
    pub quiet: bool,
}

/// Where pushgate is and how to talk to it.
#[derive(Clone, Debug, Args, Serialize)]
pub struct GatewayArgs {
    /// Gateway base URL; repeatable. Clients are spread round robin.
    #[arg(
        long = "target",
        env = "PUSHGATE_LOADTEST_TARGETS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080"
    )]
    pub targets: Vec<String>,
    /// HS256 secret user tokens are minted with.
    #[arg(
        long,
        env = "PUSHGATE_JWT_SECRET",
        default_value = "pushgate-dev-secret",
        hide_env_values = true
    )]
    #[serde(skip)]
    pub jwt_secret: String,
    /// Service key for publishing.
    #[arg(
        long,
        env = "PUSHGATE_API_KEY",
        default_value = "pushgate-dev-key",
        hide_env_values = true
    )]
    #[serde(skip)]
    pub api_key: String,
    /// WebSocket subprotocol.
    #[arg(long, env = "PUSHGATE_LOADTEST_CODEC", value_enum, default_value_t = WireCodec::Json)]
    pub codec: WireCodec,
    /// Ask `GET /v1/connect` for each user's home node before connecting.
    #[arg(long, env = "PUSHGATE_LOADTEST_FOLLOW_CONNECT")]
    pub follow_connect: bool,
    /// Prefix of user names (default: unique per run, so runs never see each other's posts).
    #[arg(long, env = "PUSHGATE_LOADTEST_RUN_ID")]
    pub run_id: Option<String>,
}

/// The follow graph and the posting rate.
#[derive(Clone, Debug, Args, Serialize)]
pub struct FeedArgs {
    /// Posts per second over all authors (round robin).
    #[arg(long, env = "PUSHGATE_LOADTEST_RATE", default_value_t = 50.0)]
    pub rate: f64,
    /// Posting authors.
    #[arg(long, env = "PUSHGATE_LOADTEST_AUTHORS", default_value_t = 100)]
    pub authors: u32,
    /// Authors followed by every client.
    #[arg(long, env = "PUSHGATE_LOADTEST_CELEBRITIES", default_value_t = 1)]
    pub celebrities: u32,
    /// Zipf exponent of followers per author.
    #[arg(long, env = "PUSHGATE_LOADTEST_ZIPF_EXPONENT", default_value_t = 1.0)]
    pub zipf_exponent: f64,
    /// Fraction of clients following the most followed non-celebrity author.
    #[arg(long, env = "PUSHGATE_LOADTEST_TOP_FRACTION", default_value_t = 0.1)]
    pub top_fraction: f64,
}

/// Churn behaviour.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ChurnArgs {
    /// Fraction of clients that disconnect and resume continuously.
    #[arg(long, env = "PUSHGATE_LOADTEST_CHURN_FRACTION", default_value_t = 0.2)]
    pub churn_fraction: f64,
    /// Mean seconds a churning client stays connected.
    #[arg(long, env = "PUSHGATE_LOADTEST_CHURN_INTERVAL", default_value_t = 2.0)]
    pub churn_interval: f64,
}

/// Slow-consumer behaviour.
#[derive(Clone, Debug, Args, Serialize)]
pub struct SlowArgs {
    /// Fraction of clients that stop reading while posts are published.
    #[arg(long, env = "PUSHGATE_LOADTEST_SLOW_FRACTION", default_value_t = 0.1)]
    pub slow_fraction: f64,
}

/// What to kill in the failover scenario.
#[derive(Clone, Debug, Args, Serialize)]
pub struct KillArgs {
    /// Gateway process to kill -9.
    #[arg(long, env = "PUSHGATE_LOADTEST_KILL_PID")]
    pub kill_pid: u32,
    /// Seconds after publishing starts to kill it.
    #[arg(long, env = "PUSHGATE_LOADTEST_KILL_AT", default_value_t = 3.0)]
    pub kill_at: f64,
}

/// Templates of the generic mode; see the `template` module for the variables.
#[derive(Clone, Debug, Args, Serialize)]
pub struct GenericArgs {
    /// Subscribe URL, e.g. `ws://127.0.0.1:8000/sub?channel={channel}`.
    #[arg(long, env = "PUSHGATE_LOADTEST_SUBSCRIBE_URL")]
    pub subscribe_url: String,
    /// Text frame sent right after connecting, e.g. `{"subscribe":"{channel}"}`.
    #[arg(long, env = "PUSHGATE_LOADTEST_SUBSCRIBE_MESSAGE")]
    pub subscribe_message: Option<String>,
    /// Publish URL (HTTP POST), e.g. `http://127.0.0.1:8000/api/publish/{channel}`.
    #[arg(long, env = "PUSHGATE_LOADTEST_PUBLISH_URL")]
    pub publish_url: String,
    /// Publish body; must contain `{ts_us}`.
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_PUBLISH_BODY",
        default_value = r#"{"ts":{ts_us}}"#
    )]
    pub publish_body: String,
    /// Content type of the publish body.
    #[arg(
        long,
        env = "PUSHGATE_LOADTEST_CONTENT_TYPE",
        default_value = "application/json"
    )]
    pub content_type: String,
    /// Channels; client `i` subscribes to channel `i % channels`.
    #[arg(long, env = "PUSHGATE_LOADTEST_CHANNELS", default_value_t = 10)]
    pub channels: u32,
    /// Channel names are this prefix plus the channel number.
    #[arg(long, env = "PUSHGATE_LOADTEST_CHANNEL_PREFIX", default_value = "ch")]
    pub channel_prefix: String,
    /// JSON key of the embedded timestamp in received messages.
    #[arg(long, env = "PUSHGATE_LOADTEST_TS_KEY", default_value = "ts")]
    pub ts_key: String,
    /// Publishes per second (channels round robin).
    #[arg(long, env = "PUSHGATE_LOADTEST_RATE", default_value_t = 50.0)]
    pub rate: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_has_an_env_var() {
        for sub in Cli::command().get_subcommands() {
            for arg in sub.get_arguments().filter(|a| a.get_long().is_some()) {
                let long = arg.get_long().unwrap_or_default();
                if ["help", "version"].contains(&long) {
                    continue;
                }
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                assert!(
                    env.as_deref().is_some_and(|e| e.starts_with("PUSHGATE_")),
                    "{} --{long} has no PUSHGATE_ env var",
                    sub.get_name()
                );
            }
        }
    }
}
