//! A fake Ortto for `bench/run` that answers every compose request at once and counts them.

use actix_web::{web, App, HttpResponse, HttpServer};
use std::sync::atomic::{AtomicU64, Ordering};

static COMPOSED: AtomicU64 = AtomicU64::new(0);

async fn compose() -> HttpResponse {
    let n = COMPOSED.fetch_add(1, Ordering::Relaxed) + 1;
    HttpResponse::Ok().body(format!(
        r#"{{"conversation_id":"c{n}","person_id":"p{n}","person_status":"created"}}"#
    ))
}

async fn count() -> HttpResponse {
    HttpResponse::Ok().body(COMPOSED.load(Ordering::Relaxed).to_string())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(18082);
    HttpServer::new(|| {
        App::new()
            .route("/v1/talk/compose", web::post().to(compose))
            .route("/count", web::get().to(count))
            // An OTLP/HTTP sink, for bench/run's phase with traces on.
            .route(
                "/v1/traces",
                web::post().to(|| async { HttpResponse::Ok().body("{}") }),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
