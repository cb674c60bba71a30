//! `POST /v1/notify`: a backend service sends a personal notification to users.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use pushgate_protocol::check_user_id;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::{ApiState, Authed, CallerTrace, IdempotencyKey, JsonBody, Problem, ProblemBody};
use crate::backplane::{AppendOutcome, Idempotency, NotifyEvent};
use crate::clock::now_micros;
use crate::trace;

/// Most recipients of one notification.
pub const MAX_RECIPIENTS: usize = 1000;
/// Largest `data`, serialized, so pushes stay small.
pub const MAX_DATA_BYTES: usize = 16 * 1024;

/// Body of `POST /v1/notify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// Recipients, 1 to 1000 user IDs.
    pub users: Vec<String>,
    /// Category, 1 to 64 characters.
    pub kind: String,
    /// Payload passed to clients untouched (at most 16 KiB as JSON).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Answer of `POST /v1/notify`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotifyAccepted {
    /// The notification's ID, as clients will see it.
    pub id: u64,
}

#[utoipa::path(post, path = "/v1/notify", request_body = NotifyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes a retry return the same id and deliver once"),
        ("traceparent" = Option<String>, Header, description = "W3C trace context; the notification's trace continues it")),
    responses((status = 202, body = NotifyAccepted), (status = 200, description = "idempotent replay", body = NotifyAccepted),
        (status = 400, body = ProblemBody), (status = 403, body = ProblemBody), (status = 409, body = ProblemBody)))]
pub(crate) async fn notify(
    State(state): State<ApiState>,
    caller: Authed,
    IdempotencyKey(key): IdempotencyKey,
    caller_trace: CallerTrace,
    JsonBody(body): JsonBody<NotifyRequest>,
) -> Result<(StatusCode, Json<NotifyAccepted>), Problem> {
    caller.service()?;
    if body.users.is_empty() || body.users.len() > MAX_RECIPIENTS {
        return Err(Problem::invalid_field(
            "users",
            format!("1 to {MAX_RECIPIENTS} user ids"),
        ));
    }
    for (i, user) in body.users.iter().enumerate() {
        check_user_id(user)
            .map_err(|e| Problem::invalid_field(format!("users[{i}]"), e.to_string()))?;
    }
    if body.kind.is_empty() || body.kind.chars().count() > 64 {
        return Err(Problem::invalid_field(
            "kind",
            "kind must be 1 to 64 characters",
        ));
    }
    if body.data.to_string().len() > MAX_DATA_BYTES {
        return Err(Problem::invalid_field(
            "data",
            format!("data must be at most {MAX_DATA_BYTES} bytes as JSON"),
        ));
    }
    let mut users = body.users;
    users.sort();
    users.dedup();
    // What a retry must repeat: the recipients (as a set), the kind and the data.
    let fingerprint = key.as_ref().map(|_| {
        let request = serde_json::json!([users, body.kind, body.data]);
        format!(
            "{:032x}",
            xxhash_rust::xxh3::xxh3_128(request.to_string().as_bytes())
        )
    });
    let ts = now_micros();
    // Time-based so IDs stay unique across restarts without a shared counter; bumped past
    // the last one so two notifications in the same microsecond still differ.
    let previous = state
        .notify_ids
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(ts.max(last + 1))
        })
        .unwrap_or(ts);
    let id = ts.max(previous + 1);
    let event = NotifyEvent {
        id,
        kind: body.kind,
        data: body.data,
        ts,
        users,
    };
    let idempotency = key.as_deref().zip(fingerprint.as_deref());
    // The request's span: the log appends the event inside it, which carries it on.
    let parent = caller_trace.for_caller(&caller.0);
    let span = trace::request(parent.as_ref(), || {
        tracing::info_span!(target: trace::TARGET, "POST /v1/notify",
            otel.kind = "server",
            http.request.method = "POST",
            http.route = "/v1/notify",
            http.response.status_code = tracing::field::Empty,
            pushgate.item.kind = "notify",
            pushgate.item.id = trace::int(id),
            pushgate.recipients = trace::int(event.users.len()),
        )
    });
    let appended = state
        .backplane
        .events
        .append(
            event,
            idempotency.map(|(key, fingerprint)| Idempotency { key, fingerprint }),
        )
        .instrument(span.clone())
        .await?;
    let (status, id) = match appended {
        AppendOutcome::Appended => {
            metrics::counter!("pushgate_notifications_total").increment(1);
            (StatusCode::ACCEPTED, id)
        }
        AppendOutcome::Replayed { notification } => (StatusCode::OK, notification),
    };
    span.record("http.response.status_code", i64::from(status.as_u16()));
    Ok((status, Json(NotifyAccepted { id })))
}
