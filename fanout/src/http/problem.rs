//! RFC 9457 problem responses built from the one error enum.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pushgate_protocol::ErrorCode;
use serde::Serialize;

use crate::backplane::BackplaneError;

/// An error answer: `application/problem+json` with the code clients switch on.
///
/// Kept small (the code plus two strings) because every handler returns it by value; the
/// wire form, [`ProblemBody`], is derived from the code when the response is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The stable error code; fixes the status too.
    pub code: ErrorCode,
    /// What was wrong, safe to show to the caller.
    pub detail: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

/// The JSON body of a problem response (RFC 9457 plus `code` and `field`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// A URN naming the error code.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, stable summary (the code in words).
    pub title: String,
    /// The HTTP status, repeated for clients that only see the body.
    pub status: u16,
    pub detail: String,
    /// The stable machine code (see PROTOCOL.md).
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    /// A problem with `code` and a caller-safe `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            field: None,
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidField,
            detail: detail.into(),
            field: Some(field.into()),
        }
    }

    /// The wire form.
    pub fn body(&self) -> ProblemBody {
        ProblemBody {
            kind: format!("urn:pushgate:error:{}", self.code.as_str()),
            title: self.code.as_str().replace('_', " "),
            status: self.code.http_status(),
            detail: self.detail.clone(),
            code: self.code.as_str(),
            field: self.field.clone(),
        }
    }
}

impl From<BackplaneError> for Problem {
    fn from(error: BackplaneError) -> Self {
        let code = error.code();
        // The backplane's own message may name hosts or keys: it goes to logs only.
        tracing::warn!(%error, "request failed on the backplane");
        let detail = match code {
            ErrorCode::Conflict => {
                "the request conflicts with an earlier one (idempotency key reused)"
            }
            ErrorCode::Unavailable => "the backplane is unavailable; retry with backoff",
            _ => "internal error",
        };
        Problem::new(code, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body())).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
