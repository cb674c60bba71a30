//! The `pushgate` binary: parses settings, starts the chosen roles, drains on SIGTERM/Ctrl-C.

mod cli;

use anyhow::Context;
use clap::Parser;
use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::redis::RedisConfig;
use pushgate_fanout::token::TokenVerifier;
use pushgate_gateway::config::NodeConfig;
use pushgate_gateway::roles::{Roles, start};
use pushgate_gateway::telemetry::init_logging;
use pushgate_gateway::trace_export::TraceExport;

use crate::cli::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.runtime.worker_threads {
        runtime.worker_threads(threads.get());
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let traces = match (cli.trace.config(), service_name(&cli.command)) {
        (Some(config), Some(service)) => {
            let config = config.validate().context("invalid settings")?;
            Some(TraceExport::start(&config, service).context("cannot export traces")?)
        }
        _ => None,
    };
    init_logging(cli.log.log_format.into(), &cli.log.log, traces.as_ref());
    // Settings are validated before Redis is awaited, so a bad one fails at once.
    let (config, roles, backplane) = match cli.command {
        Command::Dev(args) => {
            let config = args.gateway.config(&args.common, "dev").validate();
            let roles = Roles::dev(args.worker.config(), args.api.limits());
            (
                config.context("invalid settings")?,
                roles,
                Backplane::memory(&args.memory()),
            )
        }
        Command::Gateway(args) => {
            let default_id = format!("gw-{}", args.common.listen.port());
            let config = args
                .gateway
                .config(&args.common, &default_id)
                .validate_production()
                .context("invalid settings")?;
            let roles = Roles {
                gateway: true,
                api: None,
                worker: None,
                dev_tokens: false,
            };
            (config, roles, connect_redis(&args.redis.config()).await?)
        }
        Command::Worker(args) => {
            let config = args
                .common
                .config()
                .validate_production()
                .context("invalid settings")?;
            let roles = Roles {
                gateway: false,
                api: None,
                worker: Some(args.worker.config()),
                dev_tokens: false,
            };
            (config, roles, connect_redis(&args.redis.config()).await?)
        }
        Command::Token(args) => {
            println!(
                "{}",
                TokenVerifier::new(&args.jwt_secret, "").mint(&args.user, args.ttl_secs)
            );
            return Ok(());
        }
        Command::Api(args) => {
            let config = args
                .common
                .config()
                .validate_production()
                .context("invalid settings")?;
            let roles = Roles {
                gateway: false,
                api: Some(args.api.limits()),
                worker: None,
                dev_tokens: false,
            };
            (config, roles, connect_redis(&args.redis.config()).await?)
        }
    };
    warn_on_dev_secrets(&config);
    let node = start(config, roles, backplane).await?;
    match &node.gateway {
        Some(gateway) => println!(
            "pushgate listening on http://{} (WebSocket: {})",
            node.addr, gateway.public_url
        ),
        None => println!("pushgate listening on http://{}", node.addr),
    }
    tracing::info!(addr = %node.addr, "pushgate listening");
    shutdown_signal().await;
    tracing::info!("draining");
    node.shutdown().await;
    // After the drain, so the spans of the last pushes are in the final export.
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    Ok(())
}

/// The `service.name` a role's spans carry; none for commands that serve nothing.
fn service_name(command: &Command) -> Option<&'static str> {
    match command {
        Command::Dev(_) => Some("pushgate-dev"),
        Command::Gateway(_) => Some("pushgate-gateway"),
        Command::Worker(_) => Some("pushgate-worker"),
        Command::Api(_) => Some("pushgate-api"),
        Command::Token(_) => None,
    }
}

fn warn_on_dev_secrets(config: &NodeConfig) {
    if config.tokens.secret == pushgate_gateway::DEV_JWT_SECRET {
        tracing::warn!(
            "using the development JWT secret: set PUSHGATE_JWT_SECRET outside development"
        );
    }
    if config.api_key == pushgate_gateway::DEV_API_KEY {
        tracing::warn!("using the development API key: set PUSHGATE_API_KEY outside development");
    }
}

/// Connect to Redis, retrying with backoff: a process started before Redis waits for it
/// instead of exiting, so start order does not matter.
async fn connect_redis(config: &RedisConfig) -> anyhow::Result<Backplane> {
    let mut delay = std::time::Duration::from_millis(100);
    loop {
        match Backplane::redis(config).await {
            Ok(backplane) => return Ok(backplane),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Redis not reachable yet");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown_signal() => anyhow::bail!("stopped while waiting for Redis"),
                }
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (the deploy signal).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
