//! `GET /v1/ws`: checks origin, rate, token and subprotocol, then hands the socket over.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use pushgate_fanout::api::{Problem, bearer, unauthorized, valid_user_id};
use pushgate_protocol::{Codec, Cursor, ErrorCode};
use serde::Deserialize;
use tracing::Instrument;

use crate::connection::{Connection, Identity};
use crate::gateway::Gateway;

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
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    match admit(&gateway, peer, &query, &headers) {
        Ok((identity, resume_from)) => accept(gateway, upgrade, identity, resume_from),
        Err(problem) => {
            metrics::counter!("pushgate_handshakes_refused_total", "code" => problem.code.as_str())
                .increment(1);
            problem.into_response()
        }
    }
}

/// Everything checked before the upgrade, so refusals are plain HTTP errors.
fn admit(
    gateway: &Gateway,
    peer: SocketAddr,
    query: &UpgradeQuery,
    headers: &HeaderMap,
) -> Result<(Identity, Option<Cursor>), Problem> {
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
    if gateway.handshake_limiter.check_key(&peer.ip()).is_err() {
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
        .map_err(|e| unauthorized(&e))?;
    if !valid_user_id(&claims.sub) {
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
    Ok((
        Identity {
            user: claims.sub,
            expires: claims.exp,
            session: rand::random(),
        },
        resume_from,
    ))
}

fn accept(
    gateway: Arc<Gateway>,
    upgrade: WebSocketUpgrade,
    identity: Identity,
    resume_from: Option<Cursor>,
) -> Response {
    let config = &gateway.config;
    let max = config.max_frame_bytes;
    upgrade
        .protocols([Codec::MSGPACK_SUBPROTOCOL, Codec::JSON_SUBPROTOCOL])
        .read_buffer_size(config.read_buffer_bytes)
        // Frames are written and flushed in batches right away; no buffer needs to linger.
        .write_buffer_size(0)
        .max_write_buffer_size(max.max(64 * 1024))
        .max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(|error| tracing::debug!(%error, "upgrade failed"))
        .on_upgrade(move |socket| {
            let codec = socket
                .protocol()
                .and_then(|p| p.to_str().ok())
                .and_then(Codec::from_subprotocol)
                .unwrap_or_default();
            let span = tracing::debug_span!(
                "conn",
                user = %identity.user,
                node = %gateway.node_id,
                session = %format_args!("{}-{:016x}", gateway.node_id, identity.session)
            );
            let drain = gateway.drain.clone();
            let connection = Connection::new(socket, gateway, identity, codec);
            drain.track(connection.run(resume_from).instrument(span))
        })
}
