//! `GET /v1/sse`: a Server-Sent Events stream for clients that cannot open a WebSocket.
//! Admitted as `/v1/ws` is (same checks, same refusals, same per-user limit), then served by
//! the same connection loop over an [`EventStream`]; `Last-Event-ID` resumes as `?after=`.
//!
//! Requests reach it as upgrades do: most through the early path ([`open_early`]), which
//! writes the response head itself and leaves the stream on the bare `TcpStream`, as small
//! as a WebSocket; the rest through hyper and axum ([`events`]), where the stream is the
//! response body and costs hyper's connection state besides.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use pushgate_fanout::http::{Problem, RequestHeaders, visible_ascii};
use pushgate_protocol::Cursor;
use tokio::io::{AsyncRead, DuplexStream, ReadBuf};
use tokio::net::TcpStream;

use crate::event_stream::EventStream;
use crate::gateway::Gateway;
use crate::upgrade::{Admission, EarlyUpgrade, UpgradeQuery, admit, decide_early, refuse};
use crate::upgrade_request::UpgradeRequest;

/// The route.
pub const SSE_PATH: &str = "/v1/sse";
/// The header an `EventSource` resumes with: the `id` of the last event it received.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Tells Nginx (and proxies that follow it) not to buffer the stream.
const ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
/// The pipe between a stream served through hyper and its response body: one batch of events
/// at a time, the rest waits in the connection's own buffer.
const PIPE_BYTES: usize = 4096;
/// The early path's response head, the headers [`events`] sets; the body ends when the
/// connection closes (HTTP/1.1 allows that without a length or chunking).
const RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
cache-control: no-cache\r\nx-accel-buffering: no\r\nconnection: close\r\n\r\n";
/// Where the early head's CORS headers go: before the blank line that ends it.
const HEAD_END: usize = RESPONSE_HEAD.len() - 2;

/// Open an event stream, or refuse the request with a problem response.
pub async fn events(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<UpgradeQuery>,
    headers: HeaderMap,
) -> Response {
    // As for `/v1/ws`: a key the JWKS may have gained is fetched first, so `admit` never waits.
    let token = query.token(&headers);
    if let Some(token) = token {
        gateway.verifier.fetch_keys_for(token).await;
    }
    let admission = match check(&gateway, peer, &query, token, &headers) {
        Ok(admission) => admission,
        Err(problem) => return refuse(problem),
    };
    let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
    admission.start(gateway.clone(), EventStream::new(ours, Vec::new()));
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ACCEL_BUFFERING, HeaderValue::from_static("no")),
    ];
    (headers, body_of(theirs)).into_response()
}

/// Open a stream the early path read off `tcp`, answering on the socket itself: the head
/// waits in the stream's buffer and leaves with `welcome`. What the client sent after its
/// head is dropped: an event stream takes no input.
pub fn open_early(
    gateway: &Arc<Gateway>,
    tcp: TcpStream,
    peer: SocketAddr,
    request: &UpgradeRequest<'_>,
) -> EarlyUpgrade {
    decide_early(gateway, tcp, request, |tcp, query, token| {
        match check(gateway, peer, query, token, &request.headers) {
            Ok(admission) => {
                let head = early_head(gateway, request.headers.value_of("origin"));
                admission.start(gateway.clone(), EventStream::new(tcp, head));
                EarlyUpgrade::Upgraded
            }
            Err(problem) => EarlyUpgrade::Refused(tcp, refuse(problem)),
        }
    })
}

/// The early path's response head for a request from `origin`, with the CORS headers the
/// router's layer gives [`events`]: a page may read the stream only if they allow its origin
/// (`admit` has refused the origins that may not).
fn early_head(gateway: &Gateway, origin: Option<&[u8]>) -> Vec<u8> {
    let origins = &gateway.config.allowed_origins;
    let Some(allowed) = origin.and_then(|origin| origins.allow_origin_value(origin)) else {
        return RESPONSE_HEAD.to_vec();
    };
    let mut head = Vec::with_capacity(RESPONSE_HEAD.len() + allowed.len() + 64);
    head.extend_from_slice(&RESPONSE_HEAD[..HEAD_END]);
    head.extend_from_slice(b"access-control-allow-origin: ");
    head.extend_from_slice(allowed);
    // The answer names the origin, so caches must keep one per origin.
    head.extend_from_slice(b"\r\nvary: origin\r\n\r\n");
    head
}

/// The response body: what the connection writes into the pipe. It ends when the
/// connection does; hyper dropping it (the client left) ends the connection.
fn body_of(mut pipe: DuplexStream) -> Body {
    Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        let mut chunk = [0u8; PIPE_BYTES];
        let mut buf = ReadBuf::new(&mut chunk);
        match ready!(Pin::new(&mut pipe).poll_read(cx, &mut buf)) {
            Ok(()) if buf.filled().is_empty() => Poll::Ready(None),
            Ok(()) => Poll::Ready(Some(Ok(Bytes::copy_from_slice(buf.filled())))),
            Err(error) => Poll::Ready(Some(Err(error))),
        }
    }))
}

/// The checks of `/v1/ws` but the WebSocket handshake, with `Last-Event-ID` taking the place
/// of `?after=`: an `EventSource` reconnects to the URL it was given, `?after=` included, and
/// the header holds where it really got to. `token` is [`UpgradeQuery::token`]'s answer.
fn check<H: RequestHeaders + ?Sized>(
    gateway: &Gateway,
    peer: SocketAddr,
    query: &UpgradeQuery,
    token: Option<&str>,
    headers: &H,
) -> Result<Admission, Problem> {
    // Bound here: what the header lookup returns borrows the name too.
    let name = LAST_EVENT_ID;
    let mut after = query.after.as_deref();
    if let Some(last) = headers.value_of(name.as_str()) {
        let text = visible_ascii(last).unwrap_or("\0").trim();
        if !text.is_empty() {
            text.parse::<Cursor>()
                .map_err(|e| Problem::invalid_field("Last-Event-ID", e.to_string()))?;
            after = Some(text);
        }
    }
    let client = gateway.config.trusted_proxies.client_ip(peer.ip(), headers);
    admit(gateway, client, token, after, headers)
}
