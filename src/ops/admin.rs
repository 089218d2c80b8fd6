//! `/admin`: the operator's API and status page, behind a bearer token from the
//! environment (or HTTP Basic with the token as password, for a browser). Off when unset.

use crate::domain::{utc_timestamp, Status};
use crate::intake::page;
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
fn refusal_to_change(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
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
fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let Some(token) = &state.config.admin_token else {
        return Some(HttpResponse::NotFound().json(json!({
            "ok": false,
            "error": format!("The admin API is off: set ${} to turn it on.", state.config.admin_token_env),
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

fn internal(error: anyhow::Error) -> HttpResponse {
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
    match state.store.replay(&[id.into_inner()], None).await {
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

fn escape(text: &str) -> String {
    crate::intake::escape(text)
}

/// `GET /admin/`: a small status page — is anything stuck, since when, and why?
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
    let deliveries = match state.deliveries.readiness() {
        Err(reason) => format!("<strong class=\"bad\">paused</strong>: {}", escape(&reason)),
        Ok(Some((reason, until))) => {
            format!(
                "<strong class=\"warn\">paused</strong> until {}: {}",
                utc_timestamp(until),
                escape(&reason.describe())
            )
        }
        Ok(None) if state.deliveries.dry_run() => {
            "<strong class=\"warn\">dry run</strong>: no Ortto key".to_owned()
        }
        Ok(None) => "<strong class=\"ok\">running</strong>".to_owned(),
    };
    let status_rows: String = by_status
        .iter()
        .map(|(status, count)| format!("<tr><td>{status}</td><td id=\"count-{status}\">{count}</td></tr>"))
        .collect();
    let source_rows: String = stats
        .counts
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.source_kind),
                escape(&c.source),
                escape(&c.status),
                c.count
            )
        })
        .collect();
    let dead_rows: String = if dead.is_empty() {
        "<p>No dead rows.</p>".to_owned()
    } else {
        let items: String = dead
            .iter()
            .map(|d| {
                format!(
                    "<li><code>{}</code> {} <em>{}</em><br>{}</li>",
                    escape(&d.id),
                    escape(&d.received_at),
                    escape(&d.source),
                    escape(d.last_error.as_deref().unwrap_or("no error recorded"))
                )
            })
            .collect();
        format!("<ul class=\"dead\">{items}</ul>")
    };
    let oldest = stats.oldest_waiting_received_at.as_deref().unwrap_or("—");
    let storage = state.health.snapshot();
    let database = match state.health.unready_reason() {
        Some(reason) => format!("<strong class=\"bad\">not writable</strong>: {}", escape(&reason)),
        None => "<strong class=\"ok\">writable</strong>".to_owned(),
    };
    let free = storage
        .free_bytes
        .map_or_else(|| "unknown".to_owned(), |b| format!("{} MB", b / 1_000_000));
    let body = format!(
        "<h1>talk-relay status</h1>\
         <p>Database: {database}; <span id=\"free-space\">{free}</span> free; WAL {} MB (peak {} MB).</p>\
         <p>Deliveries: {deliveries}</p>\
         <p>Queue: <strong id=\"queue-depth\">{}</strong> waiting; oldest received {}; oldest due for {} s.</p>\
         <h2>Last 24 hours</h2><table><tbody>{status_rows}</tbody></table>\
         <h2>By source</h2><table><tbody>{source_rows}</tbody></table>\
         <h2>Latest dead rows</h2>{dead_rows}",
        storage.wal_bytes / 1_000_000,
        storage.wal_peak_bytes / 1_000_000,
        stats.queue_depth,
        escape(oldest),
        stats.oldest_due_age_seconds,
    );
    let styled = page("talk-relay status", &body).replace(
        "</style>",
        "table{border-collapse:collapse;width:100%}td{border-bottom:1px solid #d0d7de;padding:.3rem .5rem}\
         .ok{color:#1a7f37}.warn{color:#9a6700}.bad{color:#cf222e}ul.dead{padding-left:1rem;word-break:break-word}</style>",
    );
    crate::intake::html_response(actix_web::http::StatusCode::OK, &styled)
}
