//! # pushgate-gateway
//!
//! The connection server: it holds client WebSockets, and the `pushgate` binary that runs it
//! (with the fan-out worker and REST API in one process for `pushgate dev`).
//!
//! Data flow: `upgrade` authenticates `GET /v1/ws` and starts a [`connection::Connection`],
//! which registers a [`mailbox::Mailbox`] in the node's [`registry::Registry`] and sends
//! `welcome`. Fan-out workers send batches to this node's inbox; the `dispatcher` pushes each
//! recipient's item into its mailboxes, and each connection writes them to its socket with its
//! feed cursor, deduplicating and filling gaps from the feed. `node_heartbeat` keeps the node
//! in the ring and its users' presence fresh. Drain sends `reconnect` spread over a window.
//!
//! Layout:
//! - `config`: validated settings of a node, every role.
//! - `roles`: starting and stopping a process's roles (gateway, worker, REST API).
//! - `gateway`: the gateway role's state, shared by a node's connections and tasks.
//! - `listener`: accepting without the failed `accept4` per connection.
//! - `http_server`: the HTTP/1.1 listener, which hands upgraded sockets over bare.
//! - `waiting_room`: accepted sockets whose request has not arrived, inside the accept loop.
//! - `upgrade_request`: `GET /v1/ws` and `/v1/sse` heads parsed off new sockets (early path).
//! - `read_ahead`: a socket with bytes already read put back, for hyper.
//! - `upgrade`: the `GET /v1/ws` handshake checks.
//! - `trusted_proxies`: the client address behind trusted load balancers.
//! - `allowed_origins`: the browser origins that may upgrade, stream and call REST (CORS).
//! - `handshake_limiter`: handshakes per client address, forgetting idle ones.
//! - `websocket`: a lean RFC 6455 server socket that keeps no buffers while idle.
//! - `connection`: one client's state machine, generic over its transport.
//! - `transport`: what the connection loop needs of a wire (WebSocket or event stream).
//! - `websocket_transport`: a WebSocket as a transport.
//! - `wire`: the byte stream under a transport; a new socket's first write skips a turn.
//! - `sse`: the `GET /v1/sse` admission; `event_stream`: Server-Sent Events as a transport.
//! - `delivery_cursor`: what a connection delivered, and what each push means against it.
//! - `mailbox`: a connection's bounded outbound queue with folding.
//! - `resume_budget`: how many replays one connection may ask for.
//! - `moment`: a monotonic point in eight bytes, for per-connection deadlines.
//! - `ping_clock`: server ping deadlines in slots shared by the node.
//! - `write_coalescer`: the write delay, which lets close pushes share one socket write.
//! - `registry`: user -> local connections, and presence bookkeeping.
//! - `change_feed`: users whose count changed, taken by presence and by the relay.
//! - `dispatcher`: node inbox -> mailboxes, never waiting for Redis.
//! - `broadcast_dispatcher`: celebrity broadcasts, in log order, to local followers.
//! - `broadcast_order`: celebrity broadcasts released in global position order.
//! - `follower_cache`: which local users follow each celebrity, while nothing changed.
//! - `relay`: one-hop forwarding for users connected away from their home node.
//! - `node_heartbeat`: membership and presence leases.
//! - `telemetry`: metrics recorder and logging.
//! - `trace_export`: OTLP export of a post's spans (`--otlp-endpoint`).
//! - `wake_counter` (tests only): a waker that counts its wake-ups.

pub mod allowed_origins;
pub mod broadcast_dispatcher;
pub mod broadcast_order;
pub mod change_feed;
pub mod config;
pub mod connection;
pub mod delivery_cursor;
pub mod demo;
pub mod dispatcher;
pub mod event_stream;
pub mod follower_cache;
pub mod gateway;
pub mod handshake_limiter;
pub mod http_server;
pub mod listener;
pub mod mailbox;
pub mod moment;
pub mod node_heartbeat;
pub mod ping_clock;
pub mod read_ahead;
pub mod registry;
pub mod relay;
pub mod resume_budget;
pub mod roles;
pub mod sse;
pub mod telemetry;
pub mod trace_export;
pub mod transport;
pub mod trusted_proxies;
pub mod upgrade;
pub mod upgrade_request;
pub mod waiting_room;
#[cfg(test)]
mod wake_counter;
pub mod websocket;
pub mod websocket_transport;
pub mod wire;
pub mod write_coalescer;

/// The development JWT secret; `pushgate dev` warns while it is in use.
pub const DEV_JWT_SECRET: &str = "pushgate-dev-secret";
/// The development service key; `pushgate dev` warns while it is in use.
pub const DEV_API_KEY: &str = "pushgate-dev-key";
