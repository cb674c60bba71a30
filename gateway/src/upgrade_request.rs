//! A `GET /v1/ws` (or `GET /v1/sse`) request head parsed straight off a new socket, for the
//! early upgrade path.
//!
//! `httparse` (the parser hyper itself uses, with hyper's default settings) does the parsing;
//! this module only decides which requests the early path may take. It takes the plain
//! case, a whole HTTP/1.1 `GET /v1/ws` head without a body, and leaves anything else (other
//! routes, bodies, `Expect`, heads split over several reads, more than [`MAX_HEADERS`]
//! headers, anything hyper would refuse) to hyper, which serves it exactly as before.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};

use crate::sse::SSE_PATH;

/// The path the early path answers; everything else is hyper's.
pub const UPGRADE_PATH: &str = "/v1/ws";
/// Headers the early path parses; a request with more goes to hyper (which allows 100).
pub const MAX_HEADERS: usize = 32;

/// A complete upgrade request head.
#[derive(Debug)]
pub struct UpgradeRequest {
    /// The request target, for the query (`access_token`, `after`).
    pub uri: Uri,
    /// The request headers, as hyper would have parsed them.
    pub headers: HeaderMap,
    /// Length of the head in the bytes read: what follows it is the client's first frames.
    pub head_len: usize,
}

impl UpgradeRequest {
    /// The request at the start of `bytes`, if it is one the early path takes.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut slots);
        let httparse::Status::Complete(head_len) = request.parse(bytes).ok()? else {
            return None;
        };
        if request.method? != "GET" || request.version? != 1 {
            return None;
        }
        // One copy of the head; the target and the header values are views into it, as in
        // hyper, rather than an allocation each.
        let head = Bytes::copy_from_slice(&bytes[..head_len]);
        let view = |part: &[u8]| {
            let start = part.as_ptr() as usize - bytes.as_ptr() as usize;
            head.slice(start..start + part.len())
        };
        let uri = Uri::from_maybe_shared(view(request.path?.as_bytes())).ok()?;
        if uri.path() != UPGRADE_PATH && uri.path() != SSE_PATH {
            return None;
        }
        let mut headers = HeaderMap::with_capacity(request.headers.len());
        for parsed in request.headers.iter() {
            let name = HeaderName::from_bytes(parsed.name.as_bytes()).ok()?;
            // A body, or a client waiting for `100 Continue`: hyper's business.
            if [
                header::CONTENT_LENGTH,
                header::TRANSFER_ENCODING,
                header::EXPECT,
            ]
            .contains(&name)
            {
                return None;
            }
            let value = HeaderValue::from_maybe_shared(view(parsed.value)).ok()?;
            headers.append(name, value);
        }
        Some(Self {
            uri,
            headers,
            head_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "GET /v1/ws?access_token=t HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Key: k\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n";

    #[test]
    fn takes_a_whole_upgrade_head_and_keeps_what_follows() {
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(b"\x81\x80frame");
        let request = UpgradeRequest::parse(&bytes).expect("parses");
        assert_eq!(request.head_len, HEAD.len());
        assert_eq!(request.uri.path(), "/v1/ws");
        assert_eq!(request.uri.query(), Some("access_token=t"));
        assert_eq!(request.headers[header::UPGRADE], "websocket");
        let dups: Vec<_> = request.headers.get_all("x-dup").iter().collect();
        assert_eq!(dups, ["1", "2"]);
    }

    #[test]
    fn leaves_everything_else_to_hyper() {
        let with = |from: &str, to: &str| UpgradeRequest::parse(HEAD.replace(from, to).as_bytes());
        assert!(with("GET /v1/ws", "GET /v1/wss").is_none(), "another path");
        assert!(with("GET /v1/ws", "GET /v1/ws/").is_none(), "another path");
        assert!(with("GET", "POST").is_none(), "another method");
        assert!(with("HTTP/1.1", "HTTP/1.0").is_none(), "HTTP/1.0");
        assert!(with("Host: h", "Content-Length: 0").is_none(), "a body");
        assert!(with("Host: h", "Transfer-Encoding: chunked").is_none());
        assert!(with("Host: h", "Expect: 100-continue").is_none());
        assert!(with("Host: h", "Bad Header: x").is_none(), "not HTTP");
        assert!(UpgradeRequest::parse(&HEAD.as_bytes()[..HEAD.len() - 2]).is_none());
        let many: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert!(with("Host: h\r\n", &many).is_none(), "too many headers");
    }

    #[test]
    fn takes_an_event_stream_request_too() {
        let head = "GET /v1/sse?access_token=t HTTP/1.1\r\nHost: h\r\nLast-Event-ID: 3:0\r\n\r\n";
        let request = UpgradeRequest::parse(head.as_bytes()).expect("parses");
        assert_eq!(request.uri.path(), "/v1/sse");
        assert_eq!(request.headers["last-event-id"], "3:0");
        assert!(UpgradeRequest::parse(head.replace("/v1/sse", "/v1/sse/").as_bytes()).is_none());
    }

    #[test]
    fn an_absolute_target_routes_by_its_path_as_in_axum() {
        let request = UpgradeRequest::parse(HEAD.replace("/v1/ws?", "http://h/v1/ws?").as_bytes())
            .expect("parses");
        assert_eq!(request.uri.path(), "/v1/ws");
    }
}
