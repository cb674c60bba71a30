//! The `pushgate` binary: parses settings, starts the chosen roles, drains on SIGTERM/Ctrl-C.

mod cli;
mod config_check;
mod config_file;
mod plan;

use anyhow::Context;
use pushgate_fanout::backplane::Backplane;
use pushgate_fanout::redis::RedisConfig;
use pushgate_fanout::token::TokenVerifier;
use pushgate_gateway::config::NodeConfig;
use pushgate_gateway::roles::start;
use pushgate_gateway::telemetry::{init_logging, metrics_handle};
use pushgate_gateway::trace_export::TraceExport;

use crate::cli::{Command, ConfigCommand, Role};
use crate::config_file::{ParseError, Parsed};
use crate::plan::{Plan, Store};

/// jemalloc rather than glibc's malloc. Every connect allocates a tokio task cell aligned to
/// 128 bytes, which glibc serves by over-allocating a chunk and splitting it (about 1,100
/// instructions each time, callgrind); jemalloc's size classes are aligned already. Measured on
/// `pushgate dev` (BENCHMARKS.md): about 2.5 us less CPU per connect, and no more memory per
/// idle socket than glibc's (somewhat less in most runs).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let parsed = match config_file::parse(std::env::args_os().collect()) {
        Ok(parsed) => parsed,
        // Help, version and usage errors print as clap formats them, with its exit codes.
        Err(ParseError::Clap(e)) => e.exit(),
        Err(ParseError::File(e)) => return Err(e.into()),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = parsed.cli.runtime.worker_threads {
        runtime.worker_threads(threads.get());
    }
    runtime
        .enable_all()
        .build()
        .context("cannot start the runtime")?
        .block_on(run(parsed))
}

async fn run(parsed: Parsed) -> anyhow::Result<()> {
    let Parsed { cli, matches, file } = parsed;
    let role = match cli.command {
        Command::Token(args) => {
            init_logging(cli.log.log_format.into(), &cli.log.log, None);
            println!(
                "{}",
                TokenVerifier::new(&args.jwt_secret, "").mint(&args.user, args.ttl_secs)
            );
            return Ok(());
        }
        Command::Role(role) => role,
        Command::Config(ConfigCommand::Check { role }) => {
            // `config_file::parse` fills in `dev` when no role was named.
            let role = role.context("config check has a role")?;
            return config_check::check(&role, &matches, file.as_ref());
        }
    };
    let traces = match cli.trace.config() {
        Some(config) => {
            let config = config.validate().context("invalid settings")?;
            let export = TraceExport::start(&config, service_name(&role));
            Some(export.context("cannot export traces")?)
        }
        None => None,
    };
    init_logging(cli.log.log_format.into(), &cli.log.log, traces.as_ref());
    // Settings are validated before Redis is awaited, so a bad one fails at once.
    let plan = Plan::of(&role).context("invalid settings")?;
    // The recorder goes in before Redis is reached, so failures while connecting are counted.
    metrics_handle();
    let backplane = match &plan.store {
        Store::Memory(config) => Backplane::memory(config),
        Store::Redis(config) => connect_redis(config).await?,
    };
    warn_on_dev_secrets(&plan.config);
    let node = start(plan.config, plan.roles, backplane).await?;
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

/// The `service.name` a role's spans carry.
fn service_name(role: &Role) -> &'static str {
    match role {
        Role::Dev(_) => "pushgate-dev",
        Role::Gateway(_) => "pushgate-gateway",
        Role::Worker(_) => "pushgate-worker",
        Role::Api(_) => "pushgate-api",
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
