//! One checked HTTP call: a transport error or a non-2xx answer becomes a [`LoadtestError`].

use crate::LoadtestError;

/// Send `request`; `what` names it in errors (e.g. `PUT http://.../v1/follows/a1`).
pub async fn send_checked(
    request: reqwest::RequestBuilder,
    what: impl Fn() -> String,
) -> Result<reqwest::Response, LoadtestError> {
    let response = request.send().await.map_err(|source| LoadtestError::Http {
        what: what(),
        source,
    })?;
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Err(LoadtestError::Status {
        what: what(),
        status,
        body: body.chars().take(300).collect(),
    })
}

/// Parse a JSON answer.
pub async fn json_body<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    what: impl Fn() -> String,
) -> Result<T, LoadtestError> {
    response.json().await.map_err(|source| LoadtestError::Http {
        what: what(),
        source,
    })
}
