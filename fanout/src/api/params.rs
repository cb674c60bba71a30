//! A query-string extractor whose errors are problem responses naming the field.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::Problem;

/// Like `axum::extract::Query`, rejecting with a 400 problem instead of plain text.
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => {
                // axum's message reads "Failed to deserialize query string: <field>: <why>".
                let text = rejection.body_text();
                let detail = text
                    .split_once(": ")
                    .map_or(text.as_str(), |(_, rest)| rest);
                let field = detail
                    .split_once(':')
                    .map_or("query", |(field, _)| field.trim());
                let field = field
                    .strip_prefix("missing field `")
                    .map_or(field, |f| f.trim_end_matches('`'));
                Err(Problem::invalid_field(field, detail))
            }
        }
    }
}
