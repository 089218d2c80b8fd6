use crate::domain::{FieldProblem, ProblemCode};
use crate::http::body::BodyError;
use crate::store::RecordError;
use actix_web::http::StatusCode;
use serde::Serialize;

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
    #[error("This site is not allowed to post to this form.")]
    OriginNotAllowed,
    #[error("Too many submissions from here; please try again in {retry_after_secs} seconds.")]
    RateLimited { retry_after_secs: u64 },
    #[error("The CAPTCHA check failed; please complete it and send the form again.")]
    CaptchaFailed,
    #[error("The CAPTCHA check could not be completed right now; please try again in a moment.")]
    CaptchaUnavailable,
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

/// One entry of the Formspree-compatible `errors` array.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: String,
    pub message: String,
}

impl IntakeError {
    /// The intake outcome this refusal counts as in `/metrics`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::BadSignature(_) => "bad_signature",
            Self::Invalid(_) => "invalid",
            Self::CaptchaFailed => "spam",
            Self::Unavailable(_) | Self::CaptchaUnavailable => "unavailable",
            _ => "refused",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::FormNotFound(_) | Self::HookNotFound(_) => StatusCode::NOT_FOUND,
            Self::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Self::Body(BodyError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body(BodyError::TimedOut { .. }) => StatusCode::REQUEST_TIMEOUT,
            Self::Body(BodyError::UnsupportedMediaType(_) | BodyError::FileUpload { .. }) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Body(
                BodyError::TooManyFields { .. }
                | BodyError::TooManyEvents { .. }
                | BodyError::FieldNameTooLong { .. }
                | BodyError::ValueTooLong { .. },
            ) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Body(_) => StatusCode::BAD_REQUEST,
            Self::OriginNotAllowed | Self::CaptchaFailed | Self::FormInactive(_) => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::CaptchaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn entries(&self) -> Vec<ErrorEntry> {
        let general = |code: &str| {
            vec![ErrorEntry {
                field: None,
                code: code.to_owned(),
                message: self.to_string(),
            }]
        };
        let for_field = |field: &str, code: &str| {
            vec![ErrorEntry {
                field: Some(field.to_owned()),
                code: code.to_owned(),
                message: self.to_string(),
            }]
        };
        match self {
            Self::FormNotFound(_) => general("FORM_NOT_FOUND"),
            Self::HookNotFound(_) => general("HOOK_NOT_FOUND"),
            Self::FormInactive(_) => general("INACTIVE"),
            Self::BadSignature(_) => general("BAD_SIGNATURE"),
            Self::Body(BodyError::TooLarge { .. }) => general("PAYLOAD_TOO_LARGE"),
            Self::Body(BodyError::TimedOut { .. }) => general("REQUEST_TIMEOUT"),
            Self::Body(BodyError::UnsupportedMediaType(_)) => general("UNSUPPORTED_MEDIA_TYPE"),
            Self::Body(BodyError::InvalidUtf8 { field }) => {
                for_field(field, ProblemCode::InvalidEncoding.as_str())
            }
            Self::Body(BodyError::FileUpload { field }) => {
                for_field(field, ProblemCode::FileNotSupported.as_str())
            }
            Self::Body(BodyError::Malformed(_) | BodyError::Interrupted) => general("MALFORMED_BODY"),
            Self::Body(BodyError::TooManyFields { .. }) => general("TOO_MANY_FIELDS"),
            Self::Body(BodyError::TooManyEvents { .. }) => general("TOO_MANY_EVENTS"),
            Self::Body(BodyError::FieldNameTooLong { .. }) => general("FIELD_NAME_TOO_LONG"),
            Self::Body(BodyError::ValueTooLong { field, .. }) => {
                for_field(field, ProblemCode::FieldTooLong.as_str())
            }
            Self::Body(BodyError::TooDeep { .. }) => general("JSON_TOO_DEEP"),
            Self::OriginNotAllowed => general("ORIGIN_NOT_ALLOWED"),
            Self::RateLimited { .. } => general("RATE_LIMITED"),
            Self::CaptchaFailed => general("CAPTCHA_FAILED"),
            Self::CaptchaUnavailable => general("CAPTCHA_UNAVAILABLE"),
            Self::Invalid(problems) => problems
                .iter()
                .map(|p| ErrorEntry {
                    field: Some(p.field.clone()),
                    code: p.code.as_str().to_owned(),
                    message: p.message.clone(),
                })
                .collect(),
            Self::Unavailable(_) => general("UNAVAILABLE"),
        }
    }
}
