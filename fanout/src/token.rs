//! JWT user tokens and the service key: who is calling.
//!
//! One [`TokenVerifier`] serves the socket upgrade, the `refresh` frame and REST. It holds
//! the shared secret (HS256/384/512), PEM public keys and, with a JWKS URL, an identity
//! provider's keys refreshed in the background; each token is tried only against keys of its
//! own algorithm (and its `kid`, when it names one). HS256/384/512 tokens, the common case,
//! are verified without jsonwebtoken, against keyed HMAC states (see [`hmac_key`]).

mod claim_checks;
mod hmac_key;
mod jwks_cache;
mod key_choice;
mod revoked_users;
mod signed_token;
mod token_settings;
mod verifying_key;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use self::claim_checks::{ClaimChecks, Judgement};
use self::hmac_key::HmacKey;
use self::jwks_cache::JwksCache;
pub use self::jwks_cache::JwksError;
pub use self::revoked_users::{REVOCATION_POLL, RevokedUsers};
use self::signed_token::SignedToken;
pub use self::token_settings::{
    DEFAULT_JWKS_REFETCH_MIN, DEFAULT_JWKS_REFRESH, DEFAULT_LEEWAY, DEFAULT_MAX_TTL, JwksSettings,
    TokenSettings,
};
use self::verifying_key::VerifyingKey;
use crate::clock::now_micros;
use crate::drain::Drain;

/// Claims of a user token that pushgate reads (`iss`, `aud` and `nbf` are checked too).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user ID.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issue time, seconds since the Unix epoch: a revocation refuses tokens issued at or
    /// before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// Why a token was refused. Shown to clients only as `unauthorized` / `token_expired`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("token expires further ahead than the longest accepted lifetime")]
    TooLong,
    #[error("no key verifies tokens of this algorithm and key id")]
    UnknownKey,
    #[error("the user's tokens issued this early were revoked")]
    Revoked,
    #[error("invalid token: {0}")]
    Invalid(#[source] jsonwebtoken::errors::Error),
}

/// Why the verifier could not be set up (at start, before serving anyone).
#[derive(Debug, thiserror::Error)]
pub enum TokenSetupError {
    #[error("cannot read public key file {path}: {source}", path = path.display())]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM RSA, EC P-256/P-384 or Ed25519 public key", path = path.display())]
    UnusableKey { path: PathBuf },
    #[error("{0}")]
    Jwks(#[from] JwksError),
}

/// Verifies user tokens and recognises the service key. Cheap to clone: clones share keys.
#[derive(Clone)]
pub struct TokenVerifier {
    inner: Arc<Keys>,
}

/// What a verifier holds.
struct Keys {
    /// The shared secret, verifying every HS256/384/512 token (a JWKS never supplies a
    /// symmetric key, and the public keys verify only their own algorithms).
    secret: HmacKey,
    /// The PEM public keys.
    fixed: Vec<VerifyingKey>,
    /// The identity provider's keys, when a JWKS URL is set.
    jwks: Option<Arc<JwksCache>>,
    /// The secret again, to sign dev and test tokens.
    encoding: EncodingKey,
    /// The secret for jsonwebtoken, which judges HS tokens whose claims are unusual.
    decoding: DecodingKey,
    /// The claim checks of HS tokens; their `iss` and `aud` are what minted tokens carry,
    /// their `leeway` how much longer than `max_ttl` a revocation is kept.
    checks: ClaimChecks,
    /// The same checks for jsonwebtoken.
    validations: Validations,
    max_ttl: Duration,
    /// Users whose older tokens are refused.
    revoked: Arc<RevokedUsers>,
    /// Backend services send this as their bearer token.
    api_key: String,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

/// The authenticated caller of a request or socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A user, with the token's claims.
    User(Claims),
    /// A backend service holding the API key.
    Service,
}

impl TokenVerifier {
    /// A verifier for tokens signed with `secret` only, with default claim checks, and for
    /// `api_key`.
    pub fn new(secret: &str, api_key: &str) -> Self {
        Self::assemble(
            &TokenSettings::with_secret(secret),
            Vec::new(),
            None,
            api_key,
        )
    }

    /// A verifier for `settings`: reads the PEM files and fetches the JWKS document (then
    /// keeps it fresh in a task that stops with `drain`).
    pub async fn start(
        settings: &TokenSettings,
        api_key: &str,
        drain: &Drain,
    ) -> Result<Self, TokenSetupError> {
        let pem_keys = settings
            .public_key_files
            .iter()
            .map(|path| VerifyingKey::from_pem_file(path))
            .collect::<Result<Vec<_>, _>>()?;
        let jwks = match &settings.jwks {
            Some(jwks) => Some(JwksCache::start(jwks.clone(), drain).await?),
            None => None,
        };
        Ok(Self::assemble(settings, pem_keys, jwks, api_key))
    }

    fn assemble(
        settings: &TokenSettings,
        pem_keys: Vec<VerifyingKey>,
        jwks: Option<Arc<JwksCache>>,
        api_key: &str,
    ) -> Self {
        let secret = settings.secret.as_bytes();
        Self {
            inner: Arc::new(Keys {
                secret: HmacKey::new(secret),
                fixed: pem_keys,
                jwks,
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                checks: ClaimChecks::new(settings),
                validations: Validations::new(settings),
                max_ttl: settings.max_ttl,
                revoked: Arc::default(),
                api_key: api_key.to_owned(),
            }),
        }
    }

    /// Verify a user token. A token naming a `kid` no key has makes the JWKS document be
    /// fetched again (rate-limited) before it is refused, so a key rotation is seen at once.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        self.fetch_keys_for(token).await;
        self.verify_with_held_keys(token)
    }

    /// Whether [`TokenVerifier::fetch_keys_for`] would fetch for this token: a JWKS is set and
    /// the token names a `kid` that no key held now has. Lets a caller that must not wait
    /// (the early upgrade path) hand the rare token that needs a fetch to one that may.
    pub fn would_fetch_keys_for(&self, token: &str) -> bool {
        self.inner.jwks.is_some()
            && SignedToken::parse(token).is_ok_and(|token| {
                let header = token.choice;
                header.kid.is_some() && !self.holds_key(header.alg, header.kid.as_deref())
            })
    }

    /// Fetch the JWKS again (rate-limited) if the token names a `kid` no key held has.
    pub async fn fetch_keys_for(&self, token: &str) {
        if let (Some(jwks), true) = (&self.inner.jwks, self.would_fetch_keys_for(token)) {
            jwks.refetch_for_unknown_kid().await;
        }
    }

    fn holds_key(&self, algorithm: Algorithm, kid: Option<&str>) -> bool {
        let held = |set: &[VerifyingKey]| set.iter().any(|k| k.matches(algorithm, kid));
        // The secret serves every HS token, whatever `kid` it names.
        algorithm.family() == AlgorithmFamily::Hmac
            || held(&self.inner.fixed)
            || self.inner.jwks.as_ref().is_some_and(|j| held(&j.keys()))
    }

    /// Verify a user token against the keys held now, without waiting for any fetch.
    pub fn verify_with_held_keys(&self, token: &str) -> Result<Claims, TokenError> {
        let token = SignedToken::parse(token).map_err(TokenError::Invalid)?;
        if token.choice.alg.family() == AlgorithmFamily::Hmac {
            let claims = self.verify_hmac(&token).map_err(TokenError::Invalid)?;
            return self.check_lifetime(claims);
        }
        self.verify_public_key_token(&token)
    }

    /// The claims of an HS256/384/512 token signed with the secret, before `exp` is checked:
    /// what `jsonwebtoken::decode` with the HMAC family's `Validation` returns.
    fn verify_hmac(&self, token: &SignedToken<'_>) -> Result<Claims, jsonwebtoken::errors::Error> {
        self.inner.secret.verify(
            token.choice.alg,
            token.signing_input.as_bytes(),
            token.signature,
        )?;
        match self.inner.checks.judge(token.payload) {
            Judgement::Checked(claims) => claims,
            Judgement::Unusual => {
                let validation = &self.inner.validations.hmac;
                jsonwebtoken::decode::<Claims>(token.whole, &self.inner.decoding, validation)
                    .map(|data| data.claims)
            }
        }
    }

    /// Verify a token of the RSA, EC or Ed family with jsonwebtoken, against each held key
    /// that may have signed it.
    fn verify_public_key_token(&self, token: &SignedToken<'_>) -> Result<Claims, TokenError> {
        let header = &token.choice;
        let kid = header.kid.as_deref();
        let keys = &self.inner;
        let jwks_keys = keys
            .jwks
            .as_ref()
            .map(|jwks| jwks.keys())
            .unwrap_or_default();
        let candidates = keys
            .fixed
            .iter()
            .chain(jwks_keys.iter())
            .filter(|k| k.matches(header.alg, kid));
        let validation = keys.validations.of(header.alg.family());
        let mut refusal = TokenError::UnknownKey;
        for candidate in candidates {
            match jsonwebtoken::decode::<Claims>(token.whole, &candidate.key, validation) {
                Ok(data) => return self.check_lifetime(data.claims),
                // Several keys may fit (PEM files, a JWKS key without `kid`): try the next.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
                    refusal = TokenError::Invalid(e);
                }
                Err(e) => return Err(TokenError::Invalid(e)),
            }
        }
        Err(refusal)
    }

    /// `exp` is in the future and not too far, from now and from `iat`; not revoked.
    fn check_lifetime(&self, claims: Claims) -> Result<Claims, TokenError> {
        let now = now_micros() / 1_000_000;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        let max_ttl = self.inner.max_ttl.as_secs();
        // Bounding `exp - iat` too means a revocation older than the longest lifetime
        // refuses nothing, so the list can forget it.
        let lifetime = claims.exp - claims.iat.unwrap_or(now).min(now);
        if claims.exp - now > max_ttl || lifetime > max_ttl {
            return Err(TokenError::TooLong);
        }
        if self.inner.revoked.refuses(&claims.sub, claims.iat) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// This process's copy of the revocation list (kept fresh by [`RevokedUsers::follow`]).
    pub fn revoked(&self) -> &Arc<RevokedUsers> {
        &self.inner.revoked
    }

    /// How long a revocation must be kept: past it, every token it refuses has expired.
    pub fn revocation_lifetime(&self) -> Duration {
        self.inner.max_ttl + self.inner.checks.leeway
    }

    /// Identify a bearer credential: the service key, else a user token.
    pub async fn identify(&self, bearer: &str) -> Result<Caller, TokenError> {
        if constant_time_eq(bearer.as_bytes(), self.inner.api_key.as_bytes()) {
            return Ok(Caller::Service);
        }
        self.verify(bearer).await.map(Caller::User)
    }

    /// Sign an HS256 token for `user` valid for `ttl_secs` (dev mode and tests), with the
    /// configured issuer and audience so that it passes this verifier's checks.
    pub fn mint(&self, user: &str, ttl_secs: u64) -> String {
        let now = now_micros() / 1_000_000;
        let mut claims = serde_json::json!({ "sub": user, "iat": now, "exp": now + ttl_secs });
        if let Some(issuer) = &self.inner.checks.issuer {
            claims["iss"] = issuer.as_str().into();
        }
        if let Some(audience) = &self.inner.checks.audience {
            claims["aud"] = audience.as_str().into();
        }
        let header = Header::new(Algorithm::HS256);
        jsonwebtoken::encode(&header, &claims, &self.inner.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }
}

/// jsonwebtoken's claim checks, one per algorithm family admitting that family's algorithms
/// (jsonwebtoken requires it): built once, so no token pays for a copy. Which algorithm a
/// token may use is decided by the keys it is tried against (`VerifyingKey::matches`).
struct Validations {
    /// For HS tokens whose claims [`ClaimChecks`] leaves to jsonwebtoken.
    hmac: Validation,
    /// For RS* and PS* tokens.
    rsa: Validation,
    /// For ES* tokens.
    ec: Validation,
    /// For EdDSA tokens.
    ed: Validation,
}

impl Validations {
    fn new(settings: &TokenSettings) -> Self {
        Self {
            hmac: validation(settings, AlgorithmFamily::Hmac),
            rsa: validation(settings, AlgorithmFamily::Rsa),
            ec: validation(settings, AlgorithmFamily::Ec),
            ed: validation(settings, AlgorithmFamily::Ed),
        }
    }

    fn of(&self, family: AlgorithmFamily) -> &Validation {
        match family {
            AlgorithmFamily::Hmac => &self.hmac,
            AlgorithmFamily::Rsa => &self.rsa,
            AlgorithmFamily::Ec => &self.ec,
            AlgorithmFamily::Ed => &self.ed,
        }
    }
}

/// The checks jsonwebtoken makes for tokens of `family`, as configured by `settings` (the
/// HMAC family's are made by [`ClaimChecks`] instead, to the same effect).
fn validation(settings: &TokenSettings, family: AlgorithmFamily) -> Validation {
    let mut validation = Validation::new_for_family(family);
    validation.leeway = settings.leeway.as_secs();
    // `exp` is checked here, exactly, so the socket (which closes at `exp`) and every
    // other surface agree to the second; jsonwebtoken's check would add the leeway.
    validation.validate_exp = false;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    match &settings.issuer {
        Some(issuer) => {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        None => validation.iss = None,
    }
    match &settings.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        // Without a configured audience any `aud` is accepted (jsonwebtoken would refuse
        // every token that carries one).
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Compare secrets without leaking the matching prefix length through timing. Hand-written
/// because it is four lines and no crate in our dependency set offers it.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod fast_path_tests;
#[cfg(test)]
mod tests;
