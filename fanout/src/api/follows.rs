//! `PUT/DELETE /v1/follows/{author}`: the token's user follows or unfollows an author.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use pushgate_protocol::{ErrorCode, check_user_id};

use super::{ApiState, Authed, Problem, ProblemBody};
use crate::backplane::Followed;

fn check(user: &str, author: &str) -> Result<(), Problem> {
    check_user_id(author).map_err(|e| Problem::invalid_field("author", e.to_string()))?;
    if user == author {
        return Err(Problem::invalid_field(
            "author",
            "users cannot follow themselves",
        ));
    }
    Ok(())
}

#[utoipa::path(put, path = "/v1/follows/{author}", params(("author" = String, Path)),
    responses((status = 204), (status = 400, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(crate) async fn follow(
    State(state): State<ApiState>,
    caller: Authed,
    Path(author): Path<String>,
) -> Result<StatusCode, Problem> {
    let user = caller.user()?;
    check(user, &author)?;
    let max = state.max_following.get();
    match state.backplane.follows.follow(user, &author, max).await? {
        Followed::New | Followed::Already => Ok(StatusCode::NO_CONTENT),
        Followed::LimitReached => Err(Problem {
            code: ErrorCode::LimitReached,
            detail: format!("a user may follow at most {max} authors; unfollow one first"),
            field: Some("author".into()),
        }),
    }
}

#[utoipa::path(delete, path = "/v1/follows/{author}", params(("author" = String, Path)),
    responses((status = 204), (status = 400, body = ProblemBody)))]
pub(crate) async fn unfollow(
    State(state): State<ApiState>,
    caller: Authed,
    Path(author): Path<String>,
) -> Result<StatusCode, Problem> {
    let user = caller.user()?;
    check(user, &author)?;
    state.backplane.follows.unfollow(user, &author).await?;
    Ok(StatusCode::NO_CONTENT)
}
