//! A compact JWS token split into its three parts, once, with its header read.

use jsonwebtoken::errors::{Error, ErrorKind};

use super::key_choice::KeyChoice;

/// A token's parts, borrowed from it.
#[derive(Debug)]
pub(super) struct SignedToken<'a> {
    /// The token as received, for jsonwebtoken (which verifies public-key tokens).
    pub whole: &'a str,
    /// `alg` and `kid` of the header: which keys to try.
    pub choice: KeyChoice,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The claims, base64url.
    pub payload: &'a str,
    /// The signature, base64url.
    pub signature: &'a str,
}

impl<'a> SignedToken<'a> {
    /// Split as jsonwebtoken splits, from the right (a token with more than two dots keeps
    /// the extra ones in its header part, which then fails as base64), and read the header.
    pub fn parse(token: &'a str) -> Result<Self, Error> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(ErrorKind::InvalidToken)?;
        let (header, payload) = signing_input
            .rsplit_once('.')
            .ok_or(ErrorKind::InvalidToken)?;
        Ok(Self {
            whole: token,
            choice: KeyChoice::read(header)?,
            signing_input,
            payload,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "eyJhbGciOiJIUzI1NiJ9";

    #[test]
    fn splits_from_the_right_as_jsonwebtoken_does() {
        let token = format!("{HEADER}.payload.signature");
        let parts = SignedToken::parse(&token).expect("three parts");
        assert_eq!(
            (parts.signing_input, parts.payload, parts.signature),
            (format!("{HEADER}.payload").as_str(), "payload", "signature")
        );
        assert_eq!(parts.choice.alg, jsonwebtoken::Algorithm::HS256);
        let empty_parts = format!("{HEADER}..");
        assert!(
            SignedToken::parse(&empty_parts).is_ok(),
            "parts may be empty"
        );
        for bad in [
            HEADER.to_owned(),
            format!("{HEADER}.payload"),
            format!("{HEADER}.extra.payload.signature"),
            format!(".{HEADER}.payload.signature"),
        ] {
            assert!(SignedToken::parse(&bad).is_err(), "{bad:?}");
            assert!(jsonwebtoken::decode_header(&bad).is_err(), "{bad:?}");
        }
    }
}
