//! `GET /v1/feed`: page the merged feed back in time, or catch up after a cursor.

use axum::Json;
use axum::extract::State;
use pushgate_protocol::{Cursor, FeedItem};
use serde::{Deserialize, Serialize};

use super::{ApiState, Authed, Params, Problem, ProblemBody};

/// Largest page.
const MAX_LIMIT: usize = 500;

/// Query of `GET /v1/feed`: either `since`, or `before` (optional) with `limit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FeedQuery {
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<usize>,
    /// Cursor from a previous page's `next`: return older items.
    #[param(value_type = Option<String>)]
    pub before: Option<Cursor>,
    /// Cursor the client holds: return what came after it, oldest first.
    #[param(value_type = Option<String>)]
    pub since: Option<Cursor>,
}

/// A feed item with the cursor after it (set when catching up with `since`): `type` `post`
/// (`id`, `author`, `ts`; a friends-only post also has `audience: "friends"`) or `notify`
/// (`id`, `kind`, `data`, `ts`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedItemView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub item: FeedItem,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
}

/// Answer of `GET /v1/feed`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub items: Vec<FeedItemView>,
    /// With `before`/no cursor: pass as `before` for older items; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next: Option<Cursor>,
    /// With `since`: the cursor after the last item; store it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cursor: Option<Cursor>,
    /// With `since`: false when the feed no longer holds everything after the cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    /// With `since`: true when more items follow; call again with `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more: Option<bool>,
}

#[utoipa::path(get, path = "/v1/feed", params(FeedQuery),
    responses((status = 200, body = FeedPage), (status = 400, body = ProblemBody)))]
pub(crate) async fn feed(
    State(state): State<ApiState>,
    caller: Authed,
    Params(query): Params<FeedQuery>,
) -> Result<Json<FeedPage>, Problem> {
    let user = caller.user()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::invalid_field(
            "limit",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    if let Some(since) = query.since {
        if query.before.is_some() {
            return Err(Problem::invalid_field(
                "before",
                "use either since or before",
            ));
        }
        let (head, caught) = tokio::try_join!(
            state.timeline.head(user),
            state.timeline.since(user, since, limit)
        )?;
        // As a resume over the socket does: a cursor from the future means the store was
        // reset (or the cursor made up), so answer from the start and say it is incomplete.
        let caught = if since.is_beyond(head) {
            let mut from_start = state.timeline.since(user, Cursor::default(), limit).await?;
            from_start.complete = false;
            from_start
        } else {
            caught
        };
        return Ok(Json(FeedPage {
            items: caught
                .items
                .into_iter()
                .map(|i| FeedItemView {
                    item: i.item,
                    cursor: Some(i.cursor),
                })
                .collect(),
            next: None,
            cursor: Some(caught.cursor),
            complete: Some(caught.complete),
            more: Some(caught.more),
        }));
    }
    let page = state.timeline.before(user, query.before, limit).await?;
    Ok(Json(FeedPage {
        items: page
            .items
            .into_iter()
            .map(|item| FeedItemView { item, cursor: None })
            .collect(),
        next: page.next,
        cursor: None,
        complete: None,
        more: None,
    }))
}
