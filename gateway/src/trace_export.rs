//! OTLP trace export: what a process installs when `--otlp-endpoint` is set.
//!
//! Spans (`tracing` spans on `pushgate_fanout::trace::TARGET`) become OpenTelemetry spans
//! through `tracing-opentelemetry`, are batched on a tokio task and sent over OTLP/HTTP
//! (protobuf) with the workspace's async reqwest client (rustls), so no thread blocks on the
//! network and no second TLS stack comes in. Sampling is parent-based: the API decides per
//! post (by ratio) and every later span follows the decision carried in the post's context.
//! Headers for the collector (credentials) come from the standard
//! `OTEL_EXPORTER_OTLP_HEADERS`, which the exporter reads; they are never logged.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

/// Share of new traces sampled when `--otlp-sample-ratio` is not given: all of them. A post
/// costs one span per process it crosses (API, worker, each gateway holding a recipient),
/// never one per recipient or socket, so tracing every post is affordable at the rates one
/// API node takes; turning the exporter on should show every post at once. High-volume
/// deployments lower it (0.1, 0.01).
pub const DEFAULT_SAMPLE_RATIO: f64 = 1.0;

/// The path OTLP/HTTP receivers take spans at, under the collector's base URL.
const TRACES_PATH: &str = "v1/traces";

/// Where and how much to trace.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceExportConfig {
    /// The collector's OTLP/HTTP base URL (e.g. `http://collector:4318`); spans go to
    /// `<endpoint>/v1/traces`, as with `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    /// Share of new traces (API requests) sampled, 0 to 1; other spans follow their parent.
    pub sample_ratio: f64,
}

/// Why trace export settings are refused or the exporter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TraceExportError {
    /// `--otlp-endpoint` is not an absolute `http`/`https` URL.
    #[error("otlp-endpoint must be an http:// or https:// URL with a host")]
    Endpoint,
    /// `--otlp-sample-ratio` is outside 0..=1 (or not a number).
    #[error("otlp-sample-ratio must be between 0 and 1, got {0}")]
    SampleRatio(f64),
    /// The OTLP exporter refused its configuration.
    #[error("cannot build the OTLP exporter")]
    Exporter(#[source] ExporterBuildError),
}

impl TraceExportConfig {
    /// Export to `endpoint` with the default sample ratio.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            sample_ratio: DEFAULT_SAMPLE_RATIO,
        }
    }

    /// These settings, if they are usable.
    pub fn validate(self) -> Result<Self, TraceExportError> {
        let url = reqwest::Url::parse(&self.endpoint).map_err(|_| TraceExportError::Endpoint)?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(TraceExportError::Endpoint);
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(TraceExportError::SampleRatio(self.sample_ratio));
        }
        Ok(self)
    }

    /// The URL spans are posted to.
    fn traces_url(&self) -> String {
        format!("{}/{TRACES_PATH}", self.endpoint.trim_end_matches('/'))
    }
}

/// A running exporter; [`TraceExport::shutdown`] flushes what is still batched.
#[derive(Debug)]
pub struct TraceExport {
    /// Owns the batch processor and the exporter; shut down on drain.
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Start exporting as `service` (the `service.name` of every span): builds the exporter
    /// and its batch task (so this runs inside the tokio runtime), sets the W3C propagator and
    /// turns on span creation in `pushgate_fanout::trace`. Install [`TraceExport::layer`] in the
    /// subscriber right after.
    pub fn start(config: &TraceExportConfig, service: &str) -> Result<Self, TraceExportError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.traces_url())
            .build()
            .map_err(TraceExportError::Exporter)?;
        let processor =
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                config.sample_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(service.to_owned())
                    .with_attribute(opentelemetry::KeyValue::new(
                        "service.version",
                        env!("CARGO_PKG_VERSION"),
                    ))
                    .build(),
            )
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        pushgate_fanout::trace::enable();
        Ok(Self { provider })
    }

    /// The `tracing` layer that turns pushgate's trace spans (only those) into exported spans.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("pushgate"))
            // Source locations, threads, busy/idle times and the target would double each span's size
            // and say nothing about a post's path.
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_filter(
                Targets::new().with_target(pushgate_fanout::trace::TARGET, tracing::Level::INFO),
            )
    }

    /// Export what is still batched and stop. On the blocking pool: the SDK waits for its
    /// batch task synchronously, which must not hold up a runtime thread it may need.
    pub async fn shutdown(self) {
        let provider = self.provider;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "trace export shutdown failed; spans may be lost")
            }
            Err(e) => tracing::warn!(error = %e, "trace export shutdown task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_http_urls_and_ratios_fractions() {
        let ok = TraceExportConfig::new("http://collector:4318/");
        assert_eq!(
            ok.clone().validate().expect("valid").traces_url(),
            "http://collector:4318/v1/traces"
        );
        assert!(
            TraceExportConfig::new("https://c.example/otlp")
                .validate()
                .is_ok()
        );
        for bad in ["collector:4318", "ftp://c:21", "", "http://"] {
            assert!(
                matches!(
                    TraceExportConfig::new(bad).validate(),
                    Err(TraceExportError::Endpoint)
                ),
                "{bad:?}"
            );
        }
        for ratio in [-0.1, 1.5, f64::NAN] {
            let config = TraceExportConfig {
                sample_ratio: ratio,
                ..ok.clone()
            };
            assert!(matches!(
                config.validate(),
                Err(TraceExportError::SampleRatio(_))
            ));
        }
    }
}
