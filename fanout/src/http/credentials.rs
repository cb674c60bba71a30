//! The bearer credential of a request and the 401 a failed one earns, shared by REST and the socket upgrade.

use super::request_headers::{RequestHeaders, equals_lowercase, visible_ascii};
use pushgate_protocol::ErrorCode;

use super::Problem;
use crate::token::TokenError;

/// The bearer credential of a request's `Authorization` header, if any.
pub fn bearer<H: RequestHeaders + ?Sized>(headers: &H) -> Option<&str> {
    let value = visible_ascii(headers.value_of("authorization")?)?;
    let (scheme, token) = value.split_once(' ')?;
    equals_lowercase(scheme.as_bytes(), "bearer").then(|| token.trim())
}

/// Turn a token failure into the 401 clients see.
pub fn unauthorized(error: &TokenError) -> Problem {
    match error {
        TokenError::Expired => Problem::new(ErrorCode::TokenExpired, "the token has expired"),
        TokenError::TooLong => Problem::new(
            ErrorCode::Unauthorized,
            "the token expires further ahead than this server accepts",
        ),
        TokenError::Revoked => Problem::new(
            ErrorCode::Unauthorized,
            "the token was revoked; get a new one",
        ),
        TokenError::UnknownKey | TokenError::Invalid(_) => {
            Problem::new(ErrorCode::Unauthorized, "missing or invalid bearer token")
        }
    }
}
