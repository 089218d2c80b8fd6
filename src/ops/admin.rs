//! `/admin`: the operator's API and status page, behind a bearer token from the
//! environment (or HTTP Basic with the token as password, for a browser). Off when unset.

use crate::domain::{utc_timestamp, Status};
use crate::state::AppState;
use crate::store::SubmissionFilter;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

/// How a request may change state: reads pass with the token either way; a change sent
/// with HTTP Basic (credentials a browser caches and sends cross-site by itself) must also
/// come from the relay's own origin, so another site cannot forge it (CSRF).
pub(super) fn refusal_to_change(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    if let Some(refusal) = refusal(req, state) {
        return Some(refusal);
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let own_host = req.connection_info().host().to_owned();
    let same_origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(|o| url::Url::parse(o).ok())
        .is_some_and(|o| {
            let authority = match o.port() {
                Some(port) => format!("{}:{port}", o.host_str().unwrap_or("")),
                None => o.host_str().unwrap_or("").to_owned(),
            };
            authority.eq_ignore_ascii_case(&own_host)
        });
    (!bearer && !same_origin).then(|| {
        HttpResponse::Forbidden().json(json!({
            "ok": false,
            "error": "Changes need the bearer token, or a same-origin request from the admin page.",
        }))
    })
}

/// `None` lets the request through; otherwise the answer that says why not.
pub(super) fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let config = state.config();
    let Some(token) = &config.admin_token else {
        return Some(HttpResponse::NotFound().json(json!({
            "ok": false,
            "error": format!("The admin API is off: set ${} to turn it on.", config.admin_token_env),
        })));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|value| {
            if let Some(bearer) = value.strip_prefix("Bearer ") {
                return Some(bearer.trim().to_owned());
            }
            let basic = base64::engine::general_purpose::STANDARD
                .decode(value.strip_prefix("Basic ")?.trim())
                .ok()?;
            let basic = String::from_utf8(basic).ok()?;
            Some(
                basic
                    .split_once(':')
                    .map_or(basic.clone(), |(_, password)| password.to_owned()),
            )
        });
    let matches = given.is_some_and(|g| crate::guard::same_secret(&g, token));
    if matches {
        return None;
    }
    Some(
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"talk-relay admin\""))
            .json(json!({ "ok": false, "error": "A valid admin token is required." })),
    )
}

pub(super) fn internal(error: anyhow::Error) -> HttpResponse {
    tracing::error!(error = %format!("{error:#}"), "admin request failed");
    HttpResponse::InternalServerError()
        .json(json!({ "ok": false, "error": "The log could not be read; see the relay's logs." }))
}

/// `GET /admin/submissions?status=&source=&email=&since=&until=&before=&limit=`
pub async fn list(
    req: HttpRequest,
    query: web::Query<SubmissionFilter>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(refusal) = refusal(&req, &state) {
        return refusal;
    }
    match state.store.list_submissions(&query).await {
        Ok(rows) => {
            let full = rows.len() as i64 == query.limit.unwrap_or(50).clamp(1, 500);
            let next = full.then(|| rows.last().map(|r| r.id.clone())).flatten();
            HttpResponse::Ok().json(json!({ "submissions": rows, "next_cursor": next }))
        }
        Err(error) => internal(error),
    }
}

/// `GET /admin/submissions/{id}`: the row with its payload, fields and attempts.
pub async fn show(req: HttpRequest, id: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refusal(&req, &state) {
        return refusal;
    }
    match state.store.submission_with_attempts(&id).await {
        Ok(Some((submission, attempts))) => {
            HttpResponse::Ok().json(json!({ "submission": submission, "attempts": attempts }))
        }
        Ok(None) => {
            HttpResponse::NotFound().json(json!({ "ok": false, "error": "No submission has that id." }))
        }
        Err(error) => internal(error),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    #[serde(default)]
    ids: Vec<String>,
    status: Option<String>,
}

/// `POST /admin/submissions/{id}/replay`
pub async fn replay_one(req: HttpRequest, id: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refusal_to_change(&req, &state) {
        return refusal;
    }
    let id = id.into_inner();
    // The inbox's button is a plain HTML form: answer it with the submission's page again.
    let from_inbox = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    match state.store.replay(std::slice::from_ref(&id), None).await {
        Ok(requeued) if from_inbox => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/admin/inbox/{id}?replayed={requeued}")))
            .finish(),
        Ok(requeued) => HttpResponse::Ok().json(json!({ "requeued": requeued })),
        Err(error) => internal(error),
    }
}

/// `POST /admin/replay` with `{"ids": […]}` or `{"status": "dead" | "dry_run"}`.
pub async fn replay(
    req: HttpRequest,
    body: web::Json<ReplayRequest>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(refusal) = refusal_to_change(&req, &state) {
        return refusal;
    }
    let status = match body.status.as_deref().map(|s| (s, Status::parse(s))) {
        None => None,
        Some((_, Some(status @ (Status::Dead | Status::DryRun)))) => Some(status),
        Some((other, _)) => {
            return HttpResponse::BadRequest()
                .json(json!({ "ok": false, "error": format!("`{other}` rows cannot be replayed: use dead or dry_run.") }))
        }
    };
    if body.ids.is_empty() && status.is_none() {
        return HttpResponse::BadRequest()
            .json(json!({ "ok": false, "error": "Name ids or a status to replay." }));
    }
    match state.store.replay(&body.ids, status).await {
        Ok(requeued) => HttpResponse::Ok().json(json!({ "requeued": requeued })),
        Err(error) => internal(error),
    }
}

#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    hours: Option<i64>,
}

fn since(hours: Option<i64>) -> String {
    utc_timestamp(chrono::Utc::now() - chrono::Duration::hours(hours.unwrap_or(24).clamp(1, 24 * 366)))
}

/// `GET /admin/stats?hours=24`
pub async fn stats(
    req: HttpRequest,
    query: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(refusal) = refusal(&req, &state) {
        return refusal;
    }
    match state.store.stats(&since(query.hours)).await {
        Ok(stats) => HttpResponse::Ok().json(stats),
        Err(error) => internal(error),
    }
}

/// `GET /admin/`: a small status page — is anything stuck, since when, and why — with the
/// recent refusals.
pub async fn status_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refusal(&req, &state) {
        return refusal;
    }
    let (stats, dead) = match (
        state.store.stats(&since(Some(24))).await,
        state.store.latest_dead(10).await,
    ) {
        (Ok(stats), Ok(dead)) => (stats, dead),
        (Err(error), _) | (_, Err(error)) => return internal(error),
    };
    let mut by_status: std::collections::BTreeMap<&str, i64> =
        Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for row in &stats.counts {
        *by_status.entry(row.status.as_str()).or_default() += row.count;
    }
    let (class, deliveries, detail) = match state.deliveries.readiness() {
        Err(reason) => ("bad", "paused", reason),
        Ok(Some((reason, until))) => (
            "warn",
            "paused",
            format!("until {}: {}", utc_timestamp(until), reason.describe()),
        ),
        Ok(None) if state.deliveries.dry_run() => ("warn", "dry run", "no Ortto key".to_owned()),
        Ok(None) => ("ok", "running", String::new()),
    };
    let storage = state.health.snapshot();
    let page = state.pages().admin(
        "status",
        minijinja::context! {
            database_problem => state.health.unready_reason(),
            free => storage.free_bytes.map_or_else(|| "unknown".to_owned(), |b| format!("{} MB", b / 1_000_000)),
            wal_mb => storage.wal_bytes / 1_000_000,
            wal_peak_mb => storage.wal_peak_bytes / 1_000_000,
            deliveries => minijinja::context! { class, state => deliveries, detail },
            queue_depth => stats.queue_depth,
            oldest => stats.oldest_waiting_received_at,
            oldest_due_seconds => stats.oldest_due_age_seconds,
            by_status => by_status.into_iter().collect::<Vec<_>>(),
            by_source => stats.counts,
            dead,
            refusals => state.refusals.latest(50),
            refusals_kept => state.refusals.capacity(),
        },
    );
    crate::intake::html_response(actix_web::http::StatusCode::OK, page)
}

#[derive(Debug, Deserialize)]
pub struct RefusalsQuery {
    limit: Option<usize>,
}

/// `GET /admin/refusals?limit=`: the last refused form and hook requests, newest first.
pub async fn refusals(
    req: HttpRequest,
    query: web::Query<RefusalsQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(refusal) = refusal(&req, &state) {
        return refusal;
    }
    let limit = query.limit.unwrap_or(crate::refusals::KEPT);
    HttpResponse::Ok().json(json!({
        "kept": state.refusals.capacity(),
        "refusals": state.refusals.latest(limit),
    }))
}

/// Reloads the configuration and logs what happened; the answer for `POST /admin/reload`.
pub fn reload_and_log(state: &AppState) -> Result<crate::state::Reloaded, String> {
    match state.reload() {
        Ok(reloaded) => {
            tracing::info!(
                forms = reloaded.forms.len(),
                hooks = reloaded.hooks.len(),
                "configuration reloaded"
            );
            if !reloaded.restart_needed.is_empty() {
                tracing::warn!(
                    sections = ?reloaded.restart_needed,
                    "these settings changed but take effect only after a restart"
                );
            }
            Ok(reloaded)
        }
        Err(error) => {
            let reason = format!("{error:#}");
            tracing::error!(error = %reason, "reload refused; the running configuration stays");
            Err(reason)
        }
    }
}

/// `POST /admin/reload`: read the configuration again; a bad one keeps the running set (422).
pub async fn reload(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refusal_to_change(&req, &state) {
        return refusal;
    }
    match reload_and_log(&state) {
        Ok(reloaded) => HttpResponse::Ok().json(json!({ "ok": true, "reloaded": reloaded })),
        Err(reason) => HttpResponse::UnprocessableEntity().json(json!({
            "ok": false,
            "error": format!("The configuration was not reloaded; the running one stays: {reason}"),
        })),
    }
}
