//! The request extractor that authenticates and rate-limits every API call.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use pushgate_protocol::{ErrorCode, check_user_id};

use super::{ApiState, Problem};
use crate::token::{Caller, TokenError};

/// The authenticated caller of a REST request.
#[derive(Debug, Clone)]
pub struct Authed(pub Caller);

impl Authed {
    /// The caller's user ID, or 403 for service callers on user-only endpoints.
    pub fn user(&self) -> Result<&str, Problem> {
        match &self.0 {
            Caller::User(claims) => Ok(&claims.sub),
            Caller::Service => Err(Problem::new(
                ErrorCode::Forbidden,
                "this endpoint acts as a user; use a user token",
            )),
        }
    }

    /// Ok for service callers, 403 for users.
    pub fn service(&self) -> Result<(), Problem> {
        match &self.0 {
            Caller::Service => Ok(()),
            Caller::User(_) => Err(Problem::new(
                ErrorCode::Forbidden,
                "this endpoint needs the service key",
            )),
        }
    }
}

/// The bearer credential of a request's `Authorization` header, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
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

impl FromRequestParts<ApiState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| Problem::new(ErrorCode::Unauthorized, "missing bearer token"))?;
        let caller = state
            .verifier
            .identify(token)
            .await
            .map_err(|e| unauthorized(&e))?;
        let key = match &caller {
            Caller::User(claims) if check_user_id(&claims.sub).is_err() => {
                return Err(Problem::new(
                    ErrorCode::Unauthorized,
                    "token subject is not a valid user id",
                ));
            }
            Caller::User(claims) => claims.sub.clone(),
            Caller::Service => String::new(),
        };
        let limiter = match caller {
            Caller::User(_) => &state.user_limiter,
            Caller::Service => &state.service_limiter,
        };
        if limiter.check_key(&key).is_err() {
            metrics::counter!("pushgate_api_rate_limited_total").increment(1);
            return Err(Problem::new(
                ErrorCode::RateLimited,
                "too many requests; slow down",
            ));
        }
        Ok(Authed(caller))
    }
}
