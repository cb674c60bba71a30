//! The node's HTTP/1.1 server: upgrades are answered early, the router answers every other
//! request, and upgraded sockets stay bare.
//!
//! Written over hyper's connection API rather than with `axum::serve` because axum's server
//! first sniffs for HTTP/2 and so wraps every socket in a rewind buffer: an upgraded WebSocket
//! then reaches the connection as hyper's boxed `Upgraded`, about 100 bytes more per idle
//! socket and an indirection on every read and write. Served as HTTP/1.1, the upgraded socket
//! downcasts back to the `TcpStream` it was (see `upgrade`).
//!
//! The early path: a new socket's first read usually holds a whole `GET /v1/ws` (or
//! `GET /v1/sse`, whose stream then stays as bare as a WebSocket) request, since clients send
//! it as soon as they are connected; a socket whose request has not arrived yet waits for it
//! inside the accept loop, not in a task of its own. Such a request is read
//! right in the accept loop, parsed with httparse (`upgrade_request`) and checked by
//! `upgrade::upgrade_early`, without hyper's per-connection machinery, axum's routing, two
//! of the three task spawns and the `101`'s write of its own: a connect cost about 100 us of
//! CPU through hyper, and a reconnect storm after a node dies pays it once per client
//! (BENCHMARKS.md has the figures). Every other request goes to hyper with the bytes already
//! read put back in front of the socket (`ReadAhead`) and is served exactly as before; so
//! does an upgrade the checks refuse, whose answer hyper sends as axum would have.

use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use futures_util::StreamExt;
use futures_util::future::{Either, ready};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use pushgate_fanout::drain::Drain;
use rustix::net::RecvFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::gateway::Gateway;
use crate::listener::Listener;
use crate::read_ahead::ReadAhead;
use crate::sse;
use crate::upgrade::{self, EarlyUpgrade};
use crate::upgrade_request::{MAX_HEADERS, UpgradeRequest};
use crate::waiting_room::{Waiting, WaitingRoom};
use crate::wire;

/// What an upgraded connection's I/O is, to downcast hyper's `Upgraded` back to.
pub type UpgradedIo = TokioIo<ReadAhead<TcpStream>>;

/// A client gets this long to send its request headers (slow-header attacks hold sockets).
/// The early path waits this long for the first bytes; should they be only part of a head,
/// hyper gives the rest as long again. Also how long a listener may defer a connection until
/// its first bytes arrive ([`Listener::defer_accept`]).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// The early path's first read; a larger head is left to hyper. Upgrade requests are a few
/// hundred bytes, the token included.
const EARLY_READ_BYTES: usize = 4096;

/// Serve `app` on `listener` until drain begins; open connections finish their requests.
/// With `gateway`, upgrades take the early path. A listener that defers accepts (see
/// [`Listener::defer_accept`]) spares the early path most sockets whose request is not there
/// yet; the waiting room takes the rest.
pub async fn serve(listener: Listener, app: Router, gateway: Option<Arc<Gateway>>, drain: Drain) {
    // Pushes are small and latency-bound: never wait to coalesce them. Linux hands the
    // listener's TCP_NODELAY down to every accepted socket, a setsockopt per connect fewer.
    let inherited = cfg!(target_os = "linux") && listener.socket().set_tcp_nodelay(true).is_ok();
    // One waiter on the drain for the loop's life, rather than one registered and removed
    // (a lock each time) per connection.
    let draining = drain.cancelled();
    tokio::pin!(draining);
    // Sockets accepted before their request arrived (few where accepts are deferred, else
    // about half of a connect storm's, when the accept beats the client's first write),
    // waiting in this loop rather than in a task each (a task cell, and a second worker's
    // wake-up when it woke with other work). Each holds an open file and leaves at its header
    // timeout, so both bound how many wait.
    let mut waiting = WaitingRoom::default();
    loop {
        // `waited`: the header deadline of a socket that waited here for its first bytes.
        let (tcp, peer, waited) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => (tcp, peer, None),
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            Some(Waiting { tcp, peer, deadline }) = waiting.next() => (tcp, peer, Some(deadline)),
            () = &mut draining => return,
        };
        let how = match waited {
            None => FirstRead::JustAccepted,
            Some(_) => FirstRead::Readable,
        };
        if how == FirstRead::JustAccepted && !inherited {
            let _ = tcp.set_nodelay(true);
        }
        let Some(gateway) = &gateway else {
            let io = ReadAhead::new(tcp, Vec::new());
            drain.spawn(serve_http(io, peer, app.clone(), None, drain.clone()));
            continue;
        };
        // Clients send their request as soon as they are connected, so it is usually here
        // already: then the early path runs right in this loop, without a task of its own.
        match read_early(gateway, tcp, peer, how) {
            // With another connection waiting, let this one's task run on this worker first.
            // Spawned behind it in the same poll, the next connection's task would push this
            // one out of the worker's next-task slot, and tokio then wakes the other worker
            // to steal it: a futex wake and a thread's wake-up, for one connect in five to
            // seven of a storm at 2,000 a second (BENCHMARKS.md, CPU per connect).
            Early::Upgraded if listener.more_waiting() => tokio::task::yield_now().await,
            Early::Upgraded | Early::Gone => {}
            Early::Pending(tcp) => {
                let deadline = waited.unwrap_or_else(|| Instant::now() + HEADER_READ_TIMEOUT);
                waiting.insert(Waiting {
                    tcp,
                    peer,
                    deadline,
                });
            }
            Early::Http { tcp, ahead, answer } => {
                let io = ReadAhead::new(tcp, ahead);
                drain.spawn(serve_http(io, peer, app.clone(), answer, drain.clone()));
            }
        }
    }
}

/// How the early path reads a new socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FirstRead {
    /// Straight from the kernel: tokio has not polled a socket it just registered, so its
    /// `try_read` would say "would block" without looking.
    JustAccepted,
    /// Through tokio, which reported the socket readable (and must hear if that was stale).
    Readable,
}

/// What the early path made of a new socket's first bytes.
enum Early {
    /// Upgraded: the connection runs in a task of its own.
    Upgraded,
    /// Nothing to read yet.
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

/// Read the first bytes off a new socket and upgrade if they are a request the early path
/// takes. A plain function, so the read buffer lives on the stack rather than in a task.
fn read_early(gateway: &Arc<Gateway>, tcp: TcpStream, peer: SocketAddr, how: FirstRead) -> Early {
    // Uninitialized (the kernel writes what is read): zeroing 4 KiB per connect is waste.
    let mut buf = [MaybeUninit::<u8>::uninit(); EARLY_READ_BYTES];
    let received = match how {
        FirstRead::JustAccepted => receive(&tcp, &mut buf),
        FirstRead::Readable => {
            let (socket, buf) = (&tcp, &mut buf);
            let received = tcp.try_io(Interest::READABLE, move || receive(socket, buf));
            // A short read emptied the socket (as tokio's own reads assume under epoll); left
            // readable, the connection's first read would fail to find anything.
            if received
                .as_ref()
                .is_ok_and(|read| read.len() < EARLY_READ_BYTES)
            {
                wire::forget_read_readiness(&tcp);
            }
            received
        }
    };
    let read = match received {
        Ok([]) => return Early::Gone,
        Ok(read) => &*read,
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Early::Pending(tcp),
        Err(error) => {
            tracing::debug!(%error, %peer, "HTTP connection ended with an error");
            return Early::Gone;
        }
    };
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let Some(request) = UpgradeRequest::parse(read, &mut slots) else {
        return Early::Http {
            tcp,
            ahead: read.to_vec(),
            answer: None,
        };
    };
    let after_head = &read[request.head_len..];
    let early = if request.path == sse::SSE_PATH {
        sse::open_early(gateway, tcp, peer, &request)
    } else {
        upgrade::upgrade_early(gateway, tcp, peer, &request, after_head)
    };
    match early {
        EarlyUpgrade::Upgraded => Early::Upgraded,
        EarlyUpgrade::Refused(tcp, answer) => Early::Http {
            tcp,
            ahead: read.to_vec(),
            answer: Some(answer),
        },
        EarlyUpgrade::Deferred(tcp) => Early::Http {
            tcp,
            ahead: read.to_vec(),
            answer: None,
        },
    }
}

/// What one `recv` on `socket` put at the start of `buf`.
fn receive<'b>(socket: &TcpStream, buf: &'b mut [MaybeUninit<u8>]) -> io::Result<&'b mut [u8]> {
    let ((read, _), _) = rustix::net::recv(socket, buf, RecvFlags::empty())?;
    Ok(read)
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

#[cfg(test)]
mod tests {
    use pushgate_fanout::ring::Ring;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::NodeConfig;
    use crate::gateway;

    async fn read_until(socket: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !seen.windows(needle.len()).any(|w| w == needle) {
            let n = socket.read(&mut buf).await.expect("reads");
            assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    }

    #[tokio::test]
    async fn a_request_that_comes_after_the_accept_is_upgraded_from_the_waiting_room() {
        let config = NodeConfig::dev("127.0.0.1:0".parse().expect("addr"));
        let gateway = gateway::in_memory(config, Ring::default());
        // Not deferred, as where the kernel cannot defer accepts.
        let std = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let addr = std.local_addr().expect("address");
        let listener = Listener::new(std).expect("watches");
        tokio::spawn(serve(
            listener,
            Router::new(),
            Some(gateway.clone()),
            gateway.drain.clone(),
        ));
        let request = |user: &str| {
            format!(
                "GET /v1/ws?access_token={} HTTP/1.1\r\nHost: {addr}\r\n\
                 Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                gateway.verifier.mint(user, 3600)
            )
        };
        let mut late = TcpStream::connect(addr).await.expect("connects");
        // Accepted in order: once the prompt one is answered, the late one was taken before
        // it and found nothing to read.
        let mut prompt = TcpStream::connect(addr).await.expect("connects");
        prompt
            .write_all(request("ann").as_bytes())
            .await
            .expect("writes");
        read_until(&mut prompt, br#""type":"welcome""#).await;
        late.write_all(request("ben").as_bytes())
            .await
            .expect("writes");
        let seen = read_until(&mut late, br#""type":"welcome""#).await;
        assert!(seen.starts_with(b"HTTP/1.1 101 "), "{seen:?}");
        assert!(gateway.registry.is_connected("ben"));
    }
}
