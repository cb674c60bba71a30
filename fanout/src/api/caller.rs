//! The request extractor that authenticates and rate-limits every API call.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use pushgate_protocol::{ErrorCode, check_user_id};

use super::{ApiState, Problem, bearer, unauthorized};
use crate::token::Caller;

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
