//! The validated settings of a node, whichever roles it plays.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use pushgate_fanout::invalid_setting::{InvalidSetting, Rule};
use pushgate_fanout::redis::RedisTargetError;
use pushgate_fanout::token::TokenSettings;

use crate::allowed_origins::{AllowedOrigins, OriginError};
use crate::trusted_proxies::TrustedProxies;

/// Longest write delay accepted: beyond it pushes would stop feeling live.
const MAX_WRITE_DELAY: Duration = Duration::from_secs(1);

/// Where a node listens unless configured: loopback, so nothing is exposed by accident.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Server ping interval unless configured.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(25);
/// A connection silent this long is reaped: more than two heartbeats, so one lost pong is forgiven.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long live pushes wait after `welcome` for a `resume`.
pub const DEFAULT_RESUME_WINDOW: Duration = Duration::from_millis(250);
/// A socket write blocked this long closes a slow consumer.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pushes queued per connection before they fold into `feed_advanced`.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 256;
/// Pushes are written at once unless configured: latency first.
pub const DEFAULT_WRITE_DELAY: Duration = Duration::ZERO;
/// Largest inbound message: client frames are tiny (ping, resume, refresh).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024;
/// Bad frames tolerated per connection before close 4003.
pub const DEFAULT_MAX_BAD_FRAMES: u32 = 10;
/// Sustained inbound frames per second per connection.
pub const DEFAULT_FRAMES_PER_SEC: NonZeroU32 = NonZeroU32::new(20).expect("non-zero");
/// Sustained handshakes per second per client address: a NAT of many users, not a flood.
pub const DEFAULT_HANDSHAKES_PER_SEC: NonZeroU32 = NonZeroU32::new(500).expect("non-zero");
/// Window over which a drain spreads reconnects.
pub const DEFAULT_DRAIN_WINDOW: Duration = Duration::from_secs(10);
/// Membership heartbeat interval (the TTL is 3x).
pub const DEFAULT_MEMBERSHIP_INTERVAL: Duration = Duration::from_secs(1);
/// Sockets per user and node unless configured: tabs and devices of one person, with room.
pub const DEFAULT_MAX_CONNECTIONS_PER_USER: u32 = 32;

/// Why settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting breaks its rule.
    #[error(transparent)]
    Invalid(#[from] InvalidSetting),
    /// A production role would run on a credential everyone knows: the development JWT
    /// secret lets anyone forge tokens, the development key lets anyone act as a service.
    #[error(
        "{0} is not set or is the development value: production roles need a secret of their own (at least 16 bytes)"
    )]
    DevelopmentCredential(Credential),
    /// `--redis` or `--redis-ca-cert` cannot be used (the message never shows a password).
    #[error(transparent)]
    Redis(#[from] RedisTargetError),
    /// An `--allowed-origins` entry is not an origin.
    #[error("--allowed-origins (PUSHGATE_ALLOWED_ORIGINS): {0}")]
    Origin(#[from] OriginError),
}

impl ConfigError {
    /// The flag (and config-file key) of the refused setting.
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::Invalid(invalid) => invalid.setting,
            ConfigError::DevelopmentCredential(credential) => credential.setting(),
            ConfigError::Redis(
                RedisTargetError::CaWithoutTls { .. }
                | RedisTargetError::CaUnreadable { .. }
                | RedisTargetError::CaNotPem { .. },
            ) => "redis-ca-cert",
            ConfigError::Redis(_) => "redis",
            ConfigError::Origin(_) => "allowed-origins",
        }
    }
}

/// A credential a production role must be given, named by its environment variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `PUSHGATE_JWT_SECRET`, which signs user tokens.
    JwtSecret,
    /// `PUSHGATE_API_KEY`, the service key.
    ApiKey,
}

impl Credential {
    /// The flag (and config-file key) that sets it.
    pub fn setting(self) -> &'static str {
        match self {
            Credential::JwtSecret => "jwt-secret",
            Credential::ApiKey => "api-key",
        }
    }
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
    /// The browser origins that may upgrade, open event streams and read REST answers
    /// (CORS); every origin unless listed.
    pub allowed_origins: AllowedOrigins,
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
            heartbeat: DEFAULT_HEARTBEAT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            resume_window: DEFAULT_RESUME_WINDOW,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            write_delay: DEFAULT_WRITE_DELAY,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_bad_frames: DEFAULT_MAX_BAD_FRAMES,
            frames_per_sec: DEFAULT_FRAMES_PER_SEC,
            handshakes_per_sec: DEFAULT_HANDSHAKES_PER_SEC,
            trusted_proxies: TrustedProxies::default(),
            allowed_origins: AllowedOrigins::default(),
            drain_window: DEFAULT_DRAIN_WINDOW,
            membership_interval: DEFAULT_MEMBERSHIP_INTERVAL,
            max_connections: 0,
            max_connections_per_user: DEFAULT_MAX_CONNECTIONS_PER_USER,
        }
    }

    /// Check every rule, cross-field ones included; call before starting.
    pub fn validate(self) -> Result<Self, ConfigError> {
        let tokens = &self.tokens;
        InvalidSetting::unless(tokens.secret.len() >= 16, "jwt-secret", Rule::MinBytes(16))?;
        InvalidSetting::unless(
            !tokens.max_ttl.is_zero(),
            "jwt-max-ttl-secs",
            Rule::Positive,
        )?;
        if let Some(jwks) = &tokens.jwks {
            let http = jwks.url.starts_with("https://") || jwks.url.starts_with("http://");
            InvalidSetting::unless(http, "jwks-url", Rule::HttpUrl)?;
            InvalidSetting::unless(!jwks.refresh.is_zero(), "jwks-refresh-secs", Rule::Positive)?;
        }
        InvalidSetting::unless(self.api_key.len() >= 16, "api-key", Rule::MinBytes(16))?;
        let id_length = Rule::Length { min: 1, max: 64 };
        InvalidSetting::unless((1..=64).contains(&self.node_id.len()), "node-id", id_length)?;
        InvalidSetting::unless(!self.heartbeat.is_zero(), "heartbeat-ms", Rule::Positive)?;
        InvalidSetting::unless(
            self.idle_timeout > self.heartbeat,
            "idle-timeout-ms",
            Rule::LongerThan("heartbeat-ms"),
        )?;
        InvalidSetting::unless(
            self.mailbox_capacity > 0,
            "mailbox-capacity",
            Rule::Positive,
        )?;
        InvalidSetting::unless(
            self.max_frame_bytes >= 256,
            "max-frame-bytes",
            Rule::AtLeast(256),
        )?;
        InvalidSetting::unless(
            self.write_delay <= MAX_WRITE_DELAY,
            "write-delay-ms",
            Rule::AtMost(MAX_WRITE_DELAY.as_millis() as u64),
        )?;
        InvalidSetting::unless(
            !self.write_timeout.is_zero(),
            "write-timeout-ms",
            Rule::Positive,
        )?;
        InvalidSetting::unless(
            !self.membership_interval.is_zero(),
            "membership-interval-ms",
            Rule::Positive,
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> NodeConfig {
        let mut config = NodeConfig::dev(DEFAULT_LISTEN);
        config.tokens.secret = "a-secret-of-our-own-0123".into();
        config.api_key = "a-key-of-our-own-0123".into();
        config
    }

    /// The setting `change` makes `validate` refuse, and the rule it names.
    fn refused(change: impl FnOnce(&mut NodeConfig)) -> (&'static str, Rule) {
        let mut config = valid();
        change(&mut config);
        match config.validate() {
            Err(ConfigError::Invalid(invalid)) => (invalid.setting, invalid.rule),
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn defaults_with_own_credentials_are_valid_everywhere() {
        assert!(valid().validate_production().is_ok());
        assert!(NodeConfig::dev(DEFAULT_LISTEN).validate().is_ok());
    }

    /// A change that breaks one rule.
    type Change = fn(&mut NodeConfig);

    #[test]
    fn each_rule_names_its_setting() {
        let cases: [(Change, &str, Rule); 8] = [
            (
                |c| c.tokens.secret = "short".into(),
                "jwt-secret",
                Rule::MinBytes(16),
            ),
            (
                |c| c.api_key = "short".into(),
                "api-key",
                Rule::MinBytes(16),
            ),
            (
                |c| c.node_id.clear(),
                "node-id",
                Rule::Length { min: 1, max: 64 },
            ),
            (
                |c| c.heartbeat = Duration::ZERO,
                "heartbeat-ms",
                Rule::Positive,
            ),
            (
                |c| c.idle_timeout = c.heartbeat,
                "idle-timeout-ms",
                Rule::LongerThan("heartbeat-ms"),
            ),
            (
                |c| c.max_frame_bytes = 255,
                "max-frame-bytes",
                Rule::AtLeast(256),
            ),
            (
                |c| c.write_delay = Duration::from_millis(1001),
                "write-delay-ms",
                Rule::AtMost(1000),
            ),
            (
                |c| c.tokens.jwks = Some(pushgate_fanout::token::JwksSettings::new("ftp://x")),
                "jwks-url",
                Rule::HttpUrl,
            ),
        ];
        for (change, setting, rule) in cases {
            assert_eq!(refused(change), (setting, rule));
        }
    }

    #[test]
    fn production_refuses_the_development_credentials_by_name() {
        let mut config = valid();
        config.api_key = crate::DEV_API_KEY.into();
        let error = config.validate_production().unwrap_err();
        assert_eq!(error.setting(), "api-key");
        let error = NodeConfig::dev(DEFAULT_LISTEN)
            .validate_production()
            .unwrap_err();
        assert_eq!(error.setting(), "jwt-secret");
    }
}
