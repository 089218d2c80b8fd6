//! Structured logs with `tracing`: plain for people, JSON for collectors.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber; `RUST_LOG` overrides the configured filter.
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    // Colour codes only for a person at a terminal, never in a file or a collector's pipe.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(error) = result {
        eprintln!("logging was already set up: {error}");
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
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id,
            client_ip = %client_ip,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
