//! `/admin`: the operator's API and status page, behind a bearer token from the
//! environment (or HTTP Basic with the token as password, for a browser). Off when unset.

use super::access::{Operator, OperatorChange};
use super::AdminError;
use crate::domain::{utc_timestamp, Status};
use crate::state::AppState;
use crate::store::SubmissionFilter;
use actix_web::http::header;
use actix_web::ResponseError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// The answer to a read or write of the log that failed (logged, never shown).
pub(super) fn internal(error: anyhow::Error) -> HttpResponse {
    AdminError::Internal(error).error_response()
}

/// `GET /admin/submissions?status=&source=&email=&since=&until=&before=&limit=`
pub async fn list(
    _access: Operator,
    query: web::Query<SubmissionFilter>,
    state: web::Data<AppState>,
) -> HttpResponse {
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
pub async fn show(_access: Operator, id: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    match state.store.submission_with_attempts(&id).await {
        Ok(Some((submission, attempts))) => {
            HttpResponse::Ok().json(json!({ "submission": submission, "attempts": attempts }))
        }
        Ok(None) => AdminError::NotFound.error_response(),
        Err(error) => internal(error),
    }
}

/// `GET /admin/person?email=…`'s query.
#[derive(Debug, Deserialize)]
pub struct PersonQuery {
    email: String,
}

/// `GET /admin/person?email=…`: everything held about one person, as JSON
/// (docs/operations.md, "A person's data").
pub async fn person(
    _access: Operator,
    query: web::Query<PersonQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(why) = crate::store::ErasureTarget::parse(&query.email) {
        return AdminError::BadRequest(format!("{why:#}")).error_response();
    }
    match crate::person::export(&state.store, &query.email).await {
        Ok(exported) => HttpResponse::Ok()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .json(exported),
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
pub async fn replay_one(
    req: HttpRequest,
    _access: OperatorChange,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let id = id.into_inner();
    // The inbox's button is a plain HTML form: answer it with the submission's page again.
    let from_inbox = from_html_form(&req);
    match state.store.replay(std::slice::from_ref(&id), None).await {
        Ok(requeued) if from_inbox => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/admin/inbox/{}?replayed={requeued}", path_segment(&id)),
            ))
            .finish(),
        Ok(requeued) => HttpResponse::Ok().json(json!({ "requeued": requeued })),
        Err(error) => internal(error),
    }
}

/// Whether the request is an HTML form's post (the inbox's buttons), not an API call.
pub(super) fn from_html_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// `id` as one path segment: whatever an id holds (a CR or LF from `%0d%0a`), the address
/// stays one valid header value.
pub(super) fn path_segment(id: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
}

/// `POST /admin/replay` with `{"ids": […]}` or `{"status": "dead" | "dry_run"}`.
pub async fn replay(
    _access: OperatorChange,
    body: web::Json<ReplayRequest>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let status = match body.status.as_deref().map(|s| (s, Status::parse(s))) {
        None => None,
        Some((_, Some(status @ (Status::Dead | Status::DryRun)))) => Some(status),
        Some((other, _)) => {
            return AdminError::BadRequest(format!("`{other}` rows cannot be replayed: use dead or dry_run."))
                .error_response()
        }
    };
    if body.ids.is_empty() && status.is_none() {
        return AdminError::BadRequest("Name ids or a status to replay.".to_owned()).error_response();
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
    _access: Operator,
    query: web::Query<StatsQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state.store.stats(&since(query.hours)).await {
        Ok(stats) => HttpResponse::Ok().json(stats),
        Err(error) => internal(error),
    }
}

/// `GET /admin/`: a small status page — is anything stuck, since when, and why — with the
/// recent refusals.
pub async fn status_page(_access: Operator, state: web::Data<AppState>) -> HttpResponse {
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    // Rollups and the queue's index only: the page costs the same on a log of any size
    // (docs/operations.md, "Charts").
    let day = (chrono::Utc::now() - chrono::Duration::hours(23))
        .format("%Y-%m-%dT%H")
        .to_string();
    let (queue, dead, spam_reasons, by_source, overview) = match tokio::join!(
        state.store.queue_stats(),
        state.store.latest_dead(10),
        state.store.spam_reasons(&yesterday, 5),
        state.store.sources_since(&day),
        super::charts::overview(&state),
    ) {
        (Ok(queue), Ok(dead), Ok(reasons), Ok(sources), Ok(overview)) => {
            (queue, dead, reasons, sources, overview)
        }
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (.., Err(e), _) | (.., Err(e)) => {
            return internal(e)
        }
    };
    let by_status = overview.by_status;
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
            charts => overview.charts,
            database_problem => state.health.unready_reason(),
            backend => state.store.backend(),
            instance => state.instance,
            free => storage.free_bytes.map_or_else(|| "unknown".to_owned(), |b| format!("{} MB", b / crate::config::MB)),
            wal_mb => storage.wal_bytes / crate::config::MB,
            wal_peak_mb => storage.wal_peak_bytes / crate::config::MB,
            deliveries => minijinja::context! { class, state => deliveries, detail },
            queue_depth => queue.depth,
            oldest => queue.oldest_received_at,
            oldest_due_seconds => queue.oldest_due_age_seconds,
            spam_share => spam_share(&by_status),
            spam_reasons,
            by_status => by_status.into_iter().collect::<Vec<_>>(),
            by_source,
            dead,
            refusals => state.refusals.latest(50),
            refusals_kept => state.refusals.capacity(),
        },
    );
    crate::intake::html_response(actix_web::http::StatusCode::OK, page)
}

/// The quarantine's share of the window's posts, as a whole percentage ("—" with none).
fn spam_share(by_status: &std::collections::BTreeMap<&str, i64>) -> String {
    let total: i64 = by_status.values().sum();
    let spam = by_status.get(Status::Spam.as_str()).copied().unwrap_or(0);
    match total {
        0 => "—".to_owned(),
        _ => format!("{}%", (spam * 100 + total / 2) / total),
    }
}

#[derive(Debug, Deserialize)]
pub struct RefusalsQuery {
    limit: Option<usize>,
}

/// `GET /admin/refusals?limit=`: the last refused form and hook requests, newest first.
pub async fn refusals(
    _access: Operator,
    query: web::Query<RefusalsQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
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
pub async fn reload(_access: OperatorChange, state: web::Data<AppState>) -> HttpResponse {
    match reload_and_log(&state) {
        Ok(reloaded) => HttpResponse::Ok().json(json!({ "ok": true, "reloaded": reloaded })),
        Err(reason) => AdminError::ReloadRefused(reason).error_response(),
    }
}
