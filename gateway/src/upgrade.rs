//! `GET /v1/ws`: checks origin, rate, token, subprotocol and per-user limit; hands the socket over.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;
use pushgate_fanout::api::{Problem, bearer, unauthorized};
use pushgate_protocol::{Codec, Cursor, ErrorCode, check_user_id};
use serde::Deserialize;
use tracing::Instrument;

use crate::connection::{Connection, Identity};
use crate::gateway::Gateway;
use crate::http_server::UpgradedIo;
use crate::registry::Registration;
use crate::websocket::WebSocket;
use crate::websocket::handshake::Handshake;

/// Subprotocols we speak, preferred first.
const SUBPROTOCOLS: [&str; 2] = [Codec::MSGPACK_SUBPROTOCOL, Codec::JSON_SUBPROTOCOL];

/// Query parameters of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct UpgradeQuery {
    /// Token for browsers, which cannot set headers on WebSocket requests.
    access_token: Option<String>,
    /// Resume position: replay what came after it before any live push.
    after: Option<String>,
}

/// Upgrade a request to a pushgate connection, or refuse it with a problem response.
pub async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<UpgradeQuery>,
    mut request: Request,
) -> Response {
    let client = gateway
        .config
        .trusted_proxies
        .client_ip(peer.ip(), request.headers());
    let admitted = match Handshake::check(request.version(), request.headers(), &SUBPROTOCOLS) {
        Ok(handshake) => admit(&gateway, client, &query, request.headers())
            .await
            .map(|admission| (handshake, admission)),
        Err(e) => Err(Problem::new(ErrorCode::ProtocolError, e.to_string())),
    };
    match admitted {
        Ok((handshake, admission)) => {
            let on_upgrade = hyper::upgrade::on(&mut request);
            accept(gateway, handshake, on_upgrade, client, admission)
        }
        Err(problem) => {
            metrics::counter!("pushgate_handshakes_refused_total", "code" => problem.code.as_str())
                .increment(1);
            problem.into_response()
        }
    }
}

/// A request that passed every check, holding its place among the user's connections.
#[derive(Debug)]
struct Admission {
    /// Who connects.
    identity: Identity,
    /// `?after=`, replayed before any live push.
    resume_from: Option<Cursor>,
    /// Taken at admission rather than when the socket arrives, so upgrades in flight count
    /// against the per-user limit.
    registration: Registration,
}

/// Everything checked before the upgrade, so refusals are plain HTTP errors. `client` is the
/// peer address, or the one a trusted proxy forwarded.
async fn admit(
    gateway: &Gateway,
    client: IpAddr,
    query: &UpgradeQuery,
    headers: &HeaderMap,
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
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = &gateway.config.allowed_origins;
        let origin = origin.to_str().unwrap_or_default();
        if !allowed.is_empty() && !allowed.iter().any(|a| a == origin) {
            return Err(Problem::new(ErrorCode::Forbidden, "origin not allowed"));
        }
    }
    let token = bearer(headers)
        .or(query.access_token.as_deref())
        .ok_or_else(|| Problem::new(ErrorCode::Unauthorized, "missing token"))?;
    let claims = gateway
        .verifier
        .verify(token)
        .await
        .map_err(|e| unauthorized(&e))?;
    if check_user_id(&claims.sub).is_err() {
        return Err(Problem::new(
            ErrorCode::Unauthorized,
            "token subject is not a valid user id",
        ));
    }
    let resume_from = match &query.after {
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
    Ok(Admission {
        identity: Identity {
            user: claims.sub,
            expires: claims.exp,
            session: rand::random(),
        },
        resume_from,
        registration,
    })
}

/// Answer 101 and start the connection once hyper hands the socket over.
fn accept(
    gateway: Arc<Gateway>,
    handshake: Handshake,
    on_upgrade: OnUpgrade,
    client: IpAddr,
    admission: Admission,
) -> Response {
    let Admission {
        identity,
        resume_from,
        registration,
    } = admission;
    let codec = handshake
        .protocol()
        .and_then(Codec::from_subprotocol)
        .unwrap_or_default();
    let drain = gateway.drain.clone();
    drain.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, %client, "upgrade failed");
                gateway.unregister(&identity.user, registration.id);
                return;
            }
        };
        // Back to the bare TCP stream (`http_server` serves plain HTTP/1.1), plus any bytes
        // the client sent right after its request.
        let Ok(parts) = upgraded.downcast::<UpgradedIo>() else {
            tracing::error!("an upgraded socket is not the server's TCP stream");
            gateway.unregister(&identity.user, registration.id);
            return;
        };
        let span = tracing::debug_span!(
            "conn",
            user = %identity.user,
            %client,
            node = %gateway.node_id,
            session = %format_args!("{}-{:016x}", gateway.node_id, identity.session)
        );
        let socket = WebSocket::new(
            parts.io.into_inner(),
            &parts.read_buf,
            gateway.config.max_frame_bytes,
        );
        let drain = gateway.drain.clone();
        // A task of its own: this one's future keeps every captured value for its whole
        // life, and every idle socket would pay for them.
        drain.spawn(
            Connection::new(socket, gateway, identity, registration, codec)
                .run(resume_from)
                .instrument(span),
        );
    });
    handshake.response()
}
