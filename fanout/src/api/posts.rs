//! `POST/GET/DELETE /v1/posts`: create, read (visibility enforced) and delete posts.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use pushgate_protocol::{ErrorCode, PostId, check_user_id};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing::field::Empty;

use super::{
    ApiState, Authed, CallerTrace, IdempotencyKey, JsonBody, Params, Problem, ProblemBody,
};
use crate::backplane::{CreateOutcome, NewPost, Post, UserId, Visibility};
use crate::friend_check::FriendCheck;
use crate::token::Caller;
use crate::trace;

/// Longest post body, in characters.
pub const MAX_CONTENT_CHARS: usize = 10_000;
/// Most IDs in one batch read.
pub const MAX_BATCH_IDS: usize = 100;

/// Body of `POST /v1/posts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePost {
    /// The text, 1 to 10,000 characters.
    pub content: String,
    /// Optional attachment link.
    #[serde(default)]
    pub media_url: Option<String>,
    /// Who may read it (default `public`).
    #[serde(default = "public")]
    pub visibility: Visibility,
    /// Author to post as; only with the service key (a user token always posts as its user).
    #[serde(default)]
    pub author: Option<String>,
}

fn public() -> Visibility {
    Visibility::Public
}

/// Query of `GET /v1/posts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BatchQuery {
    /// Comma-separated post IDs, at most 100.
    pub ids: String,
}

/// Answer of `GET /v1/posts?ids=`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostBatch {
    /// The posts that exist and are visible to the caller, in the order asked.
    pub posts: Vec<Post>,
}

#[utoipa::path(post, path = "/v1/posts", request_body = CreatePost,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retry return the same post"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context; from the service key, the post's trace continues it")),
    responses((status = 201, body = Post), (status = 200, description = "idempotent replay", body = Post),
        (status = 400, body = ProblemBody), (status = 401, body = ProblemBody), (status = 409, body = ProblemBody),
        (status = 503, body = ProblemBody)))]
pub(crate) async fn create(
    State(state): State<ApiState>,
    caller: Authed,
    IdempotencyKey(key): IdempotencyKey,
    caller_trace: CallerTrace,
    JsonBody(body): JsonBody<CreatePost>,
) -> Result<impl IntoResponse, Problem> {
    let author = match (&caller.0, body.author) {
        (Caller::User(claims), None) => claims.sub.clone(),
        (Caller::User(claims), Some(author)) if author == claims.sub => author,
        (Caller::User(_), Some(_)) => {
            return Err(Problem::invalid_field(
                "author",
                "only the service key may post as another user",
            ));
        }
        (Caller::Service, Some(author)) if check_user_id(&author).is_ok() => author,
        (Caller::Service, _) => {
            return Err(Problem::invalid_field(
                "author",
                "the service key must name a valid author",
            ));
        }
    };
    let chars = body.content.chars().count();
    if chars == 0 || chars > MAX_CONTENT_CHARS {
        return Err(Problem::invalid_field(
            "content",
            format!("content must be 1 to {MAX_CONTENT_CHARS} characters"),
        ));
    }
    if body.media_url.as_ref().is_some_and(|url| url.len() > 2048) {
        return Err(Problem::invalid_field(
            "media_url",
            "media_url must be at most 2048 bytes",
        ));
    }
    let new = NewPost {
        author,
        content: body.content,
        media_url: body.media_url,
        visibility: body.visibility,
    };
    // The request's span: the store appends the fan-out event inside it, which carries it on.
    let parent = caller_trace.for_caller(&caller.0);
    let span = trace::request(parent.as_ref(), || {
        tracing::info_span!(target: trace::TARGET, "POST /v1/posts",
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/v1/posts",
            http.response.status_code = Empty,
            pushgate.item.kind = "post",
            pushgate.item.id = Empty,
        )
    });
    let created = state
        .backplane
        .posts
        .create(new, key.as_deref())
        .instrument(span.clone())
        .await?;
    let (status, post) = match created {
        CreateOutcome::Created(post) => {
            metrics::counter!("pushgate_posts_created_total").increment(1);
            (StatusCode::CREATED, post)
        }
        CreateOutcome::Replayed(post) => (StatusCode::OK, post),
    };
    span.record("pushgate.item.id", trace::int(post.id));
    span.record("http.response.status_code", i64::from(status.as_u16()));
    Ok((status, Json(post)))
}

#[utoipa::path(get, path = "/v1/posts/{id}", params(("id" = u64, Path)),
    responses((status = 200, body = Post), (status = 404, body = ProblemBody)))]
pub(crate) async fn get_one(
    State(state): State<ApiState>,
    caller: Authed,
    Path(id): Path<String>,
) -> Result<Json<Post>, Problem> {
    let id: PostId = id
        .parse()
        .map_err(|_| Problem::invalid_field("id", "post id must be an unsigned integer"))?;
    let visible = visible_posts(&state, &caller.0, &[id]).await?;
    visible.into_iter().next().map(Json).ok_or_else(not_found)
}

#[utoipa::path(get, path = "/v1/posts", params(BatchQuery),
    responses((status = 200, body = PostBatch), (status = 400, body = ProblemBody)))]
pub(crate) async fn get_many(
    State(state): State<ApiState>,
    caller: Authed,
    Params(query): Params<BatchQuery>,
) -> Result<Json<PostBatch>, Problem> {
    let ids = parse_ids(&query.ids)?;
    Ok(Json(PostBatch {
        posts: visible_posts(&state, &caller.0, &ids).await?,
    }))
}

#[utoipa::path(delete, path = "/v1/posts/{id}", params(("id" = u64, Path)),
    responses((status = 204), (status = 404, body = ProblemBody)))]
pub(crate) async fn delete(
    State(state): State<ApiState>,
    caller: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let id: PostId = id
        .parse()
        .map_err(|_| Problem::invalid_field("id", "post id must be an unsigned integer"))?;
    let post = state
        .backplane
        .posts
        .get_many(&[id])
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    match &caller.0 {
        Caller::Service => {}
        Caller::User(claims) if claims.sub == post.author => {}
        // Others learn nothing about the post, not even that it exists.
        Caller::User(_) => return Err(not_found()),
    }
    state.backplane.posts.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn not_found() -> Problem {
    Problem::new(ErrorCode::NotFound, "no such post")
}

fn parse_ids(text: &str) -> Result<Vec<PostId>, Problem> {
    let ids: Vec<PostId> = text
        .split(',')
        .map(|id| id.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            Problem::invalid_field("ids", "ids must be comma-separated unsigned integers")
        })?;
    if ids.is_empty() || ids.len() > MAX_BATCH_IDS {
        return Err(Problem::invalid_field(
            "ids",
            format!("between 1 and {MAX_BATCH_IDS} ids"),
        ));
    }
    Ok(ids)
}

/// The posts among `ids` that `caller` may read.
async fn visible_posts(
    state: &ApiState,
    caller: &Caller,
    ids: &[PostId],
) -> Result<Vec<Post>, Problem> {
    let posts = state.backplane.posts.get_many(ids).await?;
    let Caller::User(claims) = caller else {
        return Ok(posts);
    };
    let reader = &claims.sub;
    let by_others = |visibility| {
        posts
            .iter()
            .filter(move |p| p.visibility == visibility && p.author != *reader)
    };
    // One follow-graph read for the whole batch, and only when a followers-only post by
    // someone else is in it; friends-only posts add one check for all their authors.
    let following: HashSet<UserId> = if by_others(Visibility::Followers).next().is_some() {
        state
            .backplane
            .follows
            .following(reader)
            .await?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    let friends = FriendCheck::ask(
        state.backplane.follows.as_ref(),
        reader,
        by_others(Visibility::Friends)
            .map(|p| p.author.as_str())
            .collect(),
    )
    .await?;
    let visible = posts
        .into_iter()
        .filter(|post| match post.visibility {
            Visibility::Public => true,
            Visibility::Private => post.author == *reader,
            Visibility::Followers => post.author == *reader || following.contains(&post.author),
            Visibility::Friends => friends.allows(&post.author),
        })
        .collect();
    Ok(visible)
}
