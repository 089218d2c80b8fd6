//! Operating endpoints: liveness and readiness.

use crate::startup::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

/// `GET /readyz`: the database takes writes (and, with delivery, deliveries are not paused).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.heartbeat().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "ok": true, "database": "writable" })),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "readiness check: database not writable");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "ok": false, "reason": "the database is not writable" }))
        }
    }
}
