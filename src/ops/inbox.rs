//! `/admin/inbox`: the operator's inbox (docs/operations.md, "Admin"): a paged, filtered list of
//! submissions, one submission with its fields, payload and attempts, replay for dead rows,
//! and the filtered list as CSV. Server-rendered, no JavaScript.

use super::access::Operator;
use super::admin::internal;
use crate::domain::Status;
use crate::files;
use crate::state::AppState;
use crate::store::{SubmissionFilter, SubmissionSummary};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use minijinja::context;

const PAGE_ROWS: i64 = 50;
/// The most rows one CSV export holds.
const MAX_CSV_ROWS: usize = 100_000;

/// The filter as a browser sends it: empty fields mean "any".
fn normalised(mut filter: SubmissionFilter) -> SubmissionFilter {
    let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    filter.status = blank(filter.status);
    filter.source = blank(filter.source);
    filter.email = blank(filter.email);
    filter.since = blank(filter.since);
    filter.until = blank(filter.until);
    filter.before = blank(filter.before);
    filter
}

/// The filter as a query string, without the cursor.
fn query_of(filter: &SubmissionFilter) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("status", &filter.status),
        ("source", &filter.source),
        ("email", &filter.email),
        ("since", &filter.since),
        ("until", &filter.until),
    ] {
        if let Some(value) = value {
            pairs.append_pair(key, value);
        }
    }
    pairs.finish()
}

/// `GET /admin/inbox?status=&source=&email=&since=&until=&before=`
pub async fn list_page(
    _access: Operator,
    query: web::Query<SubmissionFilter>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut filter = normalised(query.into_inner());
    filter.limit = Some(PAGE_ROWS);
    let rows = match state.store.list_submissions(&filter).await {
        Ok(rows) => rows,
        Err(error) => return internal(error),
    };
    let base = query_of(&filter);
    let next_link = (rows.len() as i64 == PAGE_ROWS)
        .then(|| rows.last())
        .flatten()
        .map(|last| format!("/admin/inbox?{base}&before={}", last.id));
    let config = state.config();
    let sources: Vec<&String> = config.forms.keys().chain(config.hooks.keys()).collect();
    let page = state.pages().admin(
        "inbox",
        context! {
            rows, next_link, sources,
            statuses => Status::ALL.map(|s| s.as_str()),
            filter => context! {
                status => filter.status, source => filter.source, email => filter.email,
                since => filter.since, until => filter.until,
            },
            csv_link => format!("/admin/submissions.csv?{base}"),
        },
    );
    crate::intake::html_response(StatusCode::OK, page)
}

#[derive(Debug, serde::Deserialize)]
pub struct DetailQuery {
    replayed: Option<u64>,
    reviewed: Option<String>,
}

/// `GET /admin/inbox/{id}`: one submission, its fields, payload and every attempt.
pub async fn detail_page(
    _access: Operator,
    id: web::Path<String>,
    query: web::Query<DetailQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (row, attempts) = match state.store.submission_with_attempts(&id).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            let page = state.pages().admin(
                "inbox",
                context! {
                    rows => Vec::<()>::new(), missing => true, csv_link => "/admin/submissions.csv",
                    statuses => Status::ALL.map(|s| s.as_str()),
                    sources => Vec::<()>::new(), filter => context! {},
                },
            );
            return crate::intake::html_response(StatusCode::NOT_FOUND, page);
        }
        Err(error) => return internal(error),
    };
    let pretty = |json: &str| {
        serde_json::from_str::<serde_json::Value>(json)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| json.to_owned())
    };
    let can_replay = row.payload.is_some() && matches!(row.status, Status::Dead | Status::DryRun);
    let page = state.pages().admin(
        "submission",
        context! {
            fields => pretty(&row.fields),
            payload => row.payload.as_deref().map(pretty),
            attempts, can_replay,
            replayed => query.replayed.map(|n| n > 0),
            reviewed => query.reviewed.as_deref().filter(|r| matches!(*r, "released" | "confirmed")),
            reasons => row.spam_reasons.as_deref().and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()),
            attachments => attachment_links(&state, &row),
            consent => row.consent_proof.is_some().then(|| {
                crate::person::consent(&row, &serde_json::from_str(row.payload.as_deref().unwrap_or("null")).unwrap_or_default())
            }),
            s => row,
        },
    );
    crate::intake::html_response(StatusCode::OK, page)
}

/// A submission's files for the detail page, each with a link good for an hour (signed like
/// the conversation's; with `files.link_auth = "admin"` the browser's login goes along).
fn attachment_links(state: &AppState, row: &crate::store::SubmissionRow) -> Vec<minijinja::Value> {
    let expires = (state.clock)().timestamp() + 3600;
    files::files_of(row.files.as_deref())
        .into_iter()
        .enumerate()
        .map(|(index, file)| {
            let id = files::link::file_id(&row.id, index);
            let link = file
                .infected
                .is_none()
                .then(|| files::link::signed_link("", &state.link_key, &id, &file.name, expires));
            context! { name => file.name, size => file.size_text(), kind => file.content_type, infected => file.infected, link }
        })
        .collect()
}

/// Spreadsheet programs run a cell that starts with one of these as a formula. A spreadsheet
/// in a `;`-separated locale (German Excel) may also split an unquoted cell at `;`, so each
/// `;`-separated part is defused too (and every text cell is quoted).
fn defused(value: &str) -> String {
    value
        .split(';')
        .map(|part| {
            if part
                .trim_start_matches(' ')
                .starts_with(['=', '+', '-', '@', '\t', '\r'])
            {
                format!("'{part}")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// `GET /admin/submissions.csv?…`: the filtered list as CSV, newest first, without
/// payloads or submitted fields.
pub async fn csv(
    _access: Operator,
    query: web::Query<SubmissionFilter>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let mut filter = normalised(query.into_inner());
    filter.limit = Some(500);
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::NonNumeric)
        .from_writer(Vec::new());
    let header_row = [
        "id",
        "received_at",
        "source_kind",
        "source",
        "status",
        "attempts",
        "delivered_at",
        "last_http_status",
        "last_error",
        "email",
        "subject",
        "consent",
        "files",
        "file_names",
    ];
    let mut written = 0;
    let mut failed = out.write_record(header_row).err().map(anyhow::Error::from);
    while failed.is_none() && written < MAX_CSV_ROWS {
        let rows = match state.store.list_submissions(&filter).await {
            Ok(rows) => rows,
            Err(error) => return internal(error),
        };
        for row in &rows {
            if let Err(error) = out.write_record(csv_record(row)) {
                failed = Some(error.into());
            }
        }
        written += rows.len();
        match rows.last() {
            Some(last) if rows.len() == 500 => filter.before = Some(last.id.clone()),
            _ => break,
        }
    }
    let body = match (failed, out.into_inner()) {
        (None, Ok(body)) => body,
        (Some(error), _) => return internal(error),
        (_, Err(error)) => return internal(anyhow::anyhow!("{error}")),
    };
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"submissions.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn csv_record(row: &SubmissionSummary) -> [String; 14] {
    let text = |v: &Option<String>| defused(v.as_deref().unwrap_or(""));
    let attached = files::files_of(row.files.as_deref());
    let names: Vec<&str> = attached.iter().map(|f| f.name.as_str()).collect();
    [
        row.id.clone(),
        row.received_at.clone(),
        row.source_kind.clone(),
        defused(&row.source),
        row.status.to_string(),
        row.attempts.to_string(),
        text(&row.delivered_at),
        row.last_http_status.map(|s| s.to_string()).unwrap_or_default(),
        text(&row.last_error),
        text(&row.email),
        text(&row.subject),
        row.consent.map(|c| c.to_string()).unwrap_or_default(),
        attached.len().to_string(),
        defused(&names.join("; ")),
    ]
}
