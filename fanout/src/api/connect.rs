//! `GET /v1/connect` and `GET /v1/presence`: where a user should connect, and who is online.

use axum::Json;
use axum::extract::State;
use pushgate_protocol::{ErrorCode, check_user_id};
use serde::{Deserialize, Serialize};

use super::{ApiState, Authed, Params, Problem, ProblemBody};
use crate::backplane::{Presence, UserId};

/// Most users in one presence query.
const MAX_PRESENCE_USERS: usize = 100;

/// Answer of `GET /v1/connect`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectInfo {
    /// WebSocket URL of the user's home node.
    pub url: String,
    /// The home node's ID.
    pub node: String,
}

#[utoipa::path(get, path = "/v1/connect",
    responses((status = 200, body = ConnectInfo), (status = 503, body = ProblemBody)))]
pub(crate) async fn connect(
    State(state): State<ApiState>,
    caller: Authed,
) -> Result<Json<ConnectInfo>, Problem> {
    let user = caller.user()?;
    let ring = state.ring.borrow().clone();
    let home = ring.connect_target(user).ok_or_else(|| {
        Problem::new(
            ErrorCode::Unavailable,
            "no gateway node is live; retry with backoff",
        )
    })?;
    Ok(Json(ConnectInfo {
        url: home.url.clone(),
        node: home.id.clone(),
    }))
}

/// Query of `GET /v1/presence`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PresenceQuery {
    /// Comma-separated user IDs, at most 100.
    pub users: String,
}

/// Answer of `GET /v1/presence`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresenceAnswer {
    pub users: Vec<Presence>,
}

#[utoipa::path(get, path = "/v1/presence", params(PresenceQuery),
    responses((status = 200, body = PresenceAnswer), (status = 400, body = ProblemBody)))]
pub(crate) async fn presence(
    State(state): State<ApiState>,
    _caller: Authed,
    Params(query): Params<PresenceQuery>,
) -> Result<Json<PresenceAnswer>, Problem> {
    let users: Vec<UserId> = query
        .users
        .split(',')
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect();
    if users.is_empty() || users.len() > MAX_PRESENCE_USERS {
        return Err(Problem::invalid_field(
            "users",
            format!("1 to {MAX_PRESENCE_USERS} user ids"),
        ));
    }
    for user in &users {
        check_user_id(user).map_err(|e| Problem::invalid_field("users", e.to_string()))?;
    }
    Ok(Json(PresenceAnswer {
        users: state.backplane.presence.query(&users).await?,
    }))
}
