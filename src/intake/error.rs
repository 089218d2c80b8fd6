use crate::domain::FieldProblem;
use crate::http::body::BodyError;
pub use crate::http::{Answer, ErrorEntry, Problem};
use crate::metrics::Outcome;
use crate::store::RecordError;
use actix_web::http::StatusCode;

/// Everything that can refuse an intake request, with the status and code it answers.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("There is no form called `{0}`.")]
    FormNotFound(String),
    #[error("The form `{0}` is not taking submissions.")]
    FormInactive(String),
    #[error("There is no hook called `{0}`.")]
    HookNotFound(String),
    #[error("The request could not be authenticated: {0}.")]
    BadSignature(#[from] crate::guard::AuthFailure),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    File(#[from] crate::files::FileError),
    #[error("This site is not allowed to post to this form.")]
    OriginNotAllowed,
    #[error("Too many submissions from here; please try again in {retry_after_secs} seconds.")]
    RateLimited { retry_after_secs: u64 },
    #[error("The CAPTCHA check failed; please complete it and send the form again.")]
    CaptchaFailed,
    #[error("The CAPTCHA check could not be completed right now; please try again in a moment.")]
    CaptchaUnavailable,
    #[error("This message looks like spam, so it was held for review rather than sent.")]
    SpamSuspected,
    #[error("The message could not be checked right now; please try again in a moment.")]
    SpamFilterUnavailable,
    #[error("{}", invalid_sentence(.0))]
    Invalid(Vec<FieldProblem>),
    #[error("The submission could not be saved. Nothing was kept; please try again in a moment.")]
    Unavailable(#[source] RecordError),
}

fn invalid_sentence(problems: &[FieldProblem]) -> String {
    match problems {
        [one] => format!("Please check the `{}` field: {}", one.field, one.message),
        _ => format!("Please check {} fields.", problems.len()),
    }
}

impl Problem for IntakeError {
    /// Status, code, metric outcome and `Retry-After`, in one place.
    fn answer(&self) -> Answer {
        let refused = |status, code| Answer::new(status, code, Outcome::Refused);
        match self {
            Self::FormNotFound(_) => refused(StatusCode::NOT_FOUND, "FORM_NOT_FOUND"),
            Self::FormInactive(_) => refused(StatusCode::FORBIDDEN, "INACTIVE"),
            Self::HookNotFound(_) => refused(StatusCode::NOT_FOUND, "HOOK_NOT_FOUND"),
            Self::BadSignature(_) => {
                Answer::new(StatusCode::UNAUTHORIZED, "BAD_SIGNATURE", Outcome::BadSignature)
            }
            Self::Body(body) => body.answer(),
            Self::File(file) => file.answer(),
            Self::OriginNotAllowed => refused(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED"),
            Self::RateLimited { retry_after_secs } => Answer::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                Outcome::RateLimited,
            )
            .retry_after(*retry_after_secs),
            Self::CaptchaFailed => Answer::new(StatusCode::FORBIDDEN, "CAPTCHA_FAILED", Outcome::Spam),
            Self::SpamSuspected => Answer::new(StatusCode::FORBIDDEN, "SPAM_SUSPECTED", Outcome::Spam),
            Self::SpamFilterUnavailable => Answer::unavailable("SPAM_FILTER_UNAVAILABLE"),
            Self::CaptchaUnavailable => Answer::unavailable("CAPTCHA_UNAVAILABLE"),
            Self::Invalid(_) => Answer::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID", Outcome::Invalid),
            Self::Unavailable(_) => Answer::unavailable("UNAVAILABLE"),
        }
    }

    fn entries(&self) -> Vec<ErrorEntry> {
        match self {
            Self::Body(body) => body.entries(),
            Self::File(file) => file.entries(),
            Self::Invalid(problems) => problems
                .iter()
                .map(|p| ErrorEntry {
                    field: Some(p.field.clone()),
                    code: p.code.as_str().to_owned(),
                    message: p.message.clone(),
                })
                .collect(),
            _ => vec![ErrorEntry::general(self)],
        }
    }
}

crate::problem_response!(IntakeError);
