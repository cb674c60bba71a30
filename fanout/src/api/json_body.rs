//! A JSON body extractor whose errors are problem responses naming the field at fault.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use pushgate_protocol::ErrorCode;
use serde::de::DeserializeOwned;

use super::Problem;

/// Like `axum::Json`, but a bad body is a 400 problem with `field` set, and an oversized one
/// a 413 problem, instead of axum's plain-text rejections.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::new(ErrorCode::TooLarge, "request body is over the size limit")
                } else {
                    Problem::new(ErrorCode::BadFrame, "request body could not be read")
                }
            })?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(deserializer)
            .map(JsonBody)
            .map_err(|error| {
                let field = error.path().to_string();
                let inner = error.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    Problem::new(
                        ErrorCode::BadFrame,
                        format!("body is not valid JSON: {inner}"),
                    )
                } else if field == "." {
                    // A missing field is reported at the parent; serde names it in the message.
                    Problem::invalid_field(
                        missing_field(&inner.to_string()).unwrap_or_default(),
                        inner.to_string(),
                    )
                } else {
                    Problem::invalid_field(field, inner.to_string())
                }
            })
    }
}

/// The field name in serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}
