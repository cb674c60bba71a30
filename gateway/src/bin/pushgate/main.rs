//! The `pushgate` binary: parses settings, starts the chosen role, drains on SIGTERM/Ctrl-C.

mod cli;

use anyhow::Context;
use clap::Parser;
use pushgate_fanout::backplane::Backplane;
use pushgate_gateway::node::start_dev;
use pushgate_gateway::telemetry::init_logging;

use crate::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log.log_format.into(), &cli.log.log);
    let node = match cli.command {
        Command::Dev(args) => {
            let config = args
                .gateway
                .config()
                .validate()
                .context("invalid settings")?;
            if config.jwt_secret == pushgate_gateway::DEV_JWT_SECRET {
                tracing::warn!(
                    "using the development JWT secret: set PUSHGATE_JWT_SECRET outside development"
                );
            }
            if config.api_key == pushgate_gateway::DEV_API_KEY {
                tracing::warn!(
                    "using the development API key: set PUSHGATE_API_KEY outside development"
                );
            }
            let backplane = Backplane::memory(&args.memory());
            start_dev(config, backplane, args.worker.config(), args.api.limits()).await?
        }
    };
    tracing::info!(addr = %node.addr, url = %node.gateway.public_url, "pushgate listening");
    println!(
        "pushgate listening on http://{} (WebSocket: {})",
        node.addr, node.gateway.public_url
    );
    shutdown_signal().await;
    tracing::info!("draining");
    node.shutdown().await;
    Ok(())
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
