//! A `GET /v1/ws` (or `GET /v1/sse`) request head parsed straight off a new socket, for the
//! early upgrade path.
//!
//! `httparse` (the parser hyper itself uses, with hyper's default settings) does the parsing;
//! this module only decides which requests the early path may take. It takes the plain
//! case, a whole HTTP/1.1 `GET /v1/ws` head without a body, and leaves anything else (other
//! routes, bodies, `Expect`, heads split over several reads, more than [`MAX_HEADERS`]
//! headers, anything hyper would refuse) to hyper, which serves it exactly as before.

use axum::body::Bytes;
use axum::http::Uri;
use pushgate_fanout::http::{RequestHeaders, equals_lowercase};

use crate::sse::SSE_PATH;

/// The path the early path answers; everything else is hyper's.
pub const UPGRADE_PATH: &str = "/v1/ws";
/// Headers the early path parses; a request with more goes to hyper (which allows 100).
pub const MAX_HEADERS: usize = 32;

/// Room for a head's headers, on the caller's stack.
pub type HeaderSlots<'b> = [httparse::Header<'b>; MAX_HEADERS];

/// A complete upgrade request head, borrowing the bytes it was read from.
#[derive(Debug)]
pub struct UpgradeRequest<'b> {
    /// The request target, for the query (`access_token`, `after`).
    pub uri: Uri,
    /// The request headers, as httparse found them: read in place rather than copied into a
    /// `HeaderMap` (about 4 us of a connect went to building one).
    pub headers: ParsedHeaders<'b>,
    /// Length of the head in the bytes read: what follows it is the client's first frames.
    pub head_len: usize,
}

/// Headers parsed in place.
#[derive(Debug)]
pub struct ParsedHeaders<'b>(&'b [httparse::Header<'b>]);

impl RequestHeaders for ParsedHeaders<'_> {
    fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |header| equals_lowercase(header.name.as_bytes(), name))
            .map(|header| header.value)
    }
}

impl<'b> UpgradeRequest<'b> {
    /// The request at the start of `bytes`, if it is one the early path takes; its headers
    /// go into `slots`.
    pub fn parse(bytes: &'b [u8], slots: &'b mut HeaderSlots<'b>) -> Option<Self> {
        let mut request = httparse::Request::new(slots);
        let httparse::Status::Complete(head_len) = request.parse(bytes).ok()? else {
            return None;
        };
        if request.method? != "GET" || request.version? != 1 {
            return None;
        }
        let uri = Uri::from_maybe_shared(Bytes::copy_from_slice(request.path?.as_bytes())).ok()?;
        if uri.path() != UPGRADE_PATH && uri.path() != SSE_PATH {
            return None;
        }
        // httparse refuses in a value every byte the `http` crate would (controls but tab,
        // and DEL), so what it parsed is what hyper would take.
        let headers: &'b [httparse::Header<'b>] = request.headers;
        for header in headers {
            // A body, or a client waiting for `100 Continue`: hyper's business.
            let name = header.name;
            if ["content-length", "transfer-encoding", "expect"]
                .iter()
                .any(|refused| equals_lowercase(name.as_bytes(), refused))
            {
                return None;
            }
        }
        Some(Self {
            uri,
            headers: ParsedHeaders(headers),
            head_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the early path takes `head`.
    fn takes(head: &str) -> bool {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        UpgradeRequest::parse(head.as_bytes(), &mut slots).is_some()
    }

    const HEAD: &str = "GET /v1/ws?access_token=t HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Key: k\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n";

    #[test]
    fn takes_a_whole_upgrade_head_and_keeps_what_follows() {
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(b"\x81\x80frame");
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let request = UpgradeRequest::parse(&bytes, &mut slots).expect("parses");
        assert_eq!(request.head_len, HEAD.len());
        assert_eq!(request.uri.path(), "/v1/ws");
        assert_eq!(request.uri.query(), Some("access_token=t"));
        assert_eq!(
            request.headers.value_of("upgrade"),
            Some(b"websocket".as_slice())
        );
        let dups: Vec<_> = request.headers.values_of("x-dup").collect();
        assert_eq!(dups, [b"1".as_slice(), b"2"]);
    }

    #[test]
    fn leaves_everything_else_to_hyper() {
        let with = |from: &str, to: &str| takes(&HEAD.replace(from, to));
        assert!(!with("GET /v1/ws", "GET /v1/wss"), "another path");
        assert!(!with("GET /v1/ws", "GET /v1/ws/"), "another path");
        assert!(!with("GET", "POST"), "another method");
        assert!(!with("HTTP/1.1", "HTTP/1.0"), "HTTP/1.0");
        assert!(!with("Host: h", "Content-Length: 0"), "a body");
        assert!(!with("Host: h", "transfer-encoding: chunked"));
        assert!(!with("Host: h", "Expect: 100-continue"));
        assert!(!with("Host: h", "Bad Header: x"), "not HTTP");
        assert!(!with("Host: h", "X-Del: a\x7Fb"), "a value hyper refuses");
        assert!(!takes(&HEAD[..HEAD.len() - 2]));
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(!with("Host: h\r\n", &many), "too many headers");
        assert!(
            with("Host: h", "X-Obs: caf\u{e9}"),
            "obs-text is a value hyper takes"
        );
    }

    #[test]
    fn takes_a_value_byte_exactly_when_hyper_would() {
        for byte in (0..=u8::MAX).filter(|b| !b"\r\n".contains(b)) {
            let mut head = b"GET /v1/ws HTTP/1.1\r\nX-Byte: a".to_vec();
            head.extend([byte, b'b']);
            head.extend(b"\r\n\r\n");
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let taken = UpgradeRequest::parse(&head, &mut slots).is_some();
            let hyper_takes = axum::http::HeaderValue::from_bytes(&[b'a', byte, b'b']).is_ok();
            assert_eq!(taken, hyper_takes, "byte {byte:#x}");
        }
    }

    #[test]
    fn takes_an_event_stream_request_too() {
        let head = "GET /v1/sse?access_token=t HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 3:0\r\n\r\n";
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let request = UpgradeRequest::parse(head.as_bytes(), &mut slots).expect("parses");
        assert_eq!(request.uri.path(), "/v1/sse");
        assert_eq!(
            request.headers.value_of("last-event-id"),
            Some(b"3:0".as_slice())
        );
        assert!(!takes(&head.replace("/v1/sse", "/v1/sse/")));
    }

    #[test]
    fn an_absolute_target_routes_by_its_path_as_in_axum() {
        let head = HEAD.replace("/v1/ws?", "http://h/v1/ws?");
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let request = UpgradeRequest::parse(head.as_bytes(), &mut slots).expect("parses");
        assert_eq!(request.uri.path(), "/v1/ws");
    }

    #[test]
    fn parsed_headers_read_as_a_header_map_does() {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let request = UpgradeRequest::parse(HEAD.as_bytes(), &mut slots).expect("parses");
        let mut map = axum::http::HeaderMap::new();
        for header in request.headers.0 {
            let name = axum::http::HeaderName::from_bytes(header.name.as_bytes()).expect("name");
            let value = axum::http::HeaderValue::from_bytes(header.value).expect("value");
            map.append(name, value);
        }
        for name in ["host", "x-dup", "connection", "sec-websocket-key", "absent"] {
            let parsed: Vec<_> = request.headers.values_of(name).collect();
            let mapped: Vec<_> = map.values_of(name).collect();
            assert_eq!(parsed, mapped, "{name}");
        }
    }
}
