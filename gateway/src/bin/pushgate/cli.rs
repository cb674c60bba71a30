//! Command-line and environment settings of the `pushgate` binary.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use pushgate_fanout::api::ApiLimits;
use pushgate_fanout::backplane::{DEFAULT_CLAIM_AFTER, DEFAULT_FEED_CAP};
use pushgate_fanout::memory::MemoryConfig;
use pushgate_fanout::redis::{self, BusKind, RedisConfig, RedisTarget, RedisTargetError};
use pushgate_fanout::token::{self, JwksSettings, TokenSettings};
use pushgate_fanout::worker::WorkerConfig;
use pushgate_gateway::allowed_origins::{AllowedOrigins, OriginError};
use pushgate_gateway::config::{self, NodeConfig};
use pushgate_gateway::telemetry::{DEFAULT_LOG_FILTER, LogFormat};
use pushgate_gateway::trace_export::{DEFAULT_SAMPLE_RATIO, TraceExportConfig};
use pushgate_gateway::trusted_proxies::{ForwardedHeader, TrustedProxies, parse_network};

/// pushgate: a real-time WebSocket push gateway.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// TOML file of settings: each key is a flag's long name (`heartbeat-ms = 25000`), valid
    /// for the role it is given to. Flags and env vars override it.
    #[arg(long, env = "PUSHGATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Role(Role),
    /// Print a user token signed with the JWT secret (for trying things by hand and scripts).
    Token(TokenArgs),
    /// Check settings without starting anything.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// A role of the binary with its flags.
#[derive(Debug, Subcommand)]
pub enum Role {
    /// Gateway + fan-out worker + REST API in one process on the embedded backend (no Redis).
    Dev(DevArgs),
    /// A connection server on Redis: holds sockets, joins the ring, consumes its inbox.
    Gateway(GatewayRoleArgs),
    /// A fan-out worker on Redis (run several; they share the fan-out log).
    Worker(WorkerRoleArgs),
    /// The REST sidecar on Redis.
    Api(ApiRoleArgs),
}

/// `pushgate config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a role's effective settings (flags > env > --config file > defaults) with secrets
    /// redacted, and exit non-zero naming the first invalid one. Without a role: dev.
    Check {
        #[command(subcommand)]
        role: Option<Role>,
    },
}

/// Flags of `pushgate token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user ID (the token's `sub`).
    #[arg(long, env = "PUSHGATE_TOKEN_USER")]
    pub user: String,
    /// Lifetime in seconds.
    #[arg(long, env = "PUSHGATE_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub ttl_secs: u64,
    /// HS256 secret of user tokens.
    #[arg(long, env = "PUSHGATE_JWT_SECRET", default_value = pushgate_gateway::DEV_JWT_SECRET, hide_env_values = true)]
    pub jwt_secret: String,
}

/// Flags of `pushgate gateway`.
#[derive(Debug, Args)]
pub struct GatewayRoleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// Flags of the roles that answer browsers (`dev`, `gateway`, `api`).
#[derive(Debug, Args)]
pub struct BrowserArgs {
    /// Browser origins (scheme://host[:port], comma-separated) that may upgrade, open event
    /// streams and read REST answers (CORS). Default: any.
    #[arg(long, env = "PUSHGATE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
}

impl BrowserArgs {
    /// The origins these flags allow, or the first entry that is not an origin.
    pub fn origins(&self) -> Result<AllowedOrigins, OriginError> {
        AllowedOrigins::new(&self.allowed_origins)
    }
}

/// Flags of `pushgate worker`.
#[derive(Debug, Args)]
pub struct WorkerRoleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// Flags of `pushgate api`.
#[derive(Debug, Args)]
pub struct ApiRoleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// Flags every role has.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Address for HTTP: WebSocket and REST (dev, gateway, api) or health and metrics (worker).
    #[arg(long, env = "PUSHGATE_LISTEN", default_value_t = config::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// HS256 secret of user tokens (at least 16 bytes). Required by gateway, worker and api;
    /// `pushgate dev` falls back to the development secret.
    #[arg(long, env = "PUSHGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Service key for backend calls (at least 16 bytes). Required by gateway, worker and
    /// api; `pushgate dev` falls back to the development key.
    #[arg(long, env = "PUSHGATE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// How often membership is heartbeated and re-read, milliseconds (TTL is 3x).
    #[arg(long, env = "PUSHGATE_MEMBERSHIP_INTERVAL_MS", default_value_t = millis(config::DEFAULT_MEMBERSHIP_INTERVAL))]
    pub membership_interval_ms: u64,
    /// Serve the live demo page at `GET /` (`--demo`, `--demo=false`). Default: on in
    /// `pushgate dev` only.
    #[arg(long, env = "PUSHGATE_DEMO", num_args = 0..=1, default_missing_value = "true")]
    pub demo: Option<bool>,
}

/// How user tokens signed by an identity provider are verified, beside the JWT secret.
#[derive(Debug, Args)]
pub struct JwtArgs {
    /// PEM public key (RSA, EC P-256/P-384 or Ed25519) that verifies RS*/PS*/ES*/EdDSA
    /// tokens; repeat the flag (or comma-separate the env var) for several.
    #[arg(
        long = "jwt-public-key",
        env = "PUSHGATE_JWT_PUBLIC_KEY",
        value_delimiter = ','
    )]
    pub jwt_public_keys: Vec<PathBuf>,
    /// JWKS document of the identity provider; keys are chosen by the token's `kid`.
    #[arg(long, env = "PUSHGATE_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// How often the JWKS document is fetched again, seconds.
    #[arg(long, env = "PUSHGATE_JWKS_REFRESH_SECS", default_value_t = token::DEFAULT_JWKS_REFRESH.as_secs())]
    pub jwks_refresh_secs: u64,
    /// A token naming an unknown `kid` fetches the JWKS again at most this often, seconds.
    #[arg(long, env = "PUSHGATE_JWKS_REFETCH_MIN_SECS", default_value_t = token::DEFAULT_JWKS_REFETCH_MIN.as_secs())]
    pub jwks_refetch_min_secs: u64,
    /// Required `iss` of user tokens (unchecked when unset).
    #[arg(long, env = "PUSHGATE_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of user tokens (unchecked when unset).
    #[arg(long, env = "PUSHGATE_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Clock skew forgiven on `nbf`, seconds (`exp` is exact).
    #[arg(long, env = "PUSHGATE_JWT_LEEWAY_SECS", default_value_t = token::DEFAULT_LEEWAY.as_secs())]
    pub jwt_leeway_secs: u64,
    /// Tokens whose `exp` is further ahead than this are refused, seconds.
    #[arg(long, env = "PUSHGATE_JWT_MAX_TTL_SECS", default_value_t = token::DEFAULT_MAX_TTL.as_secs())]
    pub jwt_max_ttl_secs: u64,
}

impl JwtArgs {
    /// The token settings these flags describe, with `secret` for HS256/384/512.
    pub fn settings(&self, secret: &str) -> TokenSettings {
        TokenSettings {
            public_key_files: self.jwt_public_keys.clone(),
            jwks: self.jwks_url.as_ref().map(|url| JwksSettings {
                url: url.clone(),
                refresh: Duration::from_secs(self.jwks_refresh_secs),
                refetch_min: Duration::from_secs(self.jwks_refetch_min_secs),
            }),
            issuer: self.jwt_issuer.clone(),
            audience: self.jwt_audience.clone(),
            leeway: Duration::from_secs(self.jwt_leeway_secs),
            max_ttl: Duration::from_secs(self.jwt_max_ttl_secs),
            ..TokenSettings::with_secret(secret)
        }
    }
}

/// How to reach Redis.
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// `redis://host:port` (standalone) or `redis+cluster://h1:p1,h2:p2,h3:p3` (Cluster seeds);
    /// `rediss` for TLS, `user:password@` before the host(s) for AUTH.
    #[arg(long, env = "PUSHGATE_REDIS", hide_env_values = true)]
    pub redis: String,
    /// PEM file of the private CA that signed Redis's TLS certificates (default: system roots).
    #[arg(long, env = "PUSHGATE_REDIS_CA_CERT")]
    pub redis_ca_cert: Option<PathBuf>,
    /// Prefix of every key and channel, so deployments can share one Redis.
    #[arg(long, env = "PUSHGATE_REDIS_PREFIX", default_value = redis::DEFAULT_KEY_PREFIX)]
    pub redis_prefix: String,
    /// Node inbox transport: pub/sub channels or per-node streams.
    #[arg(long, env = "PUSHGATE_REDIS_BUS", value_enum, default_value_t = BusKind::default().into())]
    pub redis_bus: BusArg,
    /// Entries kept per user feed.
    #[arg(long, env = "PUSHGATE_FEED_CAP", default_value_t = DEFAULT_FEED_CAP)]
    pub feed_cap: usize,
    /// A fan-out event unacknowledged this long is taken over by another worker, milliseconds.
    #[arg(long, env = "PUSHGATE_CLAIM_AFTER_MS", default_value_t = millis(DEFAULT_CLAIM_AFTER))]
    pub claim_after_ms: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ForwardedHeaderArg {
    XForwardedFor,
    Forwarded,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BusArg {
    Pubsub,
    Stream,
}

impl From<BusKind> for BusArg {
    fn from(kind: BusKind) -> Self {
        match kind {
            BusKind::PubSub => BusArg::Pubsub,
            BusKind::Stream => BusArg::Stream,
        }
    }
}

impl From<BusArg> for BusKind {
    fn from(arg: BusArg) -> Self {
        match arg {
            BusArg::Pubsub => BusKind::PubSub,
            BusArg::Stream => BusKind::Stream,
        }
    }
}

impl From<ForwardedHeader> for ForwardedHeaderArg {
    fn from(header: ForwardedHeader) -> Self {
        match header {
            ForwardedHeader::XForwardedFor => ForwardedHeaderArg::XForwardedFor,
            ForwardedHeader::Forwarded => ForwardedHeaderArg::Forwarded,
        }
    }
}

impl From<ForwardedHeaderArg> for ForwardedHeader {
    fn from(arg: ForwardedHeaderArg) -> Self {
        match arg {
            ForwardedHeaderArg::XForwardedFor => ForwardedHeader::XForwardedFor,
            ForwardedHeaderArg::Forwarded => ForwardedHeader::Forwarded,
        }
    }
}

impl RedisArgs {
    /// The Redis settings these flags describe (sizes validated by the caller); the URL and
    /// CA file are checked here, as the target is built from them.
    pub fn config(&self) -> Result<RedisConfig, RedisTargetError> {
        let target = RedisTarget::new(&self.redis, self.redis_ca_cert.as_deref())?;
        Ok(RedisConfig {
            key_prefix: self.redis_prefix.clone(),
            feed_cap: self.feed_cap,
            claim_after: Duration::from_millis(self.claim_after_ms),
            bus: self.redis_bus.into(),
            ..RedisConfig::new(target)
        })
    }
}

impl CommonArgs {
    /// Settings of a process without the gateway role (its gateway fields keep defaults).
    pub fn config(&self) -> NodeConfig {
        let mut config = NodeConfig::dev(self.listen);
        let secret = self.jwt_secret.as_ref().unwrap_or(&config.tokens.secret);
        config.tokens = self.jwt.settings(secret);
        if let Some(key) = &self.api_key {
            config.api_key = key.clone();
        }
        config.membership_interval = Duration::from_millis(self.membership_interval_ms);
        config
    }
}

/// Logging flags shared by every role.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, env = "PUSHGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::default().into(), global = true)]
    pub log_format: LogFormatArg,
    /// Log filter in RUST_LOG syntax.
    #[arg(long, env = "PUSHGATE_LOG", default_value = DEFAULT_LOG_FILTER, global = true)]
    pub log: String,
}

/// Runtime flags shared by every role.
#[derive(Debug, Args)]
pub struct RuntimeArgs {
    /// Threads running tasks (default: one per core). Fewer suits several pushgate processes
    /// sharing a few cores, or a container given less CPU than the machine has.
    #[arg(long, env = "PUSHGATE_WORKER_THREADS", global = true)]
    pub worker_threads: Option<NonZeroUsize>,
}

/// Trace export flags shared by every role.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// OpenTelemetry collector's OTLP/HTTP (protobuf) base URL, e.g. http://collector:4318;
    /// spans go to <URL>/v1/traces. Unset: no spans, no exporter.
    #[arg(long, env = "PUSHGATE_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// Share of posts and notifications traced (0 to 1), decided by the API; workers and
    /// gateways follow the decision carried with each post.
    #[arg(long, env = "PUSHGATE_OTLP_SAMPLE_RATIO", default_value_t = DEFAULT_SAMPLE_RATIO, global = true)]
    pub otlp_sample_ratio: f64,
}

impl TraceArgs {
    /// The export settings, when an endpoint is set (validated by the caller).
    pub fn config(&self) -> Option<TraceExportConfig> {
        self.otlp_endpoint
            .as_ref()
            .map(|endpoint| TraceExportConfig {
                sample_ratio: self.otlp_sample_ratio,
                ..TraceExportConfig::new(endpoint.clone())
            })
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormat> for LogFormatArg {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => LogFormatArg::Text,
            LogFormat::Json => LogFormatArg::Json,
        }
    }
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> Self {
        match arg {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Flags of `pushgate dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub worker: WorkerArgs,
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(flatten)]
    pub browser: BrowserArgs,
    /// Entries kept per user feed (older ones are trimmed; resume then reports incomplete).
    #[arg(long, env = "PUSHGATE_FEED_CAP", default_value_t = DEFAULT_FEED_CAP)]
    pub feed_cap: usize,
}

/// Flags of a connection server.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// This node's ID in the ring, unique among live nodes (default: dev, or gw-<listen port>).
    #[arg(long, env = "PUSHGATE_NODE_ID")]
    pub node_id: Option<String>,
    /// URL clients use to reach this node's /v1/ws (default: ws://<listen>/v1/ws).
    #[arg(long, env = "PUSHGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Server ping interval, milliseconds.
    #[arg(long, env = "PUSHGATE_HEARTBEAT_MS", default_value_t = millis(config::DEFAULT_HEARTBEAT))]
    pub heartbeat_ms: u64,
    /// Reap a connection silent for this long, milliseconds.
    #[arg(long, env = "PUSHGATE_IDLE_TIMEOUT_MS", default_value_t = millis(config::DEFAULT_IDLE_TIMEOUT))]
    pub idle_timeout_ms: u64,
    /// Hold live pushes this long after welcome for a resume, milliseconds.
    #[arg(long, env = "PUSHGATE_RESUME_WINDOW_MS", default_value_t = millis(config::DEFAULT_RESUME_WINDOW))]
    pub resume_window_ms: u64,
    /// Close a connection whose socket write blocks this long (4004), milliseconds.
    #[arg(long, env = "PUSHGATE_WRITE_TIMEOUT_MS", default_value_t = millis(config::DEFAULT_WRITE_TIMEOUT))]
    pub write_timeout_ms: u64,
    /// Pushes queued per connection before folding into feed_advanced.
    #[arg(long, env = "PUSHGATE_MAILBOX_CAPACITY", default_value_t = config::DEFAULT_MAILBOX_CAPACITY)]
    pub mailbox_capacity: usize,
    /// Hold a push up to this long so later ones share its socket write, milliseconds
    /// (0: write at once). Trades latency for fewer writes at high per-socket rates.
    #[arg(long, env = "PUSHGATE_WRITE_DELAY_MS", default_value_t = millis(config::DEFAULT_WRITE_DELAY))]
    pub write_delay_ms: u64,
    /// Largest inbound message in bytes (larger closes with 1009).
    #[arg(long, env = "PUSHGATE_MAX_FRAME_BYTES", default_value_t = config::DEFAULT_MAX_FRAME_BYTES)]
    pub max_frame_bytes: usize,
    /// Bad frames tolerated per connection before closing with 4003.
    #[arg(long, env = "PUSHGATE_MAX_BAD_FRAMES", default_value_t = config::DEFAULT_MAX_BAD_FRAMES)]
    pub max_bad_frames: u32,
    /// Sustained inbound frames per second per connection.
    #[arg(long, env = "PUSHGATE_FRAMES_PER_SEC", default_value_t = config::DEFAULT_FRAMES_PER_SEC)]
    pub frames_per_sec: NonZeroU32,
    /// Sustained handshakes per second per client IP.
    #[arg(long, env = "PUSHGATE_HANDSHAKES_PER_SEC", default_value_t = config::DEFAULT_HANDSHAKES_PER_SEC)]
    pub handshakes_per_sec: NonZeroU32,
    /// Proxies (CIDRs or addresses, comma-separated) whose forwarding header names the client,
    /// for the handshake limit and logs. Default: none, headers ignored.
    #[arg(long, env = "PUSHGATE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<IpNet>,
    /// The header trusted proxies write (only that one is read).
    #[arg(long, env = "PUSHGATE_FORWARDED_HEADER", value_enum, default_value_t = ForwardedHeader::default().into())]
    pub forwarded_header: ForwardedHeaderArg,
    /// Window over which drain spreads reconnects, milliseconds.
    #[arg(long, env = "PUSHGATE_DRAIN_WINDOW_MS", default_value_t = millis(config::DEFAULT_DRAIN_WINDOW))]
    pub drain_window_ms: u64,
    /// Sockets this node accepts at most; 0 = no limit. Default: the open-files limit minus
    /// 512 for everything else the process opens.
    #[arg(long, env = "PUSHGATE_MAX_CONNECTIONS")]
    pub max_connections: Option<u64>,
    /// Sockets one user may hold on this node; 0 = no limit.
    #[arg(long, env = "PUSHGATE_MAX_CONNECTIONS_PER_USER", default_value_t = config::DEFAULT_MAX_CONNECTIONS_PER_USER)]
    pub max_connections_per_user: u32,
}

impl GatewayArgs {
    /// The gateway settings these flags describe on top of `common` (validated by the caller).
    pub fn config(&self, common: &CommonArgs, default_node_id: &str) -> NodeConfig {
        let mut config = common.config();
        config.node_id = self
            .node_id
            .clone()
            .unwrap_or_else(|| default_node_id.to_owned());
        config.public_url = self.public_url.clone();
        config.heartbeat = Duration::from_millis(self.heartbeat_ms);
        config.idle_timeout = Duration::from_millis(self.idle_timeout_ms);
        config.resume_window = Duration::from_millis(self.resume_window_ms);
        config.write_timeout = Duration::from_millis(self.write_timeout_ms);
        config.mailbox_capacity = self.mailbox_capacity;
        config.write_delay = Duration::from_millis(self.write_delay_ms);
        config.max_frame_bytes = self.max_frame_bytes;
        config.max_bad_frames = self.max_bad_frames;
        config.frames_per_sec = self.frames_per_sec;
        config.handshakes_per_sec = self.handshakes_per_sec;
        config.trusted_proxies =
            TrustedProxies::new(self.trusted_proxies.clone(), self.forwarded_header.into());
        config.drain_window = Duration::from_millis(self.drain_window_ms);
        config.max_connections = self.max_connections.unwrap_or_else(default_max_connections);
        config.max_connections_per_user = self.max_connections_per_user;
        config
    }
}

/// Flags of a fan-out worker.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Authors with at least this many followers are delivered by broadcast (fan-out on read).
    #[arg(long, env = "PUSHGATE_CELEBRITY_THRESHOLD", default_value_t = WorkerConfig::default().celebrity_threshold)]
    pub celebrity_threshold: u64,
    /// Followers loaded per fan-out step.
    #[arg(long, env = "PUSHGATE_FANOUT_CHUNK", default_value_t = WorkerConfig::default().chunk)]
    pub fanout_chunk: usize,
    /// Events fanned out at once; one author's events stay in order.
    #[arg(long, env = "PUSHGATE_FANOUT_LANES", default_value_t = WorkerConfig::default().lanes)]
    pub fanout_lanes: usize,
    /// Attempts before an event is dead-lettered.
    #[arg(long, env = "PUSHGATE_MAX_ATTEMPTS", default_value_t = WorkerConfig::default().max_attempts)]
    pub max_attempts: u32,
    /// Consumer name in the fan-out log.
    #[arg(long, env = "PUSHGATE_WORKER_NAME", default_value_t = WorkerConfig::default().consumer)]
    pub worker_name: String,
}

impl WorkerArgs {
    /// The worker settings these flags describe (validated by the caller).
    pub fn config(&self) -> WorkerConfig {
        WorkerConfig {
            consumer: self.worker_name.clone(),
            celebrity_threshold: self.celebrity_threshold,
            chunk: self.fanout_chunk,
            lanes: self.fanout_lanes,
            max_attempts: self.max_attempts,
            ..WorkerConfig::default()
        }
    }
}

/// Flags of the REST API.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// Sustained API requests per second per user.
    #[arg(long, env = "PUSHGATE_USER_RPS", default_value_t = ApiLimits::default().user_rps)]
    pub user_rps: NonZeroU32,
    /// Sustained API requests per second for service-key callers together.
    #[arg(long, env = "PUSHGATE_SERVICE_RPS", default_value_t = ApiLimits::default().service_rps)]
    pub service_rps: NonZeroU32,
    /// Authors one user may follow (past it: 409 limit_reached).
    #[arg(long, env = "PUSHGATE_MAX_FOLLOWING", default_value_t = ApiLimits::default().max_following)]
    pub max_following: NonZeroUsize,
}

impl ApiArgs {
    pub fn limits(&self) -> ApiLimits {
        ApiLimits {
            user_rps: self.user_rps,
            service_rps: self.service_rps,
            max_following: self.max_following,
        }
    }
}

impl DevArgs {
    /// The embedded backplane's settings these flags describe (validated by the caller).
    pub fn memory(&self) -> MemoryConfig {
        MemoryConfig {
            feed_cap: self.feed_cap,
            ..MemoryConfig::default()
        }
    }
}

/// A duration as the whole milliseconds a flag takes.
fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// Headroom of file descriptors kept for everything but client sockets (Redis, HTTP, logs).
const FD_HEADROOM: u64 = 512;

/// The process's soft open-files limit minus headroom, read from `/proc/self/limits`; no
/// limit where that file does not exist. Read by hand: the file is one line of text, and a
/// libc binding is not worth a dependency.
fn default_max_connections() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<u64>().ok()
        })
        .map_or(0, |soft| soft.saturating_sub(FD_HEADROOM))
}
