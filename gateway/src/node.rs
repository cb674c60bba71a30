//! Starting and stopping a process's roles: gateway, fan-out worker and REST API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt;
use pushgate_fanout::api::{self, ApiLimits, ApiState};
use pushgate_fanout::backplane::{Backplane, BackplaneError, NodeInfo};
use pushgate_fanout::drain::Drain;
use pushgate_fanout::ring_watcher::watch_ring;
use pushgate_fanout::token::TokenVerifier;
use pushgate_fanout::worker::{Worker, WorkerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::GatewayConfig;
use crate::gateway::Gateway;
use crate::telemetry::metrics_handle;
use crate::{dispatcher, node_heartbeat, upgrade};

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
}

/// A running node: what it listens on and how to stop it.
#[derive(Debug)]
pub struct RunningNode {
    /// The bound address (useful when the config said port 0).
    pub addr: SocketAddr,
    /// The gateway state, for tests and operators' introspection.
    pub gateway: Arc<Gateway>,
    serve: JoinHandle<std::io::Result<()>>,
}

impl RunningNode {
    /// Drain: leave the ring, send every client `reconnect`, close, and wait for all tasks.
    pub async fn shutdown(self) {
        self.gateway.prepare_drain();
        self.gateway.drain.drain_and_wait().await;
        if let Ok(Err(e)) = self.serve.await {
            tracing::warn!(error = %e, "HTTP server ended with an error");
        }
    }
}

/// Start `pushgate dev`: gateway, worker and REST API in one process on `backplane`.
pub async fn start_dev(
    config: GatewayConfig,
    backplane: Backplane,
    worker: WorkerConfig,
    limits: ApiLimits,
) -> Result<RunningNode, StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("ws://{addr}/v1/ws"));
    let drain = Drain::new();

    // Announce before the ring watcher's first look, so the ring is never empty at start.
    let info = NodeInfo {
        id: config.node_id.clone(),
        url: public_url.clone(),
        connections: 0,
    };
    backplane
        .membership
        .heartbeat(&info, config.membership_interval * 3)
        .await?;
    let ring = watch_ring(
        backplane.membership.clone(),
        config.membership_interval,
        &drain,
    );
    let inbox = backplane.bus.subscribe(&config.node_id).await?;

    let verifier = TokenVerifier::new(config.jwt_secret.as_bytes(), &config.api_key);
    let api_state = ApiState::new(
        backplane.clone(),
        verifier,
        ring.clone(),
        metrics_handle(),
        &limits,
        drain.clone(),
    );
    let gateway = Gateway::new(
        config,
        public_url,
        backplane.clone(),
        ring.clone(),
        drain.clone(),
    );
    drain.spawn(dispatcher::run(gateway.clone(), inbox));
    drain.spawn(node_heartbeat::run(gateway.clone()));
    drain.spawn(Worker::new(backplane, ring, worker).run(drain.clone()));

    let app = Router::new()
        .route("/v1/ws", get(upgrade::upgrade))
        .with_state(gateway.clone())
        .merge(api::router(api_state, true));
    let listener = listener.tap_io(|tcp| {
        // Pushes are small and latency-bound: never wait to coalesce them.
        let _ = tcp.set_nodelay(true);
    });
    let shutdown = drain.clone();
    let serve = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    });
    Ok(RunningNode {
        addr,
        gateway,
        serve,
    })
}
