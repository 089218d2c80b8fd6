//! Structured logs with `tracing`: plain for people, JSON for collectors. And traces
//! (docs/operations.md, "Traces"): OpenTelemetry over OTLP/HTTP when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, off (and costing nothing) otherwise.

use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// What must be flushed before the process exits: the trace exporter, when traces are on.
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces {
            if let Err(error) = provider.shutdown() {
                eprintln!("traces: the last spans were not sent: {error}");
            }
        }
    }
}

/// Installs the global subscriber; `RUST_LOG` overrides the configured filter. With
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, spans also go
/// to that OTLP/HTTP receiver (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf` or `http/json`).
pub fn init(filter: &str, json: bool) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    // Colour codes only for a person at a terminal, never in a file or a collector's pipe.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let lines = fmt::layer()
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let lines = if json { lines.json().boxed() } else { lines.boxed() };
    let traces = otlp_traces();
    let spans = traces
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("talk-relay")));
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(spans)
        .try_init();
    if let Err(error) = result {
        eprintln!("logging was already set up: {error}");
    }
    if traces.is_some() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        crate::traces::switch_on();
    }
    Telemetry { traces }
}

/// The OTLP exporter the standard variables ask for; `None` when none is set (or it cannot
/// be built, which is said once).
fn otlp_traces() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    if !set("OTEL_EXPORTER_OTLP_ENDPOINT") && !set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return None;
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build();
    match exporter {
        Ok(exporter) => Some(
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder()
                        .with_service_name("talk-relay")
                        .build(),
                )
                .build(),
        ),
        Err(error) => {
            eprintln!("traces are off: the OTLP exporter could not be built: {error}");
            None
        }
    }
}

/// An error with its causes, `outer: inner: root`, for one log field.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The request span. Unlike the default it records the route *template* (never the query
/// string, where a hook's `?token=` travels) and the client IP as the guard sees it (trusting
/// forwarded headers only from `server.trusted_proxies`), plus the request id.
pub struct RelayRootSpan;

impl tracing_actix_web::RootSpanBuilder for RelayRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage;
        let route = request.match_pattern().unwrap_or_else(|| "(no route)".to_owned());
        let request_id = request
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let client_ip = request
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .and_then(|state| {
                let server = &state.config().server;
                crate::guard::client_ip(
                    request.request(),
                    &server.trusted_proxies,
                    &server.client_ip_header,
                )
            })
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "HTTP request",
            otel.name = %format!("{} {route}", request.method()),
            otel.kind = "server",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id,
            client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        );
        // An incoming W3C `traceparent` makes this request part of the caller's trace.
        let incoming = request.headers().get("traceparent").and_then(|v| v.to_str().ok());
        crate::traces::continue_trace(&span, incoming);
        span
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
