//! The node's HTTP/1.1 server: upgrades are answered early, the router answers every other
//! request, and upgraded sockets stay bare.
//!
//! Written over hyper's connection API rather than with `axum::serve` because axum's server
//! first sniffs for HTTP/2 and so wraps every socket in a rewind buffer: an upgraded WebSocket
//! then reaches the connection as hyper's boxed `Upgraded`, about 100 bytes more per idle
//! socket and an indirection on every read and write. Served as HTTP/1.1, the upgraded socket
//! downcasts back to the `TcpStream` it was (see `upgrade`).
//!
//! The early path: a new socket's first read almost always holds a whole `GET /v1/ws`
//! request, since clients send it as soon as they are connected. Such a request is parsed
//! with httparse (`upgrade_request`) and checked by `upgrade::upgrade_early` without hyper's
//! per-connection machinery, axum's routing, the task that waits for hyper's upgrade, and a
//! write of its own for the `101`: a connect cost about 100 us of CPU that way, and a reconnect
//! storm after a node dies pays it once per client (BENCHMARKS.md has the figures). Every
//! other request goes to hyper with the bytes already read put back in front of the socket
//! (`ReadAhead`) and is served exactly as before; so does an upgrade the checks refuse, whose
//! answer hyper sends as axum would have.

use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use futures_util::future::{Either, ready};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use pushgate_fanout::drain::Drain;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::gateway::Gateway;
use crate::read_ahead::ReadAhead;
use crate::upgrade;
use crate::upgrade_request::UpgradeRequest;

/// What an upgraded connection's I/O is, to downcast hyper's `Upgraded` back to.
pub type UpgradedIo = TokioIo<ReadAhead<TcpStream>>;

/// A client gets this long to send its request headers (slow-header attacks hold sockets).
/// The early path waits this long for the first bytes; should they be only part of a head,
/// hyper gives the rest as long again.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// The early path's first read; a larger head is left to hyper. Upgrade requests are a few
/// hundred bytes, the token included.
const EARLY_READ_BYTES: usize = 4096;

/// Serve `app` on `listener` until drain begins; open connections finish their requests.
/// With `gateway`, upgrades take the early path.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    gateway: Option<Arc<Gateway>>,
    drain: Drain,
) {
    // Pushes are small and latency-bound: never wait to coalesce them. Linux hands the
    // listener's TCP_NODELAY down to every accepted socket, a setsockopt per connect fewer.
    let inherited = cfg!(target_os = "linux")
        && socket2::SockRef::from(&listener)
            .set_tcp_nodelay(true)
            .is_ok();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = drain.cancelled() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        if !inherited {
            let _ = tcp.set_nodelay(true);
        }
        let router = app.clone();
        let connection_drain = drain.clone();
        match &gateway {
            Some(gateway) => drain.spawn(serve_socket(
                tcp,
                peer,
                router,
                gateway.clone(),
                connection_drain,
            )),
            None => drain.spawn(serve_http(
                ReadAhead::new(tcp, Vec::new()),
                peer,
                router,
                None,
                connection_drain,
            )),
        };
    }
}

/// What the early path made of a new socket's first bytes.
enum Early {
    /// Upgraded: the connection runs in a task of its own.
    Upgraded,
    /// Nothing to read after all (readiness can be spurious).
    Pending(TcpStream),
    /// Hyper serves the socket, starting from `ahead`; `answer` is the response to its first
    /// request if the early path already decided it.
    Http {
        tcp: TcpStream,
        ahead: Vec<u8>,
        answer: Option<Response>,
    },
    /// The client left, or the socket failed, before sending a request.
    Gone,
}

/// Wait for the socket's first bytes, then take the early path or hand it to hyper.
async fn serve_socket(
    mut tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    gateway: Arc<Gateway>,
    drain: Drain,
) {
    let deadline = tokio::time::Instant::now() + HEADER_READ_TIMEOUT;
    loop {
        // Like hyper on a header timeout: close without an answer.
        let Ok(Ok(())) = tokio::time::timeout_at(deadline, tcp.readable()).await else {
            return;
        };
        match read_early(&gateway, tcp, peer) {
            Early::Upgraded | Early::Gone => return,
            Early::Pending(again) => tcp = again,
            Early::Http { tcp, ahead, answer } => {
                let io = ReadAhead::new(tcp, ahead);
                return serve_http(io, peer, router, answer, drain).await;
            }
        }
    }
}

/// Read the first bytes off `tcp` and upgrade if they are a request the early path takes.
/// A plain function, so the read buffer lives on the stack rather than in a task.
fn read_early(gateway: &Arc<Gateway>, tcp: TcpStream, peer: SocketAddr) -> Early {
    let mut buf = [0u8; EARLY_READ_BYTES];
    let n = match tcp.try_read(&mut buf) {
        Ok(0) => return Early::Gone,
        Ok(n) => n,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Early::Pending(tcp),
        Err(error) => {
            tracing::debug!(%error, %peer, "HTTP connection ended with an error");
            return Early::Gone;
        }
    };
    let read = &buf[..n];
    let Some(request) = UpgradeRequest::parse(read) else {
        return Early::Http {
            tcp,
            ahead: read.to_vec(),
            answer: None,
        };
    };
    let after_head = &read[request.head_len..];
    match upgrade::upgrade_early(gateway, tcp, peer, &request, after_head) {
        Ok(()) => Early::Upgraded,
        Err((tcp, answer)) => Early::Http {
            tcp,
            ahead: read.to_vec(),
            answer: Some(answer),
        },
    }
}

/// Serve HTTP/1.1 on `io` with hyper and the router; `answer`, if any, is the response to
/// the first request (decided by the early path, which must not run the checks twice).
async fn serve_http(
    io: ReadAhead<TcpStream>,
    peer: SocketAddr,
    router: Router,
    answer: Option<Response>,
    drain: Drain,
) {
    let answer = Cell::new(answer);
    let service =
        hyper::service::service_fn(move |mut request: Request<Incoming>| match answer.take() {
            Some(response) => Either::Left(ready(Ok::<_, Infallible>(response))),
            None => {
                request.extensions_mut().insert(ConnectInfo(peer));
                Either::Right(router.clone().oneshot(request))
            }
        });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = drain.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, %peer, "HTTP connection ended with an error");
    }
}
