//! What user tokens must be signed with and what their claims must say, with defaults.

use std::path::PathBuf;
use std::time::Duration;

/// Default `--jwt-leeway-secs`: clock skew forgiven on `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default `--jwt-max-ttl-secs`: a token whose `exp` is further ahead is refused, so a leaked
/// or mis-minted token (`exp` = 2^64-1) cannot hold a socket forever.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default `--jwks-refresh-secs`: how often the JWKS document is fetched again.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// Default `--jwks-refetch-min-secs`: a token naming an unknown `kid` triggers a fetch at most
/// this often, so a stream of forged `kid`s cannot turn the gateway against the identity
/// provider.
pub const DEFAULT_JWKS_REFETCH_MIN: Duration = Duration::from_secs(10);

/// Where verification keys come from and which claims are checked.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// HS256/384/512 shared secret (also signs `pushgate token` and dev tokens).
    pub secret: String,
    /// PEM public key files (RSA, EC P-256/P-384, Ed25519) for tokens an identity provider
    /// signs with its private key.
    pub public_key_files: Vec<PathBuf>,
    /// A JWKS document to fetch public keys from, chosen by `kid`.
    pub jwks: Option<JwksSettings>,
    /// When set, a token's `iss` must equal it (and be present).
    pub issuer: Option<String>,
    /// When set, a token's `aud` must contain it (and be present).
    pub audience: Option<String>,
    /// Clock skew forgiven on `nbf`. `exp` is exact, so a socket closes at the same second
    /// every surface refuses the token.
    pub leeway: Duration,
    /// Longest accepted distance from now to `exp`.
    pub max_ttl: Duration,
}

/// A JWKS endpoint and how often it is fetched.
#[derive(Clone, Debug)]
pub struct JwksSettings {
    /// `https://…/.well-known/jwks.json` of the identity provider.
    pub url: String,
    /// Fetched again this often.
    pub refresh: Duration,
    /// A token with an unknown `kid` fetches again at most this often.
    pub refetch_min: Duration,
}

impl TokenSettings {
    /// Only the shared secret, with default claim checks.
    pub fn with_secret(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            public_key_files: Vec::new(),
            jwks: None,
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            max_ttl: DEFAULT_MAX_TTL,
        }
    }
}

impl JwksSettings {
    /// `url` with the default intervals.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refresh: DEFAULT_JWKS_REFRESH,
            refetch_min: DEFAULT_JWKS_REFETCH_MIN,
        }
    }
}
