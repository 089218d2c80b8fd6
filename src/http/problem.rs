//! One error model for every endpoint (docs/architecture.md, "Errors"): a route's error says,
//! in one place, the status it answers, its code, how `/metrics` counts it, how long to wait
//! before trying again, and which fields were wrong. [`respond`] turns any of them into the
//! JSON body Formspree's clients read, `{"ok": false, "error", "errors": [{"field"?, "code",
//! "message"}]}`, with `Retry-After`, and closes a connection whose body timed out.

use crate::metrics::Outcome;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

/// How a problem answers over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// The machine-readable code (`TYPE_EMAIL`, `RATE_LIMITED`, …).
    pub code: &'static str,
    /// The outcome `/metrics` counts it as (`invalid`, `rate_limited`, …).
    pub outcome: Outcome,
    /// Seconds the client should wait before trying again, if it should.
    pub retry_after: Option<u64>,
}

impl Answer {
    pub const fn new(status: StatusCode, code: &'static str, outcome: Outcome) -> Self {
        Self {
            status,
            code,
            outcome,
            retry_after: None,
        }
    }

    /// 503 with `code`, counted as `unavailable`: try again in a second.
    pub const fn unavailable(code: &'static str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, Outcome::Unavailable).retry_after(1)
    }

    pub const fn retry_after(self, secs: u64) -> Self {
        Self {
            retry_after: Some(secs),
            ..self
        }
    }
}

/// One entry of the `errors` array.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

impl ErrorEntry {
    /// One entry for the whole request: the problem's code and sentence, no field.
    pub fn general<P: Problem + ?Sized>(problem: &P) -> Self {
        Self {
            field: None,
            code: problem.answer().code.to_owned(),
            message: problem.to_string(),
        }
    }
}

/// An error a route answers with. Its `Display` is the sentence a person reads.
pub trait Problem: std::fmt::Display {
    fn answer(&self) -> Answer;

    /// The `errors` entries; one for the whole request unless the problem names fields.
    fn entries(&self) -> Vec<ErrorEntry> {
        vec![ErrorEntry::general(self)]
    }
}

/// The JSON answer to `problem`.
pub fn respond(problem: &dyn Problem) -> HttpResponse {
    let answer = problem.answer();
    let mut response = HttpResponse::build(answer.status).json(serde_json::json!({
        "ok": false, "error": problem.to_string(), "errors": problem.entries(),
    }));
    finish(&mut response, answer);
    response
}

/// What every refusal carries besides its body: `Retry-After`, and a closed connection after
/// a body that did not arrive in time or went past a size limit (it is mid-request: the rest
/// is never read, and the connection is never reused).
pub fn finish(response: &mut HttpResponse, answer: Answer) {
    if let Some(secs) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if matches!(
        answer.status,
        StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE
    ) {
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
}

/// `impl ResponseError` for a [`Problem`], so a handler may return it with `?`.
#[macro_export]
macro_rules! problem_response {
    ($type:ty) => {
        impl actix_web::ResponseError for $type {
            fn status_code(&self) -> actix_web::http::StatusCode {
                $crate::http::problem::Problem::answer(self).status
            }

            fn error_response(&self) -> actix_web::HttpResponse {
                $crate::http::problem::respond(self)
            }
        }
    };
}
