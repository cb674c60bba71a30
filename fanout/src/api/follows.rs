//! The follow graph over REST: a user follows with its token (`/v1/follows/{author}`); the
//! app's backend, holding the service key, writes anyone's edges, in batches too, and lists
//! them to check a sync (`/v1/users/{user}/...`, `/v1/follows/batch`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use pushgate_protocol::{ErrorCode, check_user_id};
use serde::{Deserialize, Serialize};

use super::{ApiState, Authed, JsonBody, Params, Problem, ProblemBody};
use crate::backplane::{Edge, Followed, UserId};
use crate::token::Caller;

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
    followed(
        max,
        state.backplane.follows.follow(user, &author, max).await?,
    )
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

/// Most edges in one `POST /v1/follows/batch`.
pub const MAX_BATCH_EDGES: usize = 10_000;
/// Body limit of a batch: 10,000 edges of two 128-byte IDs, with JSON around them.
pub const MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default and largest page of `GET /v1/users/{user}/follows` and `/followers`.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The answer to a follow, as every follow route gives it.
fn followed(max: usize, outcome: Followed) -> Result<StatusCode, Problem> {
    match outcome {
        Followed::New | Followed::Already => Ok(StatusCode::NO_CONTENT),
        Followed::LimitReached => Err(limit_reached(max)),
    }
}

fn limit_reached(max: usize) -> Problem {
    Problem {
        code: ErrorCode::LimitReached,
        detail: format!("a user may follow at most {max} authors; unfollow one first"),
        field: Some("author".into()),
    }
}

/// `user` of a `/v1/users/{user}/...` path, checked.
fn path_user(user: &str) -> Result<(), Problem> {
    check_user_id(user).map_err(|e| Problem::invalid_field("user", e.to_string()))
}

#[utoipa::path(put, path = "/v1/users/{user}/follows/{author}",
    params(("user" = String, Path), ("author" = String, Path)),
    responses((status = 204), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody),
        (status = 409, body = ProblemBody)))]
pub(crate) async fn follow_for(
    State(state): State<ApiState>,
    caller: Authed,
    Path((user, author)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    caller.service()?;
    path_user(&user)?;
    check(&user, &author)?;
    let max = state.max_following.get();
    followed(
        max,
        state.backplane.follows.follow(&user, &author, max).await?,
    )
}

#[utoipa::path(delete, path = "/v1/users/{user}/follows/{author}",
    params(("user" = String, Path), ("author" = String, Path)),
    responses((status = 204), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody)))]
pub(crate) async fn unfollow_for(
    State(state): State<ApiState>,
    caller: Authed,
    Path((user, author)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    caller.service()?;
    path_user(&user)?;
    check(&user, &author)?;
    state.backplane.follows.unfollow(&user, &author).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/follows/batch`: `[user, author]` pairs.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowBatch {
    /// Edges to add.
    #[serde(default)]
    pub follow: Vec<(String, String)>,
    /// Edges to remove (after the follows).
    #[serde(default)]
    pub unfollow: Vec<(String, String)>,
}

/// Answer of `POST /v1/follows/batch`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FollowBatchResult {
    /// Follows that were new.
    pub followed: usize,
    /// Follows that were there already.
    pub already: usize,
    /// Unfollows of edges that existed.
    pub unfollowed: usize,
    /// Follow edges refused because the user follows the most authors allowed.
    pub limit_reached: Vec<(String, String)>,
}

/// The edges of one list, checked; errors name the list, the index and the side.
fn edges(list: &'static str, pairs: Vec<(String, String)>) -> Result<Vec<Edge>, Problem> {
    pairs
        .into_iter()
        .enumerate()
        .map(|(i, (user, author))| {
            check_user_id(&user)
                .map_err(|e| Problem::invalid_field(format!("{list}[{i}][0]"), e.to_string()))?;
            check_user_id(&author)
                .map_err(|e| Problem::invalid_field(format!("{list}[{i}][1]"), e.to_string()))?;
            if user == author {
                return Err(Problem::invalid_field(
                    format!("{list}[{i}]"),
                    "users cannot follow themselves",
                ));
            }
            Ok(Edge { user, author })
        })
        .collect()
}

/// The backend syncs its own graph: up to 10,000 edges per call, idempotent (a retried batch
/// converges), a few store round trips whatever its size. Served on `POST /v1/follows/{author}`
/// with `author` = `batch`, so a user named "batch" can still be followed with `PUT`.
#[utoipa::path(post, path = "/v1/follows/batch", request_body = FollowBatch,
    responses((status = 200, body = FollowBatchResult), (status = 400, body = ProblemBody),
        (status = 403, body = ProblemBody), (status = 413, body = ProblemBody)))]
pub(crate) async fn batch(
    State(state): State<ApiState>,
    caller: Authed,
    Path(segment): Path<String>,
    JsonBody(body): JsonBody<FollowBatch>,
) -> Result<Json<FollowBatchResult>, Problem> {
    if segment != "batch" {
        return Err(Problem::new(
            ErrorCode::NotFound,
            "POST is only for /v1/follows/batch; follow with PUT",
        ));
    }
    caller.service()?;
    let total = body.follow.len() + body.unfollow.len();
    if total == 0 || total > MAX_BATCH_EDGES {
        return Err(Problem::invalid_field(
            "follow",
            format!("1 to {MAX_BATCH_EDGES} edges in follow and unfollow together"),
        ));
    }
    let follow = edges("follow", body.follow)?;
    let unfollow = edges("unfollow", body.unfollow)?;
    let max = state.max_following.get();
    let outcome = state
        .backplane
        .follows
        .apply(&follow, &unfollow, max)
        .await?;
    let count = |wanted: Followed| outcome.followed.iter().filter(|f| **f == wanted).count();
    Ok(Json(FollowBatchResult {
        followed: count(Followed::New),
        already: count(Followed::Already),
        unfollowed: outcome.unfollowed.iter().filter(|was| **was).count(),
        limit_reached: follow
            .into_iter()
            .zip(&outcome.followed)
            .filter(|(_, f)| **f == Followed::LimitReached)
            .map(|(edge, _)| (edge.user, edge.author))
            .collect(),
    }))
}

/// Query of the follow-list pages.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// Start after this user ID (the `next` of the previous page).
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// One page of user IDs, in byte order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<UserId>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<UserId>,
}

/// The caller may list `user`'s graph: the service key, or the user itself.
fn may_list(caller: &Authed, user: &str) -> Result<(), Problem> {
    match &caller.0 {
        Caller::Service => Ok(()),
        Caller::User(claims) if claims.sub == user => Ok(()),
        Caller::User(_) => Err(Problem::new(
            ErrorCode::Forbidden,
            "only the service key or the user itself lists a user's follows",
        )),
    }
}

fn page_size(query: &PageQuery) -> Result<usize, Problem> {
    match query.limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(Problem::invalid_field("limit", format!("1 to {MAX_PAGE}"))),
    }
}

#[utoipa::path(get, path = "/v1/users/{user}/follows", params(("user" = String, Path), PageQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody)))]
pub(crate) async fn list_following(
    State(state): State<ApiState>,
    caller: Authed,
    Path(user): Path<String>,
    Params(query): Params<PageQuery>,
) -> Result<Json<UserPage>, Problem> {
    path_user(&user)?;
    may_list(&caller, &user)?;
    let limit = page_size(&query)?;
    // A follow list is bounded by the follow limit, so it is read whole and paged here.
    let mut all = state.backplane.follows.following(&user).await?;
    all.sort_unstable();
    let start = query
        .after
        .as_ref()
        .map_or(0, |after| all.partition_point(|u| u <= after));
    let rest = &all[start..];
    let users = rest[..rest.len().min(limit)].to_vec();
    let next = (rest.len() > limit)
        .then(|| users.last().cloned())
        .flatten();
    Ok(Json(UserPage { users, next }))
}

#[utoipa::path(get, path = "/v1/users/{user}/followers", params(("user" = String, Path), PageQuery),
    responses((status = 200, body = UserPage), (status = 400, body = ProblemBody), (status = 403, body = ProblemBody)))]
pub(crate) async fn list_followers(
    State(state): State<ApiState>,
    caller: Authed,
    Path(user): Path<String>,
    Params(query): Params<PageQuery>,
) -> Result<Json<UserPage>, Problem> {
    path_user(&user)?;
    may_list(&caller, &user)?;
    let limit = page_size(&query)?;
    let page = state
        .backplane
        .follows
        .followers(&user, query.after.as_deref(), limit)
        .await?;
    Ok(Json(UserPage {
        users: page.users,
        next: page.next,
    }))
}
