//! Trace context across the relay (docs/operations.md, "Traces"): whether spans are exported,
//! and the W3C `traceparent` that ties a request, its row and its deliveries into one trace.
//! A leaf module, so that intake and delivery can use it; `telemetry` switches it on.

use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Whether traces are exported: set once at start.
static TRACING: AtomicBool = AtomicBool::new(false);

/// Traces are exported from now on.
pub(crate) fn switch_on() {
    TRACING.store(true, Ordering::Relaxed);
}

/// Whether spans are exported (so the work of linking them is worth doing).
pub fn tracing_on() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// The current span as a W3C `traceparent`, kept with a row so its deliveries join its trace;
/// `None` while traces are off.
pub fn current_traceparent() -> Option<String> {
    if !tracing_on() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace a `traceparent` names (an incoming request's header, or
/// the one a row kept). Does nothing while traces are off.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|_| tracing_on()) else {
        return;
    };
    let carrier = std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    let _ = span.set_parent(parent);
}
