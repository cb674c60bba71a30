//! JWT user tokens and the service key: who is calling.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::clock::now_micros;

/// Claims of a user token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user ID.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// Why a token was refused. Shown to clients only as `unauthorized` / `token_expired`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Verifies user tokens (HS256 shared secret) and recognises the service key.
#[derive(Clone)]
pub struct TokenVerifier {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
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
    /// A verifier for tokens signed with `secret`, and for `api_key`.
    pub fn new(secret: &[u8], api_key: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked to the second with no leeway, so tests and clients see exact behaviour.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            decoding: DecodingKey::from_secret(secret),
            encoding: EncodingKey::from_secret(secret),
            validation,
            api_key: api_key.to_owned(),
        }
    }

    /// Verify a user token.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(e.to_string()),
            })
    }

    /// Identify a bearer credential: the service key, else a user token.
    pub fn identify(&self, bearer: &str) -> Result<Caller, TokenError> {
        if constant_time_eq(bearer.as_bytes(), self.api_key.as_bytes()) {
            return Ok(Caller::Service);
        }
        self.verify(bearer).map(Caller::User)
    }

    /// Sign a token for `user` valid for `ttl_secs` (dev mode and tests).
    pub fn mint(&self, user: &str, ttl_secs: u64) -> String {
        let claims = Claims {
            sub: user.to_owned(),
            exp: now_micros() / 1_000_000 + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of two plain claims cannot fail")
    }
}

/// Compare secrets without leaking the matching prefix length through timing. Hand-written
/// because it is four lines and no crate in our dependency set offers it.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_foreign_ones_do_not() {
        let verifier = TokenVerifier::new(b"secret", "key");
        let token = verifier.mint("alice", 60);
        assert_eq!(
            verifier.verify(&token).map(|c| c.sub),
            Ok("alice".to_owned())
        );
        let other = TokenVerifier::new(b"other", "key").mint("alice", 60);
        assert!(matches!(
            verifier.verify(&other),
            Err(TokenError::Invalid(_))
        ));
        assert_eq!(verifier.identify("key"), Ok(Caller::Service));
        assert!(verifier.identify("kez").is_err());
    }

    #[test]
    fn expired_tokens_are_told_apart() {
        let verifier = TokenVerifier::new(b"secret", "key");
        let claims = Claims {
            sub: "a".into(),
            exp: 1,
        };
        let token = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .expect("sign");
        assert_eq!(verifier.verify(&token), Err(TokenError::Expired));
    }
}
