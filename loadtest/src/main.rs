//! `pushgate-loadtest`: runs a scenario (or, internally, one worker process) and prints the
//! report.

use anyhow::Context;
use clap::Parser;
use pushgate_loadtest::cli::Cli;
use pushgate_loadtest::{RunSpec, run_load, run_worker, write_svg};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let Some(spec) = RunSpec::from_command(cli.command) else {
        // A worker is one core's worth of clients: a single-threaded runtime keeps its shared
        // counters uncontended; parallelism comes from running several workers.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(run_worker()).context("worker failed");
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let exe = std::env::current_exe().context("locating own executable for workers")?;
    let report = runtime
        .block_on(run_load(&spec, &exe))
        .context("load test failed")?;
    print!("{report}");
    if let Some(path) = &spec.run.json {
        report
            .write_json(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &spec.run.svg {
        let title = format!(
            "pushgate-loadtest {} ({} sockets)",
            spec.scenario, spec.run.connections
        );
        write_svg(path, &title, &report.timeline)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
