//! Operating endpoints: liveness and readiness.

use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

/// `GET /readyz`: the database takes writes and Ortto has not rejected the key. A
/// short rate-limit pause is reported but does not make the relay unready: intake works.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if let Err(error) = state.store.heartbeat().await {
        tracing::error!(error = %format!("{error:#}"), "readiness check: database not writable");
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "ok": false, "reason": "the database is not writable" }));
    }
    let mode = if state.deliveries.dry_run() {
        "dry_run"
    } else {
        "live"
    };
    match state.deliveries.readiness() {
        Err(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "ok": false, "database": "writable", "deliveries": "paused", "mode": mode, "reason": reason,
        })),
        Ok(Some((reason, until))) => HttpResponse::Ok().json(json!({
            "ok": true, "database": "writable", "deliveries": "paused", "mode": mode,
            "reason": reason.describe(), "paused_until": crate::domain::utc_timestamp(until),
        })),
        Ok(None) => HttpResponse::Ok().json(json!({
            "ok": true, "database": "writable", "deliveries": "running", "mode": mode,
        })),
    }
}
