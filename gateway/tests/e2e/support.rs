//! Test harness: an in-process `pushgate dev` node on port 0, a REST client, WebSocket clients.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use pushgate_fanout::api::ApiLimits;
use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::memory::MemoryConfig;
use pushgate_fanout::token::TokenVerifier;
use pushgate_fanout::worker::WorkerConfig;
use pushgate_gateway::config::NodeConfig;
use pushgate_gateway::roles::{RunningNode, start_dev};
use pushgate_protocol::{ClientFrame, Codec, Cursor, ServerFrame};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The test nodes' JWT secret and service key (not the development ones).
const TEST_JWT_SECRET: &str = "e2e-test-jwt-secret-0123456789";
const TEST_API_KEY: &str = "e2e-test-api-key-0123456789";

/// How long a test waits for something that should happen promptly.
pub const WAIT: Duration = Duration::from_secs(5);

/// A running node plus handy clients.
pub struct TestNode {
    pub node: RunningNode,
    pub http: reqwest::Client,
    pub verifier: TokenVerifier,
}

/// Knobs tests turn.
pub struct Options {
    pub config: NodeConfig,
    pub memory: MemoryConfig,
    pub worker: WorkerConfig,
    pub limits: ApiLimits,
}

impl Default for Options {
    fn default() -> Self {
        let mut config = NodeConfig::dev("127.0.0.1:0".parse().expect("addr"));
        // Credentials of its own, as every production role must have.
        config.tokens.secret = TEST_JWT_SECRET.into();
        config.api_key = TEST_API_KEY.into();
        // Tests connect many sockets from one address quickly.
        config.handshakes_per_sec = std::num::NonZeroU32::new(10_000).expect("non-zero");
        config.resume_window = Duration::from_millis(100);
        Self {
            config,
            memory: MemoryConfig::default(),
            worker: WorkerConfig::default(),
            // Tests call the API much faster than a person would.
            limits: ApiLimits {
                user_rps: std::num::NonZeroU32::new(10_000).expect("non-zero"),
                service_rps: std::num::NonZeroU32::new(100_000).expect("non-zero"),
                ..ApiLimits::default()
            },
        }
    }
}

impl TestNode {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let config = options.config.validate_production().expect("valid config");
        let node = start_dev(
            config,
            Backplane::memory(&options.memory),
            options.worker,
            options.limits,
        )
        .await
        .expect("node starts");
        // The node's own verifier, so minted tokens carry its issuer and audience.
        let verifier = node.gateway().verifier.clone();
        Self {
            node,
            http: reqwest::Client::new(),
            verifier,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.node.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.node.addr, path)
    }

    pub fn token(&self, user: &str) -> String {
        self.verifier.mint(user, 3600)
    }

    /// A REST call with a bearer credential; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        rest_call(&self.http, method, &self.url(path), bearer, body).await
    }

    pub async fn follow(&self, user: &str, author: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!("/v1/follows/{author}"),
                &self.token(user),
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }

    /// Create a post as `author` (user token); returns its ID.
    pub async fn post(&self, author: &str, content: &str) -> u64 {
        self.post_with(author, json!({ "content": content })).await
    }

    pub async fn post_with(&self, author: &str, body: Value) -> u64 {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/posts",
                &self.token(author),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_u64().expect("post id")
    }

    pub fn api_key(&self) -> &'static str {
        TEST_API_KEY
    }

    /// Connect `user` over JSON.
    pub async fn connect(&self, user: &str) -> WsClient {
        WsClient::connect(self.addr(), &self.token(user), Codec::Json, None)
            .await
            .expect("connects")
    }
}

/// A real `pushgate` process, killed on drop.
pub struct Process {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Process {
    /// Start `pushgate <args>` with `env` set and wait for the address it prints.
    pub fn spawn(args: &[String], env: &[(&str, &str)]) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
            .args(args)
            .envs(env.iter().copied())
            .env(
                "PUSHGATE_LOG",
                std::env::var("PUSHGATE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pushgate");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Process { child, addr }
    }

    /// SIGKILL: no drain, no goodbye, as a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The Prometheus text a process serves at `/metrics` on `addr`.
pub async fn metrics_text(addr: impl std::fmt::Display) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// One REST call with a bearer credential: status and JSON body (Null when empty), or status
/// 0 when the server cannot be reached at all (a killed process, in the cluster tests).
pub async fn rest_call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    bearer: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url).bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let Ok(response) = request.send().await else {
        return (0, Value::Null);
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A WebSocket client speaking one codec.
pub struct WsClient {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub codec: Codec,
    pub welcome: ServerFrame,
}

impl WsClient {
    /// Connect to the node at `addr` and read the welcome frame; `after` resumes via the URL.
    pub async fn connect(
        addr: SocketAddr,
        token: &str,
        codec: Codec,
        after: Option<Cursor>,
    ) -> Result<Self, tungstenite::Error> {
        Self::connect_url(&format!("ws://{addr}/v1/ws"), token, codec, after).await
    }

    /// Connect to a node's WebSocket `url` and read the welcome frame.
    pub async fn connect_url(
        url: &str,
        token: &str,
        codec: Codec,
        after: Option<Cursor>,
    ) -> Result<Self, tungstenite::Error> {
        let mut url = url.to_owned();
        if let Some(after) = after {
            url.push_str(&format!("?after={after}"));
        }
        let mut request = url.into_client_request()?;
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        request.headers_mut().insert(
            "sec-websocket-protocol",
            codec.subprotocol().parse().expect("header"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        let mut client = Self {
            socket,
            codec,
            welcome: ServerFrame::Pong,
        };
        client.welcome = client.next().await;
        assert!(
            matches!(client.welcome, ServerFrame::Welcome { .. }),
            "first frame: {:?}",
            client.welcome
        );
        Ok(client)
    }

    pub fn welcome_cursor(&self) -> Cursor {
        match self.welcome {
            ServerFrame::Welcome { cursor, .. } => cursor,
            _ => unreachable!("checked at connect"),
        }
    }

    /// The next server frame (skipping pings), failing the test after `WAIT`.
    pub async fn next(&mut self) -> ServerFrame {
        self.try_next(WAIT).await.expect("a frame within the wait")
    }

    /// The next server frame within `wait`, or `None`.
    pub async fn try_next(&mut self, wait: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??
                .ok()?;
            match message {
                Message::Text(text) => {
                    return Some(self.codec.decode(text.as_bytes()).expect("decodes"));
                }
                Message::Binary(bytes) => return Some(self.codec.decode(&bytes).expect("decodes")),
                Message::Close(frame) => panic!("unexpected close: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Read until the server closes; returns the close frame (skipping other frames).
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => panic!("no close within the wait"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => return frame,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        let bytes = self.codec.encode(frame).expect("encodes");
        let message = if self.codec.is_binary() {
            Message::Binary(bytes.into())
        } else {
            Message::Text(String::from_utf8(bytes).expect("utf8").into())
        };
        self.socket.send(message).await.expect("sends");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.socket.send(message).await.expect("sends");
    }

    /// Collect `n` post IDs in arrival order, with their cursors.
    pub async fn posts(&mut self, n: usize) -> Vec<(u64, Cursor)> {
        let mut out = Vec::new();
        while out.len() < n {
            match self.next().await {
                ServerFrame::Post { id, cursor, .. } => out.push((id, cursor)),
                ServerFrame::Pong | ServerFrame::Resumed { .. } => {}
                other => panic!("expected a post, got {other:?}"),
            }
        }
        out
    }

    /// Assert nothing but pings arrives for `wait`.
    pub async fn silent_for(&mut self, wait: Duration) {
        if let Some(frame) = self.try_next(wait).await {
            panic!("expected silence, got {frame:?}");
        }
    }
}

/// How an [`SseClient`] asks for its stream.
#[derive(Clone, Debug, Default)]
pub struct SseRequest {
    /// Sent as `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// Sent as `?access_token=`.
    pub access_token: Option<String>,
    /// Sent as `Last-Event-ID`, as an `EventSource` does on reconnect.
    pub last_event_id: Option<String>,
    /// Sent as `?after=`.
    pub after: Option<Cursor>,
    /// More headers (enough of them take the request off the server's early path).
    pub extra_headers: Vec<(String, String)>,
}

/// One Server-Sent Event, parsed as the HTML standard's EventSource does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's `id` field, if it had one.
    pub id: Option<String>,
    /// Its `event` field (`message` when absent).
    pub event: String,
    /// Its `data` lines, joined with newlines.
    pub data: String,
}

impl SseEvent {
    /// The pushgate frame the event carries (its `data` is the JSON frame).
    pub fn frame(&self) -> ServerFrame {
        Codec::Json
            .decode(self.data.as_bytes())
            .unwrap_or_else(|e| panic!("event data {:?} is not a frame: {e}", self.data))
    }
}

/// What a stream yields next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// A comment line (heartbeat), without its leading colon.
    Comment(String),
}

/// A client of `GET /v1/sse` over reqwest's streaming body, parsing the event-stream format
/// itself: lines end in CRLF, LF or CR; `:` starts a comment; `field: value` with one
/// optional space; a blank line ends an event; `id` persists as the last event ID.
pub struct SseClient {
    pub response: reqwest::Response,
    /// Bytes received but not yet a whole line.
    pending: Vec<u8>,
    /// A CR ended the last line: an LF right after it belongs to it.
    after_cr: bool,
    /// The event being assembled.
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    /// The last `id` seen, what an EventSource sends back as `Last-Event-ID`.
    pub last_event_id: String,
    /// Items parsed but not yet taken.
    ready: std::collections::VecDeque<SseItem>,
    ended: bool,
}

impl SseClient {
    /// Open a stream on the node at `addr`; `Err` holds the status and problem JSON of a
    /// refusal.
    pub async fn open(addr: SocketAddr, request: &SseRequest) -> Result<Self, (u16, Value)> {
        let mut url = reqwest::Url::parse(&format!("http://{addr}/v1/sse")).expect("url");
        if let Some(token) = &request.access_token {
            url.query_pairs_mut().append_pair("access_token", token);
        }
        if let Some(after) = request.after {
            url.query_pairs_mut()
                .append_pair("after", &after.to_string());
        }
        let mut builder = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream");
        if let Some(token) = &request.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(id) = &request.last_event_id {
            builder = builder.header("last-event-id", id);
        }
        for (name, value) in &request.extra_headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            return Err((status, serde_json::from_str(&text).unwrap_or(Value::Null)));
        }
        Ok(Self {
            response,
            pending: Vec::new(),
            after_cr: false,
            id: None,
            event: None,
            data: None,
            last_event_id: String::new(),
            ready: Default::default(),
            ended: false,
        })
    }

    /// Open a stream for `user` with a bearer token, and read its `welcome`.
    pub async fn connect(node: &TestNode, user: &str) -> (Self, SseEvent) {
        let request = SseRequest {
            bearer: Some(node.token(user)),
            ..SseRequest::default()
        };
        let mut client = Self::open(node.addr(), &request).await.expect("opens");
        let welcome = client.next_event().await;
        assert_eq!(welcome.event, "welcome", "first event: {welcome:?}");
        (client, welcome)
    }

    /// The next event or comment within `wait`; `None` when the stream ended or nothing came.
    pub async fn try_next_item(&mut self, wait: Duration) -> Option<SseItem> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(bytes))) => self.feed(&bytes),
                Ok(Ok(None) | Err(_)) => self.ended = true,
            }
        }
    }

    /// The next event (skipping comments), failing the test after `WAIT`.
    pub async fn next_event(&mut self) -> SseEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next_item(left).await {
                Some(SseItem::Event(event)) => return event,
                Some(SseItem::Comment(_)) => {}
                None if self.ended => panic!("the stream ended"),
                None => panic!("no event within the wait"),
            }
        }
    }

    /// Read to the end of the stream (within twice `WAIT`), returning the events on the way.
    pub async fn until_end(&mut self) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next_item(left).await {
                Some(SseItem::Event(event)) => events.push(event),
                Some(SseItem::Comment(_)) => {}
                None if self.ended => return events,
                None => panic!("the stream did not end; events so far: {events:?}"),
            }
        }
    }

    /// Collect `n` post events (skipping `resumed`), with their ids and frames' cursors.
    pub async fn posts(&mut self, n: usize) -> Vec<(u64, Cursor, Option<String>)> {
        let mut out = Vec::new();
        while out.len() < n {
            let event = self.next_event().await;
            match event.frame() {
                ServerFrame::Post { id, cursor, .. } => {
                    assert_eq!(event.event, "post");
                    out.push((id, cursor, event.id.clone()));
                }
                ServerFrame::Resumed { .. } => {}
                other => panic!("expected a post, got {other:?}"),
            }
        }
        out
    }

    /// Assert no event arrives for `wait` (comments may).
    pub async fn silent_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next_item(left).await {
                Some(SseItem::Event(event)) => panic!("expected silence, got {event:?}"),
                Some(SseItem::Comment(_)) => {}
                None => return,
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = String::from_utf8(std::mem::take(&mut self.pending))
                        .expect("event streams are UTF-8");
                    self.line(&line);
                }
                _ => self.pending.push(byte),
            }
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                self.ready.push_back(SseItem::Event(SseEvent {
                    id: self.id.take(),
                    event: self.event.take().unwrap_or_else(|| "message".into()),
                    data,
                }));
            }
            self.id = None;
            self.event = None;
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            self.ready
                .push_back(SseItem::Comment(comment.trim_start().to_owned()));
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => {
                self.id = Some(value.to_owned());
                self.last_event_id = value.to_owned();
            }
            _ => {}
        }
    }
}
