//! docs/operations.md, "Traces": the real binary with the standard `OTEL_EXPORTER_OTLP_*`
//! variables exports one trace per submission (the POST, the guard, the log write, and each
//! delivery attempt, joined across the queue by the row) to a local OTLP/HTTP receiver, under
//! the caller's W3C `traceparent`.

use crate::crash::{free_port, wait_healthy, Relay};
use crate::fake_ortto::FakeOrtto;
use crate::helpers::test_client;
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One exported span: (name, trace id, span id, parent span id).
type Span = (String, String, String, String);
/// Every span an OTLP/HTTP JSON export carried.
type Spans = Arc<Mutex<Vec<Span>>>;

async fn receiver() -> (String, Spans, actix_web::dev::ServerHandle) {
    let spans: Spans = Arc::default();
    let shared = web::Data::from(spans.clone());
    let server = HttpServer::new(move || {
        App::new().app_data(shared.clone()).route(
            "/v1/traces",
            web::post().to(
                |body: web::Bytes, spans: web::Data<Mutex<Vec<Span>>>| async move {
                    let export: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut kept = spans.lock().unwrap();
                    for resource in export["resourceSpans"].as_array().into_iter().flatten() {
                        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                            for span in scope["spans"].as_array().into_iter().flatten() {
                                let text = |key: &str| span[key].as_str().unwrap_or("").to_owned();
                                kept.push((
                                    text("name"),
                                    text("traceId"),
                                    text("spanId"),
                                    text("parentSpanId"),
                                ));
                            }
                        }
                    }
                    HttpResponse::Ok().content_type("application/json").body("{}")
                },
            ),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (address, spans, handle)
}

#[actix_web::test]
async fn a_submission_is_one_trace_from_the_post_to_each_delivery_attempt() {
    let (otlp, spans, handle) = receiver().await;
    let ortto = FakeOrtto::start().await;
    ortto.script([crate::fake_ortto::Reply::status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nport = {port}\n[database]\npath = 'relay.db'\n[forms.demo]\nenabled = true\n\
             [ortto]\nbase_url = '{}'\nlimit_outbound = false\n[delivery]\nbackoff_base_ms = 20\nbackoff_cap_ms = 50\npoll_interval_ms = 50\n",
            ortto.base_url
        ),
    )
    .unwrap();
    let child = crate::commands::relay_binary()
        .args(["--config", config.to_str().unwrap(), "serve"])
        .current_dir(dir.path())
        .env("ORTTO_API_KEY", crate::helpers::TEST_ORTTO_KEY)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _relay = Relay::from(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base).await;

    // The caller's trace: the relay's spans must join it.
    let (trace_id, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let response = test_client()
        .post(format!("{base}/f/demo"))
        .insert_header(("traceparent", format!("00-{trace_id}-{caller_span}-01")))
        .insert_header(("Accept", "application/json"))
        .send_json(&serde_json::json!({"email": "a@example.com", "message": "traced"}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);

    // A failed attempt, then a delivered one: two attempt spans.
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = spans.lock().unwrap().clone();
        let attempts = found.iter().filter(|s| s.0 == "delivery attempt").count();
        if attempts >= 2 || Instant::now() > deadline {
            break found;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    let named = |name: &str| {
        found
            .iter()
            .filter(|s| s.0 == name && s.1 == trace_id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let post = named("POST /f/{form}");
    assert_eq!(post.len(), 1, "the POST joins the caller's trace: {found:#?}");
    assert_eq!(post[0].3, caller_span, "its parent is the caller's span");
    let post_span = &post[0].2;
    for child in ["guard", "log write"] {
        let spans = named(child);
        assert_eq!(spans.len(), 1, "{child}: {found:#?}");
        assert_eq!(&spans[0].3, post_span, "{child} is a child of the POST");
    }
    let attempts = named("delivery attempt");
    assert_eq!(
        attempts.len(),
        2,
        "each delivery attempt, across the queue: {found:#?}"
    );
    assert!(attempts.iter().all(|a| &a.3 == post_span));
    handle.stop(true).await;
}
