//! An echo server over pushgate's own WebSocket, for the Autobahn|Testsuite fuzzingclient.
//!
//! Run as `autobahn_echo PORT [MAX_MESSAGE_BYTES]` (default 16 MiB, what the suite's section 9
//! sends). Sockets take the gateway's hyper path: `http_server::serve`, the upgrade checked
//! by `Handshake`, the bare TCP stream handed to `WebSocket` (the early path of `pushgate`
//! ends in the same `WebSocket`). See docs/websocket-conformance.md.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use pushgate_fanout::drain::Drain;
use pushgate_gateway::http_server::{self, UpgradedIo};
use pushgate_gateway::listener::Listener;
use pushgate_gateway::websocket::handshake::Handshake;
use pushgate_gateway::websocket::{CloseFrame, Message, WebSocket};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .context("usage: autobahn_echo PORT [MAX_MESSAGE_BYTES]")?
        .parse()
        .context("PORT")?;
    let max_message: usize = match args.next() {
        Some(max) => max.parse().context("MAX_MESSAGE_BYTES")?,
        None => 16 << 20,
    };
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    println!("echoing on ws://{}", listener.local_addr()?);
    let listener = Listener::new(listener)?;
    // As the gateway's listener (`roles::start`).
    listener.defer_accept(http_server::HEADER_READ_TIMEOUT)?;
    let app = Router::new().fallback(move |request: Request| upgrade(request, max_message));
    http_server::serve(listener, app, None, Drain::new()).await;
    Ok(())
}

/// Answer the upgrade with 101 and echo on the socket once hyper hands it over.
async fn upgrade(mut request: Request, max_message: usize) -> Response {
    let handshake = match Handshake::check(request.version(), request.headers(), &[]) {
        Ok(handshake) => handshake,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let Ok(parts) = upgraded.downcast::<UpgradedIo>() else {
            return;
        };
        let (tcp, mut unread) = parts.io.into_inner().into_parts();
        unread.extend_from_slice(&parts.read_buf);
        let socket = WebSocket::new(tcp, &unread, max_message);
        echo(socket).await;
    });
    handshake.response()
}

/// Send back every data message; fail the connection with the close code an error calls for.
async fn echo(mut socket: WebSocket<tokio::net::TcpStream>) {
    while let Some(message) = socket.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            // Pings are answered and closes echoed by the socket itself.
            Ok(_) => {}
            Err(error) => {
                if let Some(code) = error.error_code() {
                    let frame = CloseFrame {
                        code: code.close_code(),
                        reason: code.as_str().to_owned(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                }
                break;
            }
        }
    }
    let _ = socket.close().await;
}
