//! Why an admin request was refused, answered like every other endpoint's errors
//! (`crate::http::problem`): the JSON body, the status and `Retry-After` in one place.

use crate::http::{Answer, Problem};
use crate::metrics::Outcome;
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("The admin API is off: set ${0} to turn it on.")]
    Off(String),
    #[error("A valid admin token is required.")]
    Unauthorized,
    #[error("Too many failed admin logins from here; try again in {0} seconds.")]
    Throttled(u64),
    #[error("Changes need the bearer token, or a same-origin request from the admin page.")]
    CrossSite,
    #[error("No submission has that id.")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("The configuration was not reloaded; the running one stays: {0}")]
    ReloadRefused(String),
    #[error("The log could not be read; see the relay's logs.")]
    Internal(#[source] anyhow::Error),
}

impl Problem for AdminError {
    fn answer(&self) -> Answer {
        match self {
            Self::Off(_) => Answer::new(StatusCode::NOT_FOUND, "ADMIN_OFF", Outcome::Refused),
            Self::Unauthorized => {
                Answer::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", Outcome::Unauthorized)
            }
            Self::Throttled(secs) => Answer::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                Outcome::RateLimited,
            )
            .retry_after(*secs),
            Self::CrossSite => Answer::new(StatusCode::FORBIDDEN, "ORIGIN_NOT_ALLOWED", Outcome::Refused),
            Self::NotFound => Answer::new(StatusCode::NOT_FOUND, "NOT_FOUND", Outcome::Refused),
            Self::BadRequest(_) => Answer::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", Outcome::Refused),
            Self::Conflict(_) => Answer::new(StatusCode::CONFLICT, "CONFLICT", Outcome::Refused),
            Self::ReloadRefused(_) => Answer::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_CONFIG",
                Outcome::Refused,
            ),
            Self::Internal(_) => Answer::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", Outcome::Failed),
        }
    }
}

impl actix_web::ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        self.answer().status
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(error) = self {
            tracing::error!(error = %format!("{error:#}"), "admin request failed");
        }
        let mut response = crate::http::problem_answer(self);
        if matches!(self, Self::Unauthorized) {
            // A browser asks for the token as a password.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"talk-relay admin\""),
            );
        }
        response
    }
}
