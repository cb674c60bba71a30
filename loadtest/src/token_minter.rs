//! HS256 user tokens minted locally, the way the gateway's authentication expects them.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

use crate::LoadtestError;

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
}

/// Signs `{sub, exp}` tokens with the shared secret; minting locally keeps token traffic off
/// the server being measured.
#[derive(Clone)]
pub struct TokenMinter {
    key: EncodingKey,
    ttl: Duration,
}

impl fmt::Debug for TokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMinter")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenMinter {
    /// A minter for `secret` whose tokens live `ttl`.
    pub fn new(secret: &str, ttl: Duration) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.as_bytes()),
            ttl,
        }
    }

    /// A token for user `user`.
    pub fn token(&self, user: &str) -> Result<String, LoadtestError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let claims = Claims {
            sub: user,
            exp: (now + self.ttl).as_secs(),
        };
        Ok(jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &self.key,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn tokens_verify_with_the_same_secret() {
        #[derive(serde::Deserialize)]
        struct Back {
            sub: String,
            exp: u64,
        }
        let token = TokenMinter::new("s3cret", Duration::from_secs(60))
            .token("u7")
            .expect("mints");
        let back = jsonwebtoken::decode::<Back>(
            &token,
            &DecodingKey::from_secret(b"s3cret"),
            &Validation::default(),
        )
        .expect("verifies");
        assert_eq!(back.claims.sub, "u7");
        assert!(
            back.claims.exp
                > SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
        );
        let wrong = jsonwebtoken::decode::<Back>(
            &token,
            &DecodingKey::from_secret(b"other"),
            &Validation::default(),
        );
        assert!(wrong.is_err());
    }
}
