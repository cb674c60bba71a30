//! `POST /v1/dev/token`: mint a user token; mounted only by `pushgate dev`.

use axum::Json;
use axum::extract::State;
use pushgate_protocol::check_user_id;
use serde::{Deserialize, Serialize};

use super::{ApiState, JsonBody, Problem, ProblemBody};

/// Body of `POST /v1/dev/token`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevTokenRequest {
    /// The user to mint a token for.
    pub user: String,
    /// Lifetime in seconds (default 3600, at most 30 days).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// Answer of `POST /v1/dev/token`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DevToken {
    pub token: String,
    pub user: String,
}

#[utoipa::path(post, path = "/v1/dev/token", request_body = DevTokenRequest,
    responses((status = 200, body = DevToken), (status = 400, body = ProblemBody)))]
pub(crate) async fn mint(
    State(state): State<ApiState>,
    JsonBody(body): JsonBody<DevTokenRequest>,
) -> Result<Json<DevToken>, Problem> {
    check_user_id(&body.user).map_err(|e| Problem::invalid_field("user", e.to_string()))?;
    let ttl = body.ttl_secs.unwrap_or(3600);
    if ttl == 0 || ttl > 30 * 24 * 3600 {
        return Err(Problem::invalid_field("ttl_secs", "1 second to 30 days"));
    }
    Ok(Json(DevToken {
        token: state.verifier.mint(&body.user, ttl),
        user: body.user,
    }))
}
