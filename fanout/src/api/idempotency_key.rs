//! The `Idempotency-Key` request header, which makes a retried create return the first result.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::Problem;

/// Longest idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        match value.to_str() {
            Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => {
                Ok(Self(Some(key.to_owned())))
            }
            _ => Err(Problem::invalid_field(
                "Idempotency-Key",
                "must be 1 to 128 visible ASCII characters",
            )),
        }
    }
}
