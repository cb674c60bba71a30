//! `GET /v1/ws`: checks origin, rate, token, subprotocol and per-user limit; hands the socket over.
//!
//! Requests reach it two ways. Most come through the early path (`http_server` reads the
//! head off a new socket and calls [`upgrade_early`]), which answers `101` in the same write
//! as `welcome`; the rest through hyper and axum ([`upgrade`]). Both run the same checks.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::Version;
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use pushgate_fanout::http::{Problem, RequestHeaders, bearer, unauthorized};
use pushgate_protocol::{Codec, Cursor, ErrorCode, check_user_id};
use serde::Deserialize;
use tokio::net::TcpStream;
use tracing::Instrument;

use crate::connection::{Connection, Identity};
use crate::gateway::Gateway;
use crate::http_server::UpgradedIo;
use crate::registry::Registration;
use crate::transport::Transport;
use crate::upgrade_request::UpgradeRequest;
use crate::websocket::WebSocket;
use crate::websocket::handshake::Handshake;
use crate::websocket_transport::WebSocketTransport;

/// Subprotocols we speak, preferred first.
const SUBPROTOCOLS: [&str; 2] = [Codec::MSGPACK_SUBPROTOCOL, Codec::JSON_SUBPROTOCOL];
/// Room for the `101` answer and `welcome` in the early path's first write.
const FIRST_WRITE_CAPACITY: usize = 512;

/// Query parameters of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct UpgradeQuery {
    /// Token for browsers, which cannot set headers on WebSocket requests.
    access_token: Option<String>,
    /// Resume position: replay what came after it before any live push.
    pub(crate) after: Option<String>,
}

impl UpgradeQuery {
    /// The request's token: the `Authorization` header, else `?access_token=`.
    pub(crate) fn token<'a, H: RequestHeaders + ?Sized>(
        &'a self,
        headers: &'a H,
    ) -> Option<&'a str> {
        bearer(headers).or(self.access_token.as_deref())
    }
}

/// An upgrade request that passed every check.
#[derive(Debug)]
struct Admitted {
    /// The WebSocket handshake's answer.
    handshake: Handshake,
    /// The connection it admits.
    admission: Admission,
}

/// A connection (WebSocket or event stream) that passed every check, holding its place among
/// the user's connections.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Who connects.
    identity: Identity,
    /// `?after=` (or an event stream's `Last-Event-ID`), replayed before any live push.
    resume_from: Option<Cursor>,
    /// Taken at admission rather than when the socket arrives, so connections in flight count
    /// against the per-user limit.
    registration: Registration,
    /// The peer address, or the one a trusted proxy forwarded, for logs.
    client: IpAddr,
}

impl Admission {
    /// Run the connection over `transport` in a task of its own: a task's future keeps every
    /// captured value for its whole life, and every idle socket would pay for the handshake's.
    pub(crate) fn start<T: Transport + 'static>(self, gateway: Arc<Gateway>, transport: T) {
        let span = self.identity.span(&gateway.node_id, self.client);
        let drain = gateway.drain.clone();
        drain.spawn(
            Connection::new(transport, gateway, self.identity, self.registration)
                .run(self.resume_from)
                .instrument(span),
        );
    }

    /// Give the connection's place back (its socket never arrived).
    fn release(&self, gateway: &Gateway) {
        gateway.unregister(&self.identity.user, self.registration.id);
    }
}

/// Upgrade a request to a pushgate connection, or refuse it with a problem response.
pub async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<UpgradeQuery>,
    mut request: Request,
) -> Response {
    // The one await of the checks: a token naming a key the JWKS may have gained since its
    // last fetch gets that fetch first, so `admit` itself never waits.
    let token = query.token(request.headers());
    if let Some(token) = token {
        gateway.verifier.fetch_keys_for(token).await;
    }
    match check(
        &gateway,
        peer,
        &query,
        token,
        request.version(),
        request.headers(),
    ) {
        Ok(admitted) => {
            let on_upgrade = hyper::upgrade::on(&mut request);
            accept(gateway, admitted, on_upgrade)
        }
        Err(problem) => refuse(problem),
    }
}

/// What became of a request the early path read.
#[derive(Debug)]
pub enum EarlyUpgrade {
    /// The connection runs.
    Upgraded,
    /// Refused: hyper must send this answer (the one [`upgrade`] would give) on the socket.
    Refused(TcpStream, Response),
    /// Not decided here (see [`decide_early`]). Hyper serves the request through [`upgrade`].
    Deferred(TcpStream),
}

/// Decide a request the early path read off `tcp` with `decide`, given its query and token,
/// unless hyper must serve it (`Deferred`): when axum's `Query` refuses the query (read here
/// by the same deserializer, on the same text), so that axum answers it, or when the token
/// names a key that may have to be fetched first. Shared by WebSockets and event streams.
pub(crate) fn decide_early(
    gateway: &Gateway,
    tcp: TcpStream,
    request: &UpgradeRequest<'_>,
    decide: impl FnOnce(TcpStream, &UpgradeQuery, Option<&str>) -> EarlyUpgrade,
) -> EarlyUpgrade {
    let Ok(query) = serde_urlencoded::from_str::<UpgradeQuery>(request.query.unwrap_or_default())
    else {
        return EarlyUpgrade::Deferred(tcp);
    };
    let token = query.token(&request.headers);
    if token.is_some_and(|token| gateway.verifier.would_fetch_keys_for(token)) {
        return EarlyUpgrade::Deferred(tcp);
    }
    decide(tcp, &query, token)
}

/// Upgrade a request the early path read off `tcp`; `after_head` holds what the client sent
/// behind the head. The `101` waits in the socket's write buffer and leaves with `welcome`,
/// one write instead of two.
pub fn upgrade_early(
    gateway: &Arc<Gateway>,
    tcp: TcpStream,
    peer: SocketAddr,
    request: &UpgradeRequest<'_>,
    after_head: &[u8],
) -> EarlyUpgrade {
    decide_early(gateway, tcp, request, |tcp, query, token| {
        let admitted = match check(
            gateway,
            peer,
            query,
            token,
            Version::HTTP_11,
            &request.headers,
        ) {
            Ok(admitted) => admitted,
            Err(problem) => return EarlyUpgrade::Refused(tcp, refuse(problem)),
        };
        let mut socket = WebSocket::new(tcp, after_head, gateway.config.max_frame_bytes);
        let mut first_write = Vec::with_capacity(FIRST_WRITE_CAPACITY);
        admitted.handshake.write_response(&mut first_write);
        socket.queue_handshake_response(first_write);
        start(gateway.clone(), socket, admitted);
        EarlyUpgrade::Upgraded
    })
}

/// The handshake checks, then [`admit`]; `token` is [`UpgradeQuery::token`]'s answer.
fn check<H: RequestHeaders + ?Sized>(
    gateway: &Gateway,
    peer: SocketAddr,
    query: &UpgradeQuery,
    token: Option<&str>,
    version: Version,
    headers: &H,
) -> Result<Admitted, Problem> {
    let handshake = Handshake::check(version, headers, &SUBPROTOCOLS)
        .map_err(|e| Problem::new(ErrorCode::ProtocolError, e.to_string()))?;
    let client = gateway.config.trusted_proxies.client_ip(peer.ip(), headers);
    let admission = admit(gateway, client, token, query.after.as_deref(), headers)?;
    Ok(Admitted {
        handshake,
        admission,
    })
}

/// The answer to a refused upgrade, counted.
pub(crate) fn refuse(problem: Problem) -> Response {
    metrics::counter!("pushgate_handshakes_refused_total", "code" => problem.code.as_str())
        .increment(1);
    problem.into_response()
}

/// Everything checked before the upgrade (or an event stream's first byte), so refusals are
/// plain HTTP errors. `client` is the peer address, or the one a trusted proxy forwarded;
/// `token` is [`UpgradeQuery::token`]'s answer, which the caller needed first to see whether
/// keys must be fetched; `after` is where to resume (`?after=`, or an event stream's
/// `Last-Event-ID`).
pub(crate) fn admit<H: RequestHeaders + ?Sized>(
    gateway: &Gateway,
    client: IpAddr,
    token: Option<&str>,
    after: Option<&str>,
    headers: &H,
) -> Result<Admission, Problem> {
    if gateway.drain.is_draining() {
        return Err(Problem::new(
            ErrorCode::Draining,
            "this node is draining; ask /v1/connect",
        ));
    }
    let capacity = gateway.config.max_connections;
    if capacity > 0 && gateway.registry.connections() >= capacity {
        return Err(Problem::new(
            ErrorCode::Unavailable,
            "this node is full; ask /v1/connect where to go",
        ));
    }
    if !gateway.handshake_limiter.check(client) {
        return Err(Problem::new(
            ErrorCode::RateLimited,
            "too many handshakes from this address",
        ));
    }
    if let Some(origin) = headers.value_of("origin")
        && !gateway.config.allowed_origins.allows(origin)
    {
        return Err(Problem::new(ErrorCode::Forbidden, "origin not allowed"));
    }
    let token = token.ok_or_else(|| Problem::new(ErrorCode::Unauthorized, "missing token"))?;
    let claims = gateway
        .verifier
        .verify_with_held_keys(token)
        .map_err(|e| unauthorized(&e))?;
    if check_user_id(&claims.sub).is_err() {
        return Err(Problem::new(
            ErrorCode::Unauthorized,
            "token subject is not a valid user id",
        ));
    }
    let resume_from = match after {
        None => None,
        Some(text) => Some(
            text.parse()
                .map_err(|e| Problem::invalid_field("after", format!("{e}")))?,
        ),
    };
    // Last, so a request refused for any other reason never holds a slot.
    let registration = gateway.register(&claims.sub).ok_or_else(|| {
        Problem::new(
            ErrorCode::TooManyConnections,
            "this user holds too many connections on this node; close one first",
        )
    })?;
    let identity = Identity {
        user: claims.sub,
        expires: claims.exp,
        session: rand::random(),
    };
    Ok(Admission {
        identity,
        resume_from,
        registration,
        client,
    })
}

/// Answer 101 and start the connection once hyper hands the socket over.
fn accept(gateway: Arc<Gateway>, admitted: Admitted, on_upgrade: OnUpgrade) -> Response {
    let response = admitted.handshake.response();
    let drain = gateway.drain.clone();
    drain.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, client = %admitted.admission.client, "upgrade failed");
                admitted.admission.release(&gateway);
                return;
            }
        };
        // Back to the bare TCP stream (`http_server` serves plain HTTP/1.1), plus any bytes
        // the client sent right after its request.
        let Ok(parts) = upgraded.downcast::<UpgradedIo>() else {
            tracing::error!("an upgraded socket is not the server's TCP stream");
            admitted.admission.release(&gateway);
            return;
        };
        let (tcp, mut unread) = parts.io.into_inner().into_parts();
        unread.extend_from_slice(&parts.read_buf);
        let socket = WebSocket::new(tcp, &unread, gateway.config.max_frame_bytes);
        start(gateway, socket, admitted);
    });
    response
}

/// Run the connection over `socket`, speaking the subprotocol the handshake chose.
fn start(gateway: Arc<Gateway>, socket: WebSocket<TcpStream>, admitted: Admitted) {
    let codec = admitted
        .handshake
        .protocol()
        .and_then(Codec::from_subprotocol)
        .unwrap_or_default();
    admitted
        .admission
        .start(gateway, WebSocketTransport::new(socket, codec));
}
