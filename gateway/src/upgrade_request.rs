//! A `GET /v1/ws` (or `GET /v1/sse`) request head parsed straight off a new socket, for the
//! early upgrade path.
//!
//! `httparse` (the parser hyper itself uses, with hyper's default settings) does the parsing;
//! this module only decides which requests the early path may take. It takes the plain
//! case, a whole HTTP/1.1 `GET /v1/ws` head without a body, and leaves anything else (other
//! routes, bodies, `Expect`, heads split over several reads, more than [`MAX_HEADERS`]
//! headers, anything hyper would refuse) to hyper, which serves it exactly as before.

use pushgate_fanout::http::{RequestHeaders, equals_lowercase};

use crate::sse::SSE_PATH;

/// The path the early path answers; everything else is hyper's.
pub const UPGRADE_PATH: &str = "/v1/ws";
/// Headers the early path parses; a request with more goes to hyper (which allows 100).
pub const MAX_HEADERS: usize = 32;

/// Room for a head's headers, on the caller's stack.
pub type HeaderSlots<'b> = [httparse::Header<'b>; MAX_HEADERS];

/// Bytes a request target may hold for the early path: those `http::Uri` keeps as they are
/// in a path and a query (RFC 3986's unreserved and sub-delimiter characters, `:`, `@`, `/`,
/// `?` and `%`). A target with any other byte (a fragment's `#`, a quote, a brace, UTF-8) is
/// hyper's, which reads it exactly as before.
const PLAIN_TARGET: [bool; 256] = {
    let mut plain = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        plain[byte] = matches!(byte as u8,
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9'
            | b'-' | b'.' | b'_' | b'~'
            | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            | b':' | b'@' | b'/' | b'?' | b'%');
        byte += 1;
    }
    plain
};

/// A complete upgrade request head, borrowing the bytes it was read from.
#[derive(Debug)]
pub struct UpgradeRequest<'b> {
    /// The target's path: [`UPGRADE_PATH`] or [`SSE_PATH`].
    pub path: &'b str,
    /// The target's query (`access_token`, `after`), if it has one.
    pub query: Option<&'b str>,
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
        let (path, query) = origin_form(request.path?)?;
        if path != UPGRADE_PATH && path != SSE_PATH {
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
            path,
            query,
            headers: ParsedHeaders(headers),
            head_len,
        })
    }
}

/// `target` as its path and query, if it is in origin form (`/path?query`) and holds only
/// [`PLAIN_TARGET`] bytes, so that hyper and axum would read it the same. Read in place: an
/// `http::Uri` copied every connect's target into an allocation of its own and scanned it again.
fn origin_form(target: &str) -> Option<(&str, Option<&str>)> {
    let plain = target
        .bytes()
        .fold(true, |plain, b| plain & PLAIN_TARGET[usize::from(b)]);
    if !plain || !target.starts_with('/') {
        return None;
    }
    Some(match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    })
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
        assert_eq!(request.path, "/v1/ws");
        assert_eq!(request.query, Some("access_token=t"));
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
        assert_eq!(request.path, "/v1/sse");
        assert_eq!(
            request.headers.value_of("last-event-id"),
            Some(b"3:0".as_slice())
        );
        assert!(!takes(&head.replace("/v1/sse", "/v1/sse/")));
    }

    #[test]
    fn targets_other_than_plain_origin_form_are_left_to_hyper() {
        let with = |from: &str, to: &str| takes(&HEAD.replace(from, to));
        assert!(!with("/v1/ws?", "http://h/v1/ws?"), "absolute form");
        assert!(!with("access_token=t", "access_token=t#f"), "a fragment");
        assert!(!with("access_token=t", "access_token=\"t\""), "a quote");
        assert!(with("access_token=t", "access_token=a.b-c_d~e%2F"));
        assert!(with("?access_token=t", ""), "no query");
    }

    /// What the early path reads of a target is what `http::Uri` (hyper's reading) gives.
    #[test]
    fn plain_targets_read_as_http_uri_reads_them() {
        for byte in 0..=u8::MAX {
            let target = format!("/v1/ws?a={}b", char::from(byte));
            let ours = origin_form(&target);
            let theirs = axum::http::Uri::try_from(target.as_str()).ok();
            if let Some((path, query)) = ours {
                let uri = theirs.expect("a target the early path takes is a URI");
                assert_eq!((path, query), (uri.path(), uri.query()), "{byte:#x}");
            }
            if PLAIN_TARGET[usize::from(byte)] {
                assert!(ours.is_some(), "{byte:#x}");
            }
        }
        for target in ["/v1/ws", "/v1/ws?", "/v1/ws??a", "/v1/ws?a=1&b=%20"] {
            let uri = axum::http::Uri::try_from(target).expect("a URI");
            assert_eq!(
                origin_form(target),
                Some((uri.path(), uri.query())),
                "{target}"
            );
        }
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
