//! The node's HTTP/1.1 server: the router answers every request, upgrades keep the bare socket.
//!
//! Written over hyper's connection API rather than with `axum::serve` because axum's server
//! first sniffs for HTTP/2 and so wraps every socket in a rewind buffer: an upgraded WebSocket
//! then reaches the connection as hyper's boxed `Upgraded`, about 100 bytes more per idle
//! socket and an indirection on every read and write. Served as HTTP/1.1, the upgraded socket
//! downcasts back to the `TcpStream` it was (see `upgrade`).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use pushgate_fanout::drain::Drain;
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceExt};

/// What an upgraded connection's I/O is, to downcast hyper's `Upgraded` back to.
pub type UpgradedIo = TokioIo<TcpStream>;

/// A client gets this long to send its request headers (slow-header attacks hold sockets).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serve `app` on `listener` until drain begins; open connections finish their requests.
pub async fn serve(listener: TcpListener, app: Router, drain: Drain) {
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
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
        // Pushes are small and latency-bound: never wait to coalesce them.
        let _ = tcp.set_nodelay(true);
        let Ok(router) = make_service.call(peer).await;
        let connection_drain = drain.clone();
        drain.spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                router.clone().oneshot(request)
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = connection_drain.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "HTTP connection ended with an error");
            }
        });
    }
}
