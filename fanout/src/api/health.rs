//! `/healthz`, `/readyz`, `/metrics` and `/openapi.json`: for operators and tooling.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use pushgate_protocol::ErrorCode;
use serde::Serialize;
use utoipa::OpenApi;

use super::{ApiDoc, ApiState, Problem, ProblemBody};

/// Answer of `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Live gateway nodes in the ring.
    pub nodes: usize,
    /// Fan-out events not yet acknowledged.
    pub backlog: u64,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "alive")))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the backplane answers and at least one gateway node is live.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Readiness), (status = 503, body = ProblemBody)))]
pub(crate) async fn readyz(State(state): State<ApiState>) -> Result<Json<Readiness>, Problem> {
    if state.drain.is_draining() {
        return Err(Problem::new(
            ErrorCode::Draining,
            "this process is shutting down",
        ));
    }
    let backlog = state.backplane.events.pending().await?;
    let nodes = state.ring.borrow().nodes().len();
    if nodes == 0 {
        return Err(Problem::new(
            ErrorCode::Unavailable,
            "no gateway node is live",
        ));
    }
    Ok(Json(Readiness {
        ready: true,
        nodes,
        backlog,
    }))
}

/// Prometheus text exposition of every pushgate metric.
pub(crate) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The generated OpenAPI document.
pub(crate) async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}
