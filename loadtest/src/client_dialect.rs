//! What differs between pushgate clients and generic pub/sub clients: where they connect,
//! how they authenticate, and what the frames they receive mean.

use std::io::ErrorKind;
use std::net::{SocketAddr, SocketAddrV4};
use std::time::Duration;

use pushgate_protocol::{ClientFrame, Codec, Cursor, ServerFrame};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::{
    GenericPlan, GraphParams, LoadtestError, ProtocolPlan, PushgatePlan, RunNames, SourceAddrs,
    Template, TemplateValues, TimestampProbe, TokenMinter, json_body, send_checked,
};

/// An open client socket.
pub type Socket = WebSocketStream<TcpStream>;

/// What a received frame means to the load generator.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// An item: its id and creation time (µs), and the cursor to resume after it.
    Item {
        id: u64,
        ts_us: u64,
        cursor: Option<Cursor>,
    },
    /// The first frame of a pushgate connection, with the feed head.
    Welcome { cursor: Cursor },
    /// Pushes folded into one `feed_advanced`.
    Folded { count: u64, cursor: Cursor },
    /// End of a resume replay.
    Resumed { complete: bool },
    /// The server asks to move.
    Reconnect { url: String, after_ms: u64 },
    /// Another frame that moves the cursor (a notification).
    Advanced { cursor: Cursor },
    /// An `error` frame or a frame that does not decode.
    Error,
    /// Nothing to count (pong, control frames, messages without a timestamp).
    Ignored,
}

/// The client side of one server protocol.
#[derive(Debug)]
pub enum ClientDialect {
    Pushgate {
        plan: PushgatePlan,
        minter: TokenMinter,
        follows: Option<GraphParams>,
    },
    Generic {
        plan: GenericPlan,
        url: Template,
        message: Option<Template>,
        probe: TimestampProbe,
    },
}

/// Where and how one connection attempt goes.
#[derive(Clone, Debug, Default)]
pub struct Destination {
    /// Set by a `reconnect` frame: the URL to use next, once.
    pub redirect: Option<String>,
    /// Bumped by each failed attempt, so a dead target is skipped on the next one.
    pub target_offset: usize,
}

#[derive(Deserialize)]
struct ConnectAnswer {
    url: String,
}

impl ClientDialect {
    /// The dialect of a plan.
    pub fn new(protocol: &ProtocolPlan) -> Self {
        match protocol {
            ProtocolPlan::Pushgate(plan) => ClientDialect::Pushgate {
                minter: TokenMinter::new(&plan.jwt_secret, Duration::from_secs(plan.token_ttl_s)),
                follows: plan.graph.clone(),
                plan: plan.clone(),
            },
            ProtocolPlan::Generic(plan) => ClientDialect::Generic {
                url: Template::parse(&plan.subscribe_url),
                message: plan.subscribe_message.as_deref().map(Template::parse),
                probe: TimestampProbe::new(&plan.ts_key),
                plan: plan.clone(),
            },
        }
    }

    /// The graph parameters clients' topics come from, if any (pushgate only).
    pub fn graph(&self) -> Option<&GraphParams> {
        match self {
            ClientDialect::Pushgate { follows, .. } => follows.as_ref(),
            ClientDialect::Generic { .. } => None,
        }
    }

    /// The channel client `index` subscribes to (generic only).
    pub fn channel_of(&self, index: u32) -> Option<u32> {
        match self {
            ClientDialect::Pushgate { .. } => None,
            ClientDialect::Generic { plan, .. } => Some(index % plan.channels.max(1)),
        }
    }

    /// Whether reconnecting clients send `resume` with their cursor.
    pub fn resumes(&self) -> bool {
        matches!(self, ClientDialect::Pushgate { .. })
    }

    /// Open a socket for client `index` and send the dialect's first frame: `resume` after
    /// `cursor` for pushgate, the subscribe message for generic servers.
    pub async fn open(
        &self,
        http: &reqwest::Client,
        index: u32,
        source_addrs: Option<SourceAddrs>,
        destination: &mut Destination,
        cursor: Option<Cursor>,
    ) -> Result<Socket, LoadtestError> {
        let (url, token, subprotocol, first) = match self {
            ClientDialect::Pushgate { plan, minter, .. } => {
                let token = minter.token(
                    &RunNames {
                        run_id: &plan.run_id,
                    }
                    .user(index),
                )?;
                let url = match destination.redirect.take() {
                    Some(url) => url,
                    None => pushgate_url(http, plan, index, destination, &token).await?,
                };
                let codec = plan.codec.codec();
                let first = match cursor {
                    Some(after) => Some(encode(codec, &ClientFrame::Resume { after })?),
                    None => None,
                };
                (url, Some(token), Some(codec.subprotocol()), first)
            }
            ClientDialect::Generic {
                plan, url, message, ..
            } => {
                let channel = format!("{}{}", plan.channel_prefix, index % plan.channels.max(1));
                let values = TemplateValues {
                    channel: &channel,
                    client: index,
                    ..Default::default()
                };
                let first = message.as_ref().map(|m| Message::text(m.render(&values)));
                (url.render(&values), None, None, first)
            }
        };
        let mut socket = connect(&url, token.as_deref(), subprotocol, index, source_addrs).await?;
        if let Some(frame) = first {
            use futures_util::SinkExt;
            socket.send(frame).await.map_err(ws_error)?;
        }
        Ok(socket)
    }

    /// What a received message means.
    pub fn interpret(&self, message: &Message) -> Event {
        let bytes: &[u8] = match message {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) => bytes,
            _ => return Event::Ignored,
        };
        match self {
            ClientDialect::Pushgate { .. } => {
                // The frame type tells the codec, as a lenient client would read it.
                let codec = if message.is_binary() {
                    Codec::MsgPack
                } else {
                    Codec::Json
                };
                match codec.decode::<ServerFrame>(bytes) {
                    Ok(frame) => pushgate_event(frame),
                    Err(_) => Event::Error,
                }
            }
            ClientDialect::Generic { probe, .. } => match std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| probe.find(text))
            {
                Some(ts_us) => Event::Item {
                    id: ts_us,
                    ts_us,
                    cursor: None,
                },
                None => Event::Ignored,
            },
        }
    }
}

fn pushgate_event(frame: ServerFrame) -> Event {
    match frame {
        ServerFrame::Welcome { cursor, .. } => Event::Welcome { cursor },
        ServerFrame::Post { id, ts, cursor, .. } => Event::Item {
            id,
            ts_us: ts,
            cursor: Some(cursor),
        },
        ServerFrame::Notify { cursor, .. } => Event::Advanced { cursor },
        ServerFrame::FeedAdvanced { cursor, count } => Event::Folded { count, cursor },
        ServerFrame::Resumed { complete, .. } => Event::Resumed { complete },
        ServerFrame::Reconnect { url, after_ms, .. } => Event::Reconnect { url, after_ms },
        ServerFrame::Error { .. } => Event::Error,
        ServerFrame::Pong => Event::Ignored,
    }
}

fn encode(codec: Codec, frame: &ClientFrame) -> Result<Message, LoadtestError> {
    let bytes = codec
        .encode(frame)
        .map_err(|e| LoadtestError::InvalidArgument(e.to_string()))?;
    Ok(if codec.is_binary() {
        Message::Binary(Bytes::from(bytes))
    } else {
        Message::text(String::from_utf8_lossy(&bytes).into_owned())
    })
}

/// The WebSocket URL of a gateway base URL.
pub fn ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    let base = match base.strip_prefix("http") {
        Some(rest) => format!("ws{rest}"),
        None => base.to_owned(),
    };
    format!("{base}/v1/ws")
}

/// The URL client `index` connects to: its home node from `GET /v1/connect` when asked to
/// follow it, else its round-robin target. Dead targets are skipped via `target_offset`.
async fn pushgate_url(
    http: &reqwest::Client,
    plan: &PushgatePlan,
    index: u32,
    destination: &Destination,
    token: &str,
) -> Result<String, LoadtestError> {
    let count = plan.targets.len();
    let first = (index as usize + destination.target_offset) % count;
    if !plan.follow_connect {
        return Ok(ws_url(&plan.targets[first]));
    }
    let mut last_error = None;
    for step in 0..count {
        let target = plan.targets[(first + step) % count].trim_end_matches('/');
        let url = format!("{target}/v1/connect");
        let what = || format!("GET {url}");
        let answer = match send_checked(http.get(&url).bearer_auth(token), what).await {
            Ok(response) => json_body::<ConnectAnswer>(response, what).await,
            Err(error) => Err(error),
        };
        match answer {
            Ok(answer) => return Ok(answer.url),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| LoadtestError::InvalidArgument("no target".into())))
}

/// Small buffers: the defaults (128 KiB read buffer) would cost gigabytes at 18k sockets.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

fn ws_error(error: tokio_tungstenite::tungstenite::Error) -> LoadtestError {
    LoadtestError::InvalidArgument(format!("websocket: {error}"))
}

/// TCP connect from this client's source address (loopback targets only: other addresses
/// cannot reach loopback), then the WebSocket handshake.
async fn connect(
    url: &str,
    token: Option<&str>,
    subprotocol: Option<&str>,
    index: u32,
    source_addrs: Option<SourceAddrs>,
) -> Result<Socket, LoadtestError> {
    let mut request = url.into_client_request().map_err(ws_error)?;
    if request.uri().scheme_str() != Some("ws") {
        return Err(LoadtestError::InvalidArgument(format!(
            "only ws:// URLs are supported: {url}"
        )));
    }
    let header = |text: String| {
        HeaderValue::from_str(&text).map_err(|e| LoadtestError::InvalidArgument(e.to_string()))
    };
    if let Some(token) = token {
        request
            .headers_mut()
            .insert(AUTHORIZATION, header(format!("Bearer {token}"))?);
    }
    if let Some(subprotocol) = subprotocol {
        request
            .headers_mut()
            .insert(SEC_WEBSOCKET_PROTOCOL, header(subprotocol.to_owned())?);
    }
    let host = request
        .uri()
        .host()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']'])
        .to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let addr: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await?
        .next()
        .ok_or_else(|| LoadtestError::InvalidArgument(format!("{host} does not resolve")))?;
    let stream = tcp_connect(addr, index, source_addrs).await?;
    stream.set_nodelay(true)?;
    let (socket, _response) = client_async_with_config(request, stream, Some(socket_config()))
        .await
        .map_err(ws_error)?;
    Ok(socket)
}

/// A TCP connection to `target` from client `index`'s own source address and port when
/// `target` is on loopback, from wherever the kernel picks otherwise.
async fn tcp_connect(
    target: SocketAddr,
    index: u32,
    source_addrs: Option<SourceAddrs>,
) -> std::io::Result<TcpStream> {
    match (source_addrs, target) {
        (Some(range), SocketAddr::V4(v4)) if v4.ip().is_loopback() => {
            let source = range.for_client(index);
            match connect_from(source, target).await {
                // The port may still be held by this client's previous connection (churn,
                // failover), an earlier run or another program: let the kernel pick one then.
                Err(e)
                    if matches!(e.kind(), ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable) =>
                {
                    connect_from(SocketAddrV4::new(*source.ip(), 0), target).await
                }
                result => result,
            }
        }
        _ => TcpStream::connect(target).await,
    }
}

/// A TCP connection from `source` (port 0: any) to `target`.
async fn connect_from(source: SocketAddrV4, target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // Lets a fixed port be bound again while an earlier connection from it sits in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(source.into())?;
    socket.connect(target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_connect_from_their_own_source_or_any_port_when_it_is_taken() {
        let target = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("target");
        let target = target.local_addr().expect("addr");
        let range: SourceAddrs = "127.0.0.77".parse().expect("range");

        let free = tcp_connect(target, 3, Some(range)).await.expect("connects");
        assert_eq!(
            free.local_addr().expect("local"),
            SocketAddr::V4(range.for_client(3))
        );

        // A listener on a client's source makes its bind fail even with SO_REUSEADDR; pick
        // a client whose port nothing else on this machine holds.
        let (index, _holder) = (10..1_000)
            .find_map(|i| Some((i, std::net::TcpListener::bind(range.for_client(i)).ok()?)))
            .expect("a free source port to occupy");
        let taken = range.for_client(index);
        let fallback = tcp_connect(target, index, Some(range))
            .await
            .expect("connects from another port");
        let local = fallback.local_addr().expect("local");
        assert_eq!(local.ip(), std::net::IpAddr::V4(*taken.ip()));
        assert_ne!(local.port(), taken.port());

        let anywhere = tcp_connect(target, index, None).await.expect("connects");
        assert!(anywhere.local_addr().expect("local").ip().is_loopback());
    }

    #[test]
    fn gateway_base_becomes_ws_url() {
        assert_eq!(ws_url("http://127.0.0.1:8080"), "ws://127.0.0.1:8080/v1/ws");
        assert_eq!(
            ws_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/v1/ws"
        );
        assert_eq!(ws_url("ws://h:1"), "ws://h:1/v1/ws");
    }

    #[test]
    fn frames_map_to_events() {
        let post = ServerFrame::Post {
            id: 5,
            author: "a".into(),
            ts: 77,
            cursor: Cursor::new(2, 0),
        };
        let text = String::from_utf8(Codec::Json.encode(&post).expect("encodes")).expect("utf8");
        let plan = ProtocolPlan::Generic(GenericPlan {
            subscribe_url: "ws://x/{channel}".into(),
            subscribe_message: None,
            channels: 4,
            channel_prefix: "c".into(),
            ts_key: "ts".into(),
        });
        let generic = ClientDialect::new(&plan);
        assert_eq!(
            generic.interpret(&Message::text(text.clone())),
            Event::Item {
                id: 77,
                ts_us: 77,
                cursor: None
            }
        );
        assert_eq!(generic.channel_of(6), Some(2));
        assert_eq!(
            pushgate_event(post),
            Event::Item {
                id: 5,
                ts_us: 77,
                cursor: Some(Cursor::new(2, 0))
            }
        );
        assert_eq!(pushgate_event(ServerFrame::Pong), Event::Ignored);
    }
}
