//! Which browser origins may use this node: its upgrades, event streams and REST calls (CORS).
//!
//! One list serves all three, so an operator names an app's origin once. Upgrades and event
//! streams from an origin not listed are refused (403) before anything else is checked; REST
//! answers carry CORS headers only for listed origins, so a browser keeps a foreign page from
//! reading them (a preflight fails, and the call is never sent). With no list every origin may:
//! credentials are a bearer token the page must hold, never a cookie the browser adds by
//! itself, so letting any page read an answer opens nothing it could not do with that token.
//!
//! Only the public API under `/v1/` takes part. The operations endpoints (`/metrics`,
//! `/readyz`, `/healthz`, `/openapi.json`) and the demo page answer no origin: those need no
//! token, and a page on the internet must not read an internal node's metrics through the
//! browser of someone inside its network.
//!
//! The CORS protocol itself (preflights, `Vary`, which headers to allow) is tower-http's; this
//! file only decides which origins, for it and for the early path's event-stream head.

use std::net::Ipv6Addr;
use std::time::Duration;

use axum::http::{HeaderName, Method, header};
use pushgate_fanout::http::is_visible_ascii;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer: an app's first REST calls after a page
/// load then cost one preflight each, not one per call.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Request headers our REST routes read beyond CORS's safelisted ones; `last-event-id` is the
/// event stream's.
const ALLOWED_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    HeaderName::from_static("idempotency-key"),
    HeaderName::from_static("last-event-id"),
];

/// Response headers a page may read beyond CORS's safelisted ones: how long to back off after
/// a 429 or 503.
const EXPOSED_HEADERS: [HeaderName; 1] = [header::RETRY_AFTER];

/// The paths CORS covers: the public API.
const PUBLIC_PREFIX: &str = "/v1/";

/// The origins browsers may use this node from, as browsers write `Origin`
/// (`https://app.example.com`, `http://localhost:5173`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    /// The listed origins, as configured (compared without regard to case); empty allows
    /// every origin.
    listed: Vec<String>,
}

/// Why an entry is not an origin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not `scheme://host` with an optional `:port`: a path (even `/`), a query, a user or a
    /// space would never equal what a browser sends.
    #[error("{0:?} is not an origin: write scheme://host or scheme://host:port")]
    NotAnOrigin(String),
}

impl AllowedOrigins {
    /// Allow exactly `origins` (none: every origin); empty entries, as a trailing comma
    /// leaves, are skipped. Each must be `scheme://host[:port]`.
    pub fn new<S: AsRef<str>>(origins: impl IntoIterator<Item = S>) -> Result<Self, OriginError> {
        let mut listed = Vec::new();
        for origin in origins {
            let origin = origin.as_ref().trim();
            if origin.is_empty() {
                continue;
            }
            if !is_origin(origin) {
                return Err(OriginError::NotAnOrigin(origin.to_owned()));
            }
            listed.push(origin.to_owned());
        }
        Ok(Self { listed })
    }

    /// Whether a browser page from `origin` (an `Origin` header's value) may use this node.
    /// Scheme and host compare without regard to case, as URLs do.
    pub fn allows(&self, origin: &[u8]) -> bool {
        self.listed.is_empty()
            || self
                .listed
                .iter()
                .any(|listed| listed.as_bytes().eq_ignore_ascii_case(origin))
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`: `origin` itself
    /// when it may read the answer, as tower-http's layer answers, else `None`. Never `*`, so
    /// the answer is the same with a list and without one.
    pub fn allow_origin_value<'a>(&self, origin: &'a [u8]) -> Option<&'a [u8]> {
        // Visible ASCII only: the early path copies it into a response head.
        (is_visible_ascii(origin) && self.allows(origin)).then_some(origin)
    }

    /// The CORS layer for the node's routes (the WebSocket upgrade, which CORS does not
    /// cover, is left out of it): preflights answered, allowed origins' answers under
    /// `/v1/` readable, without credentials.
    pub fn cors_layer(&self) -> CorsLayer {
        let origins = self.clone();
        let allowed = AllowOrigin::predicate(move |origin, request| {
            request.uri.path().starts_with(PUBLIC_PREFIX) && origins.allows(origin.as_bytes())
        });
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(ALLOWED_HEADERS)
            .expose_headers(EXPOSED_HEADERS)
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

/// `scheme://host[:port]`: a scheme as RFC 3986 spells it, a host of letters, digits, `-`
/// and `.` or a bracketed IPv6 address, and an optional port.
fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let (host_ok, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, rest)) => (address.parse::<Ipv6Addr>().is_ok(), rest),
            None => return false,
        },
        None => {
            let end = authority.find(':').unwrap_or(authority.len());
            let host = &authority[..end];
            let name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.');
            (
                !host.is_empty() && host.chars().all(name),
                &authority[end..],
            )
        }
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.len() <= 5 && digits.parse::<u16>().is_ok(),
        None => port.is_empty(),
    };
    scheme_ok && host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://app.example.com",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "capacitor://localhost",
            "HTTPS://App.Example.com",
        ] {
            assert!(AllowedOrigins::new([good]).is_ok(), "{good}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://app.example.com:",
            "https://app.example.com:99999",
            "https://",
            "https://exa mple.com",
            "https://[::1",
            "https://[nonsense]:80",
            "1http://a",
            "*",
            "null",
        ] {
            assert_eq!(
                AllowedOrigins::new([bad]),
                Err(OriginError::NotAnOrigin(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_list_allows_its_origins_and_no_list_allows_every_one() {
        let listed = AllowedOrigins::new(["https://App.example", "", " http://localhost:5173 "])
            .expect("valid");
        assert!(listed.allows(b"https://app.example"));
        assert!(
            listed.allows(b"HTTPS://APP.EXAMPLE"),
            "case does not matter"
        );
        assert!(listed.allows(b"http://localhost:5173"));
        assert!(!listed.allows(b"https://app.example.evil"));
        assert!(!listed.allows(b"http://localhost:5174"));
        assert!(!listed.allows(b"null"));
        let origin = b"https://app.example".as_slice();
        assert_eq!(listed.allow_origin_value(origin), Some(origin));
        let foreign = b"https://evil.example".as_slice();
        assert_eq!(listed.allow_origin_value(foreign), None);

        let any = AllowedOrigins::new(Vec::<String>::new()).expect("valid");
        assert!(any.allows(b"https://evil.example"));
        assert_eq!(any.allow_origin_value(foreign), Some(foreign));
        assert_eq!(any.allow_origin_value(b"https://a\xff"), None, "not echoed");
    }
}
