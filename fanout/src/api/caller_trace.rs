//! The W3C `traceparent` a backend sends with its request, so a post's trace joins its own.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use pushgate_protocol::TraceParent;

use crate::token::Caller;

/// Longest `traceparent` taken: version 00 is 55 bytes, and later versions may only append
/// (W3C Trace Context, section 3.2.4); anything longer is no trace context we can read.
const MAX_TRACEPARENT: usize = 256;

/// The request's `traceparent` header, if it sent one that could be one. Whether it parses
/// is the propagator's call (`trace::request`): a malformed one starts a trace of our own
/// rather than failing the request, as W3C asks of receivers.
#[derive(Debug, Clone)]
pub struct CallerTrace(Option<TraceParent>);

impl CallerTrace {
    /// The context to continue for `caller`: only a service's. A user's request (a browser,
    /// an app) starts a trace of its own, so the public cannot choose our sampling or stitch
    /// its spans into a backend's trace.
    pub fn for_caller(self, caller: &Caller) -> Option<TraceParent> {
        match caller {
            Caller::Service => self.0,
            Caller::User(_) => None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallerTrace {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get("traceparent")
            .filter(|value| value.len() <= MAX_TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .map(|value| TraceParent::new(value.to_owned()));
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    async fn read(value: &str) -> CallerTrace {
        let request = Request::builder().header("traceparent", value).body(());
        let (mut parts, ()) = request.expect("request").into_parts();
        let Ok(trace) = CallerTrace::from_request_parts(&mut parts, &()).await;
        trace
    }

    #[tokio::test]
    async fn only_a_service_continues_its_trace_and_only_a_plausible_one() {
        let sent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01";
        let service = read(sent).await.for_caller(&Caller::Service);
        assert_eq!(service.as_ref().map(TraceParent::as_str), Some(sent));
        let user = Caller::User(crate::token::Claims {
            sub: "bob".into(),
            exp: u64::MAX,
            iat: None,
        });
        assert_eq!(read(sent).await.for_caller(&user), None);
        let long = format!("{sent}-{}", "f".repeat(MAX_TRACEPARENT));
        assert_eq!(read(&long).await.for_caller(&Caller::Service), None);
    }
}
