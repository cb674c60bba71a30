//! Trace context propagation: the spans of one post's work, joined across processes.
//!
//! Spans are `tracing` spans on [`TARGET`]; the process's OpenTelemetry layer (installed by
//! the binary when it exports traces, see `pushgate_gateway::trace_export`) turns them into
//! OpenTelemetry spans. A post's trace context travels as a W3C `traceparent`
//! ([`TraceParent`]) in its fan-out event and in each node batch it becomes. Without an
//! exporter nothing here does any work: every function checks one flag first and the spans
//! are never created, so untraced processes pay a branch per event.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use pushgate_protocol::{FeedItem, TraceParent};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of every exported span; the exporter's layer takes only these, so
/// connection spans and logs stay out of traces.
pub const TARGET: &str = "pushgate::trace";

/// The W3C header name, the one key a carried context has.
const TRACEPARENT: &str = "traceparent";

/// Set once the process exports spans.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Start making spans and carrying context. Called by whoever installed the OpenTelemetry
/// layer and the W3C trace-context propagator as the global one.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether this process exports spans.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The span of an API request, made by `make`: the child of the caller's `traceparent` when
/// it sent a valid one (its trace then holds our work, and its sampling decision stands),
/// else a new root, sampled at the sampler's ratio; a disabled one when this process exports
/// nothing.
pub fn request(caller: Option<&TraceParent>, make: impl FnOnce() -> Span) -> Span {
    if !enabled() {
        return Span::none();
    }
    match caller.and_then(remote_context) {
        Some(context) => with_parent(make(), context),
        None => make(),
    }
}

/// A span made by `make` as the child of `parent` (a span in another process), or a
/// disabled one when the work is untraced, this process exports nothing or `parent` is
/// not a valid `traceparent`.
pub fn child_of(parent: Option<&TraceParent>, make: impl FnOnce() -> Span) -> Span {
    match parent.filter(|_| enabled()).and_then(remote_context) {
        Some(context) => with_parent(make(), context),
        None => Span::none(),
    }
}

/// The remote span `parent` names, if it is a valid `traceparent`.
fn remote_context(parent: &TraceParent) -> Option<opentelemetry::Context> {
    let context = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Carrier(Some(parent.as_str().to_owned())))
    });
    context.span().span_context().is_valid().then_some(context)
}

/// `span` under the remote `context`.
fn with_parent(span: Span, context: opentelemetry::Context) -> Span {
    // Fails only when the layer is absent or the span already started: then it is a root.
    let _ = span.set_parent(context);
    span
}

/// The context to hand on from `span`: its own when it is sampled, else `incoming` as it
/// came (a process exporting nothing passes its caller's context through, so the trace
/// still joins the next process that exports).
pub fn handed_on(span: &Span, incoming: Option<&TraceParent>) -> Option<TraceParent> {
    of(span).or_else(|| incoming.cloned())
}

/// The context of the current span, for a store that appends the fan-out event inside the
/// request's span.
pub fn current() -> Option<TraceParent> {
    if !enabled() {
        return None;
    }
    of(&Span::current())
}

/// `span`'s context as a `traceparent`, when it is sampled. Unsampled traces are not carried:
/// with parent-based sampling every later span would be dropped anyway.
fn of(span: &Span) -> Option<TraceParent> {
    if !enabled() || span.is_disabled() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_sampled() {
        return None;
    }
    let mut carrier = Carrier(None);
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut carrier)
    });
    carrier.0.map(TraceParent::new)
}

/// The `pushgate.item.kind` of a span about `item`: `post` or `notify`.
pub fn item_kind(item: &FeedItem) -> &'static str {
    match item {
        FeedItem::Post { .. } => "post",
        FeedItem::Notify { .. } => "notify",
    }
}

/// `n` as an attribute value: OpenTelemetry integers are `i64`, and `tracing-opentelemetry`
/// would turn a `u64` into text.
pub fn int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// A header map holding only `traceparent`: the one thing carried (`tracestate` is for
/// vendors between services; a post's trace starts at the API).
struct Carrier(Option<String>);

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0.as_deref()).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}
