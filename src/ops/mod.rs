//! Operating endpoints: liveness, readiness, metrics, the admin pages and API, and the
//! attachments' links.

mod access;
mod attachments;
mod charts;
mod error;
pub use error::AdminError;
pub mod admin;
pub mod inbox;
mod quarantine;

use crate::state::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// Operations' routes: `/healthz`, `/readyz`, `/metrics`, and `/admin` with the headers every
/// admin answer carries.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(admin_headers())
            .route("/", web::get().to(admin::status_page))
            .route("", web::get().to(admin::status_page))
            .route("/submissions", web::get().to(admin::list))
            .route("/submissions/{id}", web::get().to(admin::show))
            .route("/submissions/{id}/replay", web::post().to(admin::replay_one))
            .route("/submissions/{id}/release", web::post().to(quarantine::release))
            .route("/submissions/{id}/confirm", web::post().to(quarantine::confirm))
            .route("/replay", web::post().to(admin::replay))
            .route("/stats", web::get().to(admin::stats))
            .route("/person", web::get().to(admin::person))
            .route("/inbox", web::get().to(inbox::list_page))
            .route("/inbox/{id}", web::get().to(inbox::detail_page))
            .route("/submissions.csv", web::get().to(inbox::csv))
            .route("/refusals", web::get().to(admin::refusals))
            .route("/reload", web::post().to(admin::reload)),
    )
    .route("/files/{id}/{name}", web::get().to(attachments::download))
    .route("/files/{id}/{name}", web::head().to(attachments::download))
    .route("/healthz", web::get().to(healthz))
    .route("/readyz", web::get().to(readyz))
    .route("/metrics", web::get().to(metrics));
}

/// Every `/admin` answer: never framed (a Replay click inside another site's frame), never
/// sniffed, never cached (payloads and personal data), no referrer beyond the relay.
fn admin_headers() -> actix_web::middleware::DefaultHeaders {
    actix_web::middleware::DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cache-Control", "no-store"))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

/// `GET /readyz`: the database takes writes (proved by a heartbeat at most once per
/// `database.readiness_probe_ms`, so a flood of probes cannot grow the log), there is disk
/// to spare, and Ortto has not rejected the key. A short rate-limit pause is reported but
/// does not make the relay unready: intake works.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.health.claim_probe() {
        if let Err(error) = state.writer.heartbeat().await {
            tracing::error!(error = %format!("{error:#}"), "readiness check: database not writable");
        }
    }
    let storage = state.health.snapshot();
    let free_mb = storage.free_bytes.map(|b| b / crate::config::MB);
    let mode = if state.deliveries.dry_run() {
        "dry_run"
    } else {
        "live"
    };
    if let Some(reason) = state.health.unready_reason() {
        return HttpResponse::ServiceUnavailable().json(json!({
            "ok": false, "database": "not writable", "mode": mode, "reason": reason,
            "free_mb": free_mb,
        }));
    }
    match state.deliveries.readiness() {
        Err(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "ok": false, "database": "writable", "deliveries": "paused", "mode": mode, "reason": reason,
            "free_mb": free_mb,
        })),
        Ok(Some((reason, until))) => HttpResponse::Ok().json(json!({
            "ok": true, "database": "writable", "deliveries": "paused", "mode": mode,
            "reason": reason.describe(), "paused_until": crate::domain::utc_timestamp(until),
            "free_mb": free_mb,
        })),
        Ok(None) => HttpResponse::Ok().json(json!({
            "ok": true, "database": "writable", "deliveries": "running", "mode": mode,
            "free_mb": free_mb,
        })),
    }
}

/// The gauges read at scrape time: the queue (from the log), the rate limiters' keys, the
/// storage watch and the delivery pauses.
async fn refresh_gauges(state: &AppState) {
    let metrics = &state.metrics;
    match state.store.queue_stats().await {
        Ok(queue) => {
            metrics.queue_depth.set(queue.depth);
            metrics.oldest_due_seconds.set(queue.oldest_due_age_seconds);
        }
        Err(error) => tracing::warn!(error = %format!("{error:#}"), "metrics: could not read the queue"),
    }
    for (scope, keys) in state.rate_limits().tracked_keys() {
        let labels = crate::metrics::ScopeLabels {
            scope: scope.to_owned(),
        };
        metrics.rate_limiter_keys.get_or_create(&labels).set(keys as i64);
    }
    let storage = state.health.snapshot();
    let free = storage
        .free_bytes
        .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX));
    metrics.database_free_bytes.set(free);
    metrics.wal_bytes.set(storage.wal_bytes as i64);
    metrics.wal_peak_bytes.set(storage.wal_peak_bytes as i64);
    metrics
        .database_writable
        .set(i64::from(state.health.unready_reason().is_none()));
    let pause = state.deliveries.readiness();
    for reason in ["rate_limited", "key_rejected", "refusals"] {
        use crate::delivery::PauseReason;
        let active = matches!(
            (&pause, reason),
            (Err(_), "key_rejected")
                | (Ok(Some((PauseReason::RateLimited, _))), "rate_limited")
                | (Ok(Some((PauseReason::Refusals, _))), "refusals")
        );
        let labels = crate::metrics::ReasonLabels {
            reason: reason.to_owned(),
        };
        metrics.paused.get_or_create(&labels).set(i64::from(active));
    }
}

/// `GET /metrics`: OpenMetrics to a scraper that asks for it in `Accept` (Prometheus does),
/// the Prometheus text format 0.0.4 otherwise. Gauges that come from the database are read
/// now. Unauthenticated by design: it carries counts and states, never personal data or
/// secrets (docs/operations.md, "Operating it").
pub async fn metrics(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let metrics = &state.metrics;
    refresh_gauges(&state).await;
    let wants_openmetrics = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or("");
                let refused = parts.any(|p| p.replace(' ', "") == "q=0");
                media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
            })
        });
    if wants_openmetrics {
        HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(metrics.render())
    } else {
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(crate::metrics::openmetrics_to_text(&metrics.render()))
    }
}
