//! The validated settings of a node, whichever roles it plays.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use pushgate_fanout::token::TokenSettings;

use crate::trusted_proxies::TrustedProxies;

/// Longest write delay accepted: beyond it pushes would stop feeling live.
const MAX_WRITE_DELAY: Duration = Duration::from_secs(1);

/// Sockets per user and node unless configured: tabs and devices of one person, with room.
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: u32 = 32;

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    /// A production role would run on a credential everyone knows: the development JWT
    /// secret lets anyone forge tokens, the development key lets anyone act as a service.
    #[error(
        "{0} is not set or is the development value: production roles need a secret of their own (at least 16 bytes)"
    )]
    DevelopmentCredential(Credential),
}

/// A credential a production role must be given, named by its environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `PUSHGATE_JWT_SECRET`, which signs user tokens.
    JwtSecret,
    /// `PUSHGATE_API_KEY`, the service key.
    ApiKey,
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::JwtSecret => "PUSHGATE_JWT_SECRET (--jwt-secret)",
            Credential::ApiKey => "PUSHGATE_API_KEY (--api-key)",
        })
    }
}

/// Settings of one node (gateway, worker and API roles alike), checked by [`NodeConfig::validate`].
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where to listen for WebSocket and REST.
    pub listen: SocketAddr,
    /// This node's ID in the ring (unique per live node).
    pub node_id: String,
    /// The URL clients use to reach this node's `/v1/ws`; `None` = derived from `listen`.
    pub public_url: Option<String>,
    /// How user tokens are verified: the HS256/384/512 secret, public keys, JWKS, claim checks.
    pub tokens: TokenSettings,
    /// Service key for backend calls.
    pub api_key: String,
    /// Server ping interval.
    pub heartbeat: Duration,
    /// A connection with no inbound frame (data, ping or pong) for this long is reaped.
    pub idle_timeout: Duration,
    /// Live pushes wait this long after `welcome` for a `resume`, so replay comes first.
    pub resume_window: Duration,
    /// A socket write blocked this long closes the connection as a slow consumer.
    pub write_timeout: Duration,
    /// Pushes queued per connection before they are folded into `feed_advanced`.
    pub mailbox_capacity: usize,
    /// How long a push may wait for others to share its socket write; zero = write at once.
    pub write_delay: Duration,
    /// Largest inbound WebSocket message; larger closes with 1009.
    pub max_frame_bytes: usize,
    /// Bad frames tolerated per connection before closing with 4003.
    pub max_bad_frames: u32,
    /// Sustained inbound frames per second per connection (bursts of twice that).
    pub frames_per_sec: NonZeroU32,
    /// Sustained WebSocket handshakes per second per client address (bursts of 5x that).
    pub handshakes_per_sec: NonZeroU32,
    /// Peers whose `X-Forwarded-For` / `Forwarded` name the client (for the handshake limit
    /// and logs); nobody by default, so those headers are ignored.
    pub trusted_proxies: TrustedProxies,
    /// Allowed `Origin` values for browser upgrades; empty = any.
    pub allowed_origins: Vec<String>,
    /// Drain spreads `reconnect` delays over this window so clients do not return as a herd.
    pub drain_window: Duration,
    /// Membership heartbeat interval; the TTL is 3x this.
    pub membership_interval: Duration,
    /// Sockets this node accepts at most (0 = no limit); past it upgrades get 503 and
    /// `/v1/connect` sends users to the next node with room.
    pub max_connections: u64,
    /// Sockets one user may hold on this node (0 = no limit); past it upgrades get 429
    /// `too_many_connections`, so one token cannot hold a node's sockets.
    pub max_connections_per_user: u32,
}

impl NodeConfig {
    /// Development defaults on `listen` (tests and `pushgate dev` start from these).
    pub fn dev(listen: SocketAddr) -> Self {
        Self {
            listen,
            node_id: "dev".into(),
            public_url: None,
            tokens: TokenSettings::with_secret(crate::DEV_JWT_SECRET),
            api_key: crate::DEV_API_KEY.into(),
            heartbeat: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            resume_window: Duration::from_millis(250),
            write_timeout: Duration::from_secs(10),
            mailbox_capacity: 256,
            write_delay: Duration::ZERO,
            max_frame_bytes: 16 * 1024,
            max_bad_frames: 10,
            frames_per_sec: NonZeroU32::new(20).expect("non-zero"),
            handshakes_per_sec: NonZeroU32::new(500).expect("non-zero"),
            trusted_proxies: TrustedProxies::default(),
            allowed_origins: Vec::new(),
            drain_window: Duration::from_secs(10),
            membership_interval: Duration::from_secs(1),
            // Client frames are tiny (ping, resume, refresh); the buffer grows for the rare larger one.
            max_connections: 0,
            max_connections_per_user: DEFAULT_MAX_CONNECTIONS_PER_USER,
        }
    }

    /// Check cross-field rules; call before starting.
    pub fn validate(self) -> Result<Self, ConfigError> {
        let fail = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if self.tokens.secret.len() < 16 {
            return fail(&format!(
                "{} must be at least 16 bytes",
                Credential::JwtSecret
            ));
        }
        if self.tokens.max_ttl.is_zero() {
            return fail("the longest token lifetime must be positive");
        }
        if let Some(jwks) = &self.tokens.jwks {
            if !(jwks.url.starts_with("https://") || jwks.url.starts_with("http://")) {
                return fail("the JWKS URL must be http:// or https://");
            }
            if jwks.refresh.is_zero() {
                return fail("the JWKS refresh interval must be positive");
            }
        }
        if self.api_key.len() < 16 {
            return fail(&format!("{} must be at least 16 bytes", Credential::ApiKey));
        }
        if self.node_id.is_empty() || self.node_id.len() > 64 {
            return fail("the node id must be 1 to 64 characters");
        }
        if self.heartbeat.is_zero() || self.idle_timeout <= self.heartbeat {
            return fail("the idle timeout must be longer than the heartbeat interval");
        }
        if self.mailbox_capacity == 0 || self.max_frame_bytes < 256 {
            return fail("the mailbox capacity must be positive and the frame limit at least 256");
        }
        if self.write_delay > MAX_WRITE_DELAY {
            return fail("the write delay must be at most 1000 ms");
        }
        if self.write_timeout.is_zero() || self.membership_interval.is_zero() {
            return fail("the write timeout and membership interval must be positive");
        }
        Ok(self)
    }

    /// [`NodeConfig::validate`], and also refuse the development JWT secret and API key:
    /// for every role but `pushgate dev`.
    pub fn validate_production(self) -> Result<Self, ConfigError> {
        if self.tokens.secret == crate::DEV_JWT_SECRET {
            return Err(ConfigError::DevelopmentCredential(Credential::JwtSecret));
        }
        if self.api_key == crate::DEV_API_KEY {
            return Err(ConfigError::DevelopmentCredential(Credential::ApiKey));
        }
        self.validate()
    }
}
