//! Starting and stopping a process's roles: gateway, fan-out worker and REST API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use pushgate_fanout::api::{self, ApiLimits, ApiState};
use pushgate_fanout::backplane::{Backplane, BackplaneError, NodeInfo};
use pushgate_fanout::drain::Drain;
use pushgate_fanout::http::Problem;
use pushgate_fanout::ring_watcher::watch_ring;
use pushgate_fanout::token::{TokenSetupError, TokenVerifier};
use pushgate_fanout::worker::{Worker, WorkerConfig};
use pushgate_protocol::ErrorCode;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

use crate::config::NodeConfig;
use crate::gateway::Gateway;
use crate::listener::Listener;
use crate::telemetry::metrics_handle;
use crate::{demo, dispatcher, http_server, node_heartbeat, relay, sse, upgrade};

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("backplane: {0}")]
    Backplane(#[from] BackplaneError),
    #[error("token verification: {0}")]
    Tokens(#[from] TokenSetupError),
}

/// Which roles one process plays. `pushgate dev` plays all three on the embedded backplane.
#[derive(Clone, Debug)]
pub struct Roles {
    /// Hold client sockets: serve `/v1/ws`, join the ring, consume the node inbox.
    pub gateway: bool,
    /// Serve the REST API with these limits.
    pub api: Option<ApiLimits>,
    /// Run a fan-out worker.
    pub worker: Option<WorkerConfig>,
    /// Mount `POST /v1/dev/token` (development only).
    pub dev_tokens: bool,
    /// Serve the live demo page at `GET /` (on in `pushgate dev`, elsewhere with `--demo`).
    pub demo: bool,
}

impl Roles {
    /// Everything in one process, as `pushgate dev` runs.
    pub fn dev(worker: WorkerConfig, limits: ApiLimits) -> Self {
        Self {
            gateway: true,
            api: Some(limits),
            worker: Some(worker),
            dev_tokens: true,
            demo: true,
        }
    }
}

/// A running node: what it listens on and how to stop it.
#[derive(Debug)]
pub struct RunningNode {
    /// The bound address (useful when the config said port 0).
    pub addr: SocketAddr,
    /// The gateway state when this process holds sockets, for tests and introspection.
    pub gateway: Option<Arc<Gateway>>,
    drain: Drain,
}

impl RunningNode {
    /// The gateway role's state; panics when this process has no gateway role.
    pub fn gateway(&self) -> &Arc<Gateway> {
        self.gateway
            .as_ref()
            .expect("this node runs the gateway role")
    }

    /// Drain: leave the ring, send every client `reconnect`, close, and wait for all tasks.
    pub async fn shutdown(self) {
        if let Some(gateway) = &self.gateway {
            gateway.prepare_drain();
        }
        self.drain.drain_and_wait().await;
    }
}

/// Start `pushgate dev`: gateway, worker and REST API in one process on `backplane`.
pub async fn start_dev(
    config: NodeConfig,
    backplane: Backplane,
    worker: WorkerConfig,
    limits: ApiLimits,
) -> Result<RunningNode, StartError> {
    start(config, Roles::dev(worker, limits), backplane).await
}

/// Start the given roles on `backplane`, all HTTP on `config.listen`.
///
/// Backplane calls at start are best effort: a backplane that is down now is retried by the
/// background tasks, so a process started before Redis heals by itself.
pub async fn start(
    config: NodeConfig,
    roles: Roles,
    backplane: Backplane,
) -> Result<RunningNode, StartError> {
    let bind_error = |source| StartError::Bind {
        addr: config.listen,
        source,
    };
    // Bound by tokio (SO_REUSEADDR, as a restarted node needs), accepted by our `Listener`.
    let bound = TcpListener::bind(config.listen).await.map_err(bind_error)?;
    let addr = bound.local_addr().map_err(bind_error)?;
    let listener = bound
        .into_std()
        .and_then(Listener::new)
        .map_err(bind_error)?;
    // Clients speak first, so a connection is taken once its request is here rather than read
    // in vain and woken for again. One silent that long is handed over anyway, and then has
    // the header timeout to speak as any other.
    if let Err(error) = listener.defer_accept(http_server::HEADER_READ_TIMEOUT) {
        tracing::warn!(%error, "cannot defer accepting connections until they send");
    }
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("ws://{addr}/v1/ws"));
    let drain = Drain::new();
    // One verifier for the socket, the refresh frame and REST, so a JWKS is fetched once;
    // started by the first role that checks tokens, so a worker fetches and follows nothing.
    let verifier = OnceCell::new();
    let start_verifier = || start_verifier(&config, &backplane, &drain);
    // Install the recorder before any task records a metric; earlier records would be lost.
    let metrics = metrics_handle();
    // Shown so an operator can check what `--worker-threads` (or the core count) gave.
    metrics::gauge!("pushgate_runtime_worker_threads")
        .set(tokio::runtime::Handle::current().metrics().num_workers() as f64);

    if roles.gateway {
        // Announce before the ring watcher's first look, so the ring is not empty at start.
        let info = NodeInfo {
            id: config.node_id.clone(),
            url: public_url.clone(),
            connections: 0,
            capacity: config.max_connections,
        };
        if let Err(e) = backplane
            .membership
            .heartbeat(&info, config.membership_interval * 3)
            .await
        {
            tracing::warn!(error = %e, "first membership heartbeat failed; retrying in the background");
        }
    }
    let ring = watch_ring(
        backplane.membership.clone(),
        config.membership_interval,
        &drain,
    )
    .await;

    let mut app = Router::new();
    // WebSocket upgrades are outside CORS (browsers send `Origin` and read no headers), so
    // they join the router after its CORS layer; `admit` checks their origin.
    let mut upgrades = Router::new();
    let mut gateway = None;
    if roles.gateway {
        let inbox = backplane.bus.subscribe(&config.node_id).await?;
        let node = Gateway::new(
            config.clone(),
            public_url,
            backplane.clone(),
            ring.clone(),
            verifier.get_or_try_init(start_verifier).await?.clone(),
            drain.clone(),
        );
        // At zero from the start, so a rate and an alert have a series before the first fold.
        metrics::counter!("pushgate_pushes_folded_total").increment(0);
        drain.spawn(dispatcher::run(node.clone(), inbox));
        drain.spawn(node.write_coalescer.clone().run(drain.clone()));
        drain.spawn(node.handshake_limiter.clone().run(drain.clone()));
        drain.spawn(node_heartbeat::run(node.clone()));
        drain.spawn(relay::announce(node.clone()));
        drain.spawn(node.clone().send_everyone_away_on_drain());
        upgrades = Router::new()
            .route("/v1/ws", get(upgrade::upgrade))
            .with_state(node.clone());
        app = app.merge(
            Router::new()
                .route(sse::SSE_PATH, get(sse::events))
                .with_state(node.clone()),
        );
        gateway = Some(node);
    }
    if let Some(worker) = roles.worker {
        drain.spawn(Worker::new(backplane.clone(), ring.clone(), worker).run(drain.clone()));
    }
    app = match roles.api {
        Some(limits) => {
            let verifier = verifier.get_or_try_init(start_verifier).await?.clone();
            let state = ApiState::new(backplane, verifier, ring, metrics, &limits, drain.clone());
            app.merge(api::router(state, roles.dev_tokens))
        }
        // Roles without the API still answer operators.
        None => {
            let draining = drain.clone();
            app.route("/healthz", get(|| async { "ok" }))
                .route(
                    "/readyz",
                    get(move || ready_unless_draining(draining.clone())),
                )
                .route("/metrics", get(move || async move { metrics.render() }))
        }
    };
    if roles.demo {
        app = app.merge(demo::router());
    }
    let app = app
        .layer(config.allowed_origins.cors_layer())
        .merge(upgrades);
    drain.spawn(http_server::serve(
        listener,
        app,
        gateway.clone(),
        drain.clone(),
    ));
    Ok(RunningNode {
        addr,
        gateway,
        drain,
    })
}

/// Readiness of a process without the API (a gateway, a worker): ready until it drains, so a
/// load balancer stops sending new clients to a gateway that is sending its clients away.
async fn ready_unless_draining(drain: Drain) -> Result<&'static str, Problem> {
    if drain.is_draining() {
        return Err(Problem::new(
            ErrorCode::Draining,
            "this process is shutting down",
        ));
    }
    Ok("ready")
}

/// The token verifier, with the revocation list read before anyone is served and followed
/// after.
async fn start_verifier(
    config: &NodeConfig,
    backplane: &Backplane,
    drain: &Drain,
) -> Result<TokenVerifier, StartError> {
    let verifier = TokenVerifier::start(&config.tokens, &config.api_key, drain).await?;
    let revoked = verifier.revoked().clone();
    let since = revoked.catch_up(backplane.revocations.as_ref(), 0).await;
    drain.spawn(revoked.follow(
        backplane.revocations.clone(),
        since,
        verifier.revocation_lifetime(),
        drain.clone(),
    ));
    Ok(verifier)
}
