//! The W3C trace context a post carries from the API through workers to gateways.

use serde::{Deserialize, Serialize};

/// A W3C `traceparent` value (`00-<trace id>-<parent span id>-<flags>`), carried with a fan-out
/// event and each node batch it becomes, so one post is one trace across processes.
///
/// Opaque here (the protocol does no I/O and knows no tracer): the fan-out crate writes it
/// from the sending span and reads it into the receiving one, and a value it cannot parse
/// starts no span. Present only on sampled posts, so untraced traffic carries nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TraceParent(String);

impl TraceParent {
    /// Wrap a `traceparent` header value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
