//! `POST /v1/users/{user}/disconnect`: the backend closes a user's sockets everywhere, and
//! optionally refuses the user's existing tokens.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use pushgate_protocol::{NodeMessage, check_user_id};
use serde::Deserialize;

use super::{ApiState, Authed, JsonBody, Problem, ProblemBody};
use crate::clock::now_micros;

/// Body of `POST /v1/users/{user}/disconnect`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectRequest {
    /// Also refuse the user's tokens issued at or before this second (by `iat`), at connect,
    /// `refresh` and REST, until the app issues new ones.
    #[serde(default)]
    pub revoke_tokens: bool,
}

/// Every socket of `user` on every node closes with 4001. With `revoke_tokens` the
/// revocation is stored before the sockets are told, so a client that reconnects at once
/// with its old token is refused wherever it lands.
#[utoipa::path(post, path = "/v1/users/{user}/disconnect", params(("user" = String, Path)),
    request_body = DisconnectRequest,
    responses((status = 204), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 503, body = ProblemBody)))]
pub(crate) async fn disconnect(
    State(state): State<ApiState>,
    caller: Authed,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<DisconnectRequest>,
) -> Result<StatusCode, Problem> {
    caller.service()?;
    check_user_id(&user).map_err(|e| Problem::invalid_field("user", e.to_string()))?;
    let revoked_before = if body.revoke_tokens {
        let before = now_micros() / 1_000_000;
        let keep = state.verifier.revocation_lifetime();
        state
            .backplane
            .revocations
            .revoke(&user, before, keep)
            .await?;
        state.verifier.revoked().note(&user, before);
        Some(before)
    } else {
        None
    };
    state
        .backplane
        .bus
        .broadcast(NodeMessage::Disconnect {
            user,
            revoked_before,
        })
        .await?;
    metrics::counter!("pushgate_disconnects_total", "revoke" => if body.revoke_tokens { "true" } else { "false" })
        .increment(1);
    Ok(StatusCode::NO_CONTENT)
}
