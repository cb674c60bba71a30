//! `GET /v1/connect` and `GET /v1/presence`: where a user should connect, and who is online.

use axum::Json;
use axum::extract::State;
use pushgate_protocol::{ErrorCode, check_user_id};
use serde::{Deserialize, Serialize};

use super::{ApiState, Authed, Params, Problem, ProblemBody};
use crate::backplane::{Presence, UserId};
use crate::token::Caller;

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
    /// The users the caller may know about, in the order asked; others are left out.
    pub users: Vec<PresenceEntry>,
}

/// One user's presence as the caller may see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PresenceEntry {
    pub user: UserId,
    /// Whether any live node holds a connection of the user.
    pub online: bool,
    /// When the user was last seen connected, milliseconds since the Unix epoch; `None` if never.
    pub last_seen: Option<u64>,
    /// Open connections across all live nodes: for the service key only, since how many
    /// devices someone has open is nobody else's business.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
}

impl PresenceEntry {
    fn new(presence: Presence, with_connections: bool) -> Self {
        Self {
            user: presence.user,
            online: presence.online,
            last_seen: presence.last_seen,
            connections: with_connections.then_some(presence.connections),
        }
    }
}

/// Presence is private: the service key sees every field of anyone; a user sees itself and
/// its friends (users it follows who follow it back), without connection counts, and nothing
/// of anyone else, not even whether they exist.
#[utoipa::path(get, path = "/v1/presence", params(PresenceQuery),
    responses((status = 200, body = PresenceAnswer), (status = 400, body = ProblemBody)))]
pub(crate) async fn presence(
    State(state): State<ApiState>,
    caller: Authed,
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
    let visible = match &caller.0 {
        Caller::Service => vec![true; users.len()],
        Caller::User(claims) => {
            let friends = state.backplane.follows.friends(&claims.sub, &users).await?;
            users
                .iter()
                .zip(friends)
                .map(|(user, friend)| friend || *user == claims.sub)
                .collect()
        }
    };
    let asked: Vec<UserId> = users
        .into_iter()
        .zip(&visible)
        .filter_map(|(user, shown)| shown.then_some(user))
        .collect();
    let with_connections = matches!(caller.0, Caller::Service);
    let presence = if asked.is_empty() {
        Vec::new()
    } else {
        state.backplane.presence.query(&asked).await?
    };
    Ok(Json(PresenceAnswer {
        users: presence
            .into_iter()
            .map(|p| PresenceEntry::new(p, with_connections))
            .collect(),
    }))
}
