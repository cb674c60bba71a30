//! Process-wide metrics recorder and log setup (with span export when traces are on).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::trace_export::TraceExport;

/// Bucket bounds (seconds) of latency histograms: around the 25 ms / 100 ms targets, so the
/// share of pushes over each reads straight off the counts, summed over every gateway
/// (summaries, the exporter's default, cannot be added up across processes).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The Prometheus recorder, installed on first use. A process has one global recorder, so
/// several in-process nodes (tests) share it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; ours then just stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Log filter unless configured.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Install the tracing subscriber; `filter` uses `RUST_LOG` syntax (e.g. `info,pushgate=debug`)
/// and applies to logs only. With `traces`, its layer exports pushgate's trace spans whatever
/// the log filter says.
pub fn init_logging(format: LogFormat, filter: &str, traces: Option<&TraceExport>) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    // Logs go to stderr so stdout carries only what the binary prints for its caller.
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr)
        // Colour codes only for people at a terminal, never in files and CI logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let logs = match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().flatten_event(true).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces.map(TraceExport::layer))
        .try_init();
}
