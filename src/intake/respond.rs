//! Respond (README, "A plain HTML form" and "fetch()"): the same outcome, shaped for a browser
//! (redirects, the pages `crate::pages` renders) or for a script (JSON, never a redirect).

use super::error::{IntakeError, Problem};
use super::kind::ResponseKind;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;
use url::Url;

/// What the relay did with an accepted (or silently discarded) submission.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    pub duplicate: bool,
    /// Where a browser goes next; `None` means the built-in thank-you page.
    pub next: Option<Url>,
    /// The form's name, for the thank-you page.
    pub source: String,
    /// What it counts as in `/metrics`: `accepted` or `spam` (which answers the same).
    pub outcome: &'static str,
}

impl Receipt {
    /// The receipt for what the log writer recorded (a new row, or the one a duplicate matched).
    pub fn of(
        recorded: crate::store::Recorded,
        source: &str,
        next: Option<Url>,
        outcome: &'static str,
    ) -> Self {
        let (id, duplicate) = match recorded {
            crate::store::Recorded::New(id) => (id, false),
            crate::store::Recorded::Duplicate(id) => (id, true),
        };
        Self {
            id,
            duplicate,
            next,
            source: source.to_owned(),
            outcome,
        }
    }
}

/// A submission taken. In dry run (no Ortto key) the API says so: `"status": "dry_run"`,
/// since nothing will be sent until a key is set and the rows are replayed. `thanks` makes
/// the built-in thank-you page's address (relative to the relay) for a form without a
/// redirect. A form's JSON answer always carries `next`, as Formspree's clients expect:
/// the redirect, or the thank-you page on `relay_base`.
pub fn accepted(
    kind: ResponseKind,
    receipt: &Receipt,
    dry_run: bool,
    relay_base: Option<&Url>,
    thanks: impl FnOnce() -> String,
) -> HttpResponse {
    let next = |thanks: String| match (&receipt.next, relay_base) {
        (Some(next), _) => Some(next.to_string()),
        (None, Some(base)) => base.join(&thanks).ok().map(String::from),
        (None, None) => None,
    };
    match kind {
        ResponseKind::Browser => {
            let location = receipt.next.as_ref().map_or_else(thanks, Url::to_string);
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish()
        }
        ResponseKind::Api => {
            let (mut answer, status) = if receipt.duplicate {
                (HttpResponse::Ok(), "duplicate")
            } else if dry_run {
                (HttpResponse::Accepted(), "dry_run")
            } else {
                (HttpResponse::Accepted(), "queued")
            };
            let mut body = json!({ "ok": true, "id": receipt.id, "status": status });
            if let Some(next) = next(thanks()) {
                body["next"] = json!(next);
            }
            answer.json(body)
        }
    }
}

/// A refusal: JSON for a script, the rendered error `page` for a browser.
pub fn refused(error: &IntakeError, page: Option<String>) -> HttpResponse {
    match page {
        None => crate::http::problem_answer(error),
        Some(page) => {
            let mut response = html(error.answer().status, page);
            crate::http::problem::finish(&mut response, error.answer());
            response
        }
    }
}

/// How long a refused client should wait before trying again, if it should.
pub fn retry_after(error: &IntakeError) -> Option<u64> {
    error.answer().retry_after
}

/// A visitor page: not cached, not sniffed. It may be framed (a form embedded in an iframe
/// lands on it there).
pub fn html(status: StatusCode, page: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(page)
}
