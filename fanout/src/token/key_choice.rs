//! The two header fields that pick the keys a token is tried against, read on their own.
//!
//! `jsonwebtoken::decode` reads the whole header again (twice) when it verifies, so reading it
//! here with `jsonwebtoken::decode_header` as well made three full header parses per token,
//! each through serde's buffering of the flattened `extras` map: about 2 us of the 6 us a
//! connect spent verifying its token. The checks themselves stay jsonwebtoken's.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::{Error, ErrorKind};
use serde::Deserialize;

/// `alg` and `kid` of a token's header.
#[derive(Debug, Deserialize)]
pub(super) struct KeyChoice {
    /// Which family of keys may verify the token.
    pub alg: Algorithm,
    /// Which JWKS key signed it, when the token says.
    #[serde(default)]
    pub kid: Option<String>,
}

impl KeyChoice {
    /// Read from `token`'s header; fails as `jsonwebtoken::decode_header` would.
    pub fn of(token: &str) -> Result<Self, Error> {
        let (header, rest) = token.split_once('.').ok_or(ErrorKind::InvalidToken)?;
        if !rest.contains('.') {
            return Err(ErrorKind::InvalidToken.into());
        }
        let json = URL_SAFE_NO_PAD.decode(header).map_err(ErrorKind::Base64)?;
        serde_json::from_slice(&json).map_err(|e| ErrorKind::Json(Arc::new(e)).into())
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    fn token(header: &Header) -> String {
        let claims = serde_json::json!({ "sub": "alice", "exp": 4_000_000_000u64 });
        jsonwebtoken::encode(header, &claims, &EncodingKey::from_secret(b"s")).expect("signs")
    }

    #[test]
    fn reads_what_decode_header_reads() {
        let mut header = Header::new(Algorithm::HS384);
        header.kid = Some("k1".into());
        header.cty = Some("JWT".into());
        let token = token(&header);
        let choice = KeyChoice::of(&token).expect("reads");
        let full = jsonwebtoken::decode_header(&token).expect("decodes");
        assert_eq!(
            (choice.alg, choice.kid.as_deref()),
            (full.alg, full.kid.as_deref())
        );
        let plain = KeyChoice::of(&self::token(&Header::default())).expect("reads");
        assert_eq!((plain.alg, plain.kid), (Algorithm::HS256, None));
    }

    #[test]
    fn refuses_what_decode_header_refuses() {
        let good = token(&Header::default());
        let (_, rest) = good.split_once('.').expect("three parts");
        let unknown_alg = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        let no_alg = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT"}"#));
        for bad in ["", "abc", "a.b", "!!.e30.sig", &unknown_alg, &no_alg] {
            assert!(KeyChoice::of(bad).is_err(), "{bad:?} must be refused");
            assert!(
                jsonwebtoken::decode_header(bad).is_err(),
                "{bad:?} as in jsonwebtoken"
            );
        }
    }
}
