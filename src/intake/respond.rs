//! Respond (README, "A plain HTML form" and "fetch()"): the same outcome, shaped for a browser
//! (redirects, the pages `crate::pages` renders) or for a script (JSON, never a redirect).

use super::error::{IntakeError, Problem};
use super::kind::ResponseKind;
use crate::metrics::Outcome;
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
    pub outcome: Outcome,
}

impl Receipt {
    /// The receipt for what the log writer recorded (a new row, or the one a duplicate matched).
    pub fn of(recorded: crate::store::Recorded, source: &str, next: Option<Url>, outcome: Outcome) -> Self {
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

/// What an intake request came to when nothing refused it: one submission (a form post or a
/// hook event), an event the hook's `accept` filter ignores, or a batch of events.
#[derive(Debug)]
pub enum Accepted {
    One(Receipt),
    Ignored,
    Batch(BatchOutcome),
}

/// What each event of a batch came to; the answer's body.
#[derive(Debug, Default, serde::Serialize)]
pub struct BatchOutcome {
    pub ids: Vec<String>,
    pub new: usize,
    pub duplicates: usize,
    pub ignored: usize,
    pub invalid: usize,
}

impl BatchOutcome {
    /// Each event's result (`None`: ignored). An invalid event is counted and kept; any other
    /// refusal (the log cannot write) refuses the whole call, so the sender retries it.
    pub fn tally(
        answers: Vec<Option<Result<crate::store::Recorded, IntakeError>>>,
    ) -> Result<Self, IntakeError> {
        let mut batch = Self::default();
        for answer in answers {
            match answer {
                None => batch.ignored += 1,
                Some(Ok(crate::store::Recorded::New(id))) => {
                    batch.new += 1;
                    batch.ids.push(id);
                }
                Some(Ok(crate::store::Recorded::Duplicate(id))) => {
                    batch.duplicates += 1;
                    batch.ids.push(id);
                }
                Some(Err(IntakeError::Invalid(_))) => batch.invalid += 1,
                Some(Err(other)) => return Err(other),
            }
        }
        Ok(batch)
    }

    /// Each event as `/metrics` counts it.
    pub fn outcomes(&self) -> impl Iterator<Item = Outcome> {
        [
            (Outcome::Accepted, self.new),
            (Outcome::Duplicate, self.duplicates),
            (Outcome::Ignored, self.ignored),
            (Outcome::Invalid, self.invalid),
        ]
        .into_iter()
        .flat_map(|(outcome, n)| std::iter::repeat_n(outcome, n))
    }

    /// 202 when anything was new, else 200: vendors retry anything but 2xx.
    pub fn response(&self) -> HttpResponse {
        let mut body = serde_json::to_value(self).expect("batch outcomes serialise");
        body["ok"] = json!(true);
        if self.new > 0 {
            HttpResponse::Accepted().json(body)
        } else {
            HttpResponse::Ok().json(body)
        }
    }
}

/// A hook event the `accept` filter does not take: authenticated, answered, never recorded.
pub fn ignored() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true, "ignored": true }))
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
    thanks: impl Fn() -> String,
) -> HttpResponse {
    let next = |thanks: &dyn Fn() -> String| match (&receipt.next, relay_base) {
        (Some(next), _) => Some(next.to_string()),
        (None, Some(base)) => under(base, &thanks()),
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
            if let Some(next) = next(&thanks) {
                body["next"] = json!(next);
            }
            answer.json(body)
        }
    }
}

/// `path` (`/thanks?…`) under the relay's address, keeping a path the address has
/// (`https://example.com/relay` → `https://example.com/relay/thanks?…`).
fn under(base: &Url, path: &str) -> Option<String> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path.trim_start_matches('/')).ok().map(String::from)
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
