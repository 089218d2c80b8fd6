//! `POST /talk/session`: verified Talk session tokens, minted with the relay's Ortto key so
//! sites never hold it. A site backend authenticates with a site key; a browser with an
//! identity its site signed at login (`identity`). The token is passed through, never stored
//! or logged (docs/sessions.md, "Verified Talk sessions"). It reuses the shared pieces: body reading,
//! CORS and the error body from `http`, secret and HMAC checks from `guard`, and Ortto's
//! reply classification from `ortto`.

mod identity;
mod request;

use crate::domain::{now_timestamp, SubmitterEmail};
use crate::http::{body, Answer, Problem};
use crate::intake::RequestMeta;
use crate::metrics::Outcome;
use crate::ortto::{classify_reply, OrttoClient, OrttoReply, ReplyClass, SuccessBody, TransportError};
use crate::state::AppState;
use crate::store::SessionLog;
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// The log's `auth` until a site key or signature checks out.
const UNAUTHENTICATED: &str = "none";

/// The Ortto client for sessions: one per HTTP worker thread (awc is single-threaded).
pub struct SessionClient(pub OrttoClient);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    email: String,
    name: String,
    first: Option<String>,
    last: Option<String>,
    person_id: Option<String>,
    #[serde(default)]
    fields: Map<String, Value>,
    expires: Option<i64>,
    signature: Option<String>,
}

/// Why no token was minted, with the status and code it answers.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("Verified sessions are not configured on this relay.")]
    Disabled,
    #[error("Too many session requests; try again in {0} seconds.")]
    RateLimited(u64),
    #[error("The request body is not a session request: {0}.")]
    BadRequest(String),
    #[error(transparent)]
    Body(body::BodyError),
    #[error("Not authorised: {0}.")]
    Unauthorized(&'static str),
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("The relay has no Ortto API key, so it cannot mint sessions.")]
    NoKey,
    #[error("Ortto is busy; try again in {0} seconds.")]
    Busy(u64),
    #[error("Ortto did not answer in time; try again.")]
    Timeout,
    #[error("Ortto refused the session request ({0}).")]
    Upstream(String),
}

impl Problem for SessionError {
    /// Status, code, metric outcome and `Retry-After`, in one place.
    fn answer(&self) -> Answer {
        match self {
            Self::Disabled => Answer::new(StatusCode::NOT_FOUND, "SESSIONS_DISABLED", Outcome::Disabled),
            Self::RateLimited(secs) => Answer::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                Outcome::RateLimited,
            )
            .retry_after(*secs),
            Self::BadRequest(_) => Answer::new(StatusCode::BAD_REQUEST, "MALFORMED_BODY", Outcome::Invalid),
            // A body problem answers as it does everywhere, counted as invalid.
            Self::Body(body) => Answer {
                outcome: Outcome::Invalid,
                ..body.answer()
            },
            Self::Unauthorized(_) => {
                Answer::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", Outcome::Unauthorized)
            }
            Self::Invalid(code, _) => Answer::new(StatusCode::UNPROCESSABLE_ENTITY, code, Outcome::Invalid),
            Self::NoKey => {
                Answer::new(StatusCode::SERVICE_UNAVAILABLE, "NOT_CONFIGURED", Outcome::NoKey).retry_after(1)
            }
            Self::Busy(secs) => Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UPSTREAM_UNAVAILABLE",
                Outcome::UpstreamUnavailable,
            )
            .retry_after(*secs),
            Self::Timeout => Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UPSTREAM_UNAVAILABLE",
                Outcome::UpstreamUnavailable,
            )
            .retry_after(1),
            Self::Upstream(_) => Answer::new(
                StatusCode::BAD_GATEWAY,
                "UPSTREAM_REJECTED",
                Outcome::UpstreamRejected,
            ),
        }
    }
}

/// What Ortto gave back, passed through to the caller.
struct Minted {
    token: String,
    session_id: Option<String>,
    person_id: Option<String>,
    person_status: Option<String>,
}

/// Counts the request by outcome, and logs it when it was authenticated: refusals are only
/// counted, never written, so a flood of them cannot fill the disk (docs/faults.md, "Faults
/// and what the relay does").
async fn count_and_log(state: &AppState, enabled: bool, log: SessionLog) {
    state
        .metrics
        .sessions
        .get_or_create(&crate::metrics::OutcomeLabels { outcome: log.outcome })
        .inc();
    if enabled && log.auth != UNAUTHENTICATED {
        if let Err(error) = state.writer.log_session(log).await {
            tracing::error!(error = %format!("{error:#}"), "could not log a session request");
        }
    }
}

/// `POST /talk/session` and its CORS preflight.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/talk/session", web::post().to(mint_session)).route(
        "/talk/session",
        web::method(actix_web::http::Method::OPTIONS).to(preflight),
    );
}

pub async fn mint_session(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let config = state.config();
    let meta = RequestMeta::of(&req, &config);
    let sessions = &config.sessions;
    let mut log = SessionLog {
        requested_at: now_timestamp(),
        auth: UNAUTHENTICATED.to_owned(),
        email: None,
        outcome: Outcome::Issued,
        http_status: 200,
        person_id: None,
        person_status: None,
        session_id: None,
        client_ip: meta.client_ip.clone(),
        latency_ms: 0,
    };
    let result = mint(&req, payload, &state, &config, &meta, &mut log).await;
    let mut response = match result {
        Ok(minted) => {
            log.person_id = minted.person_id.clone();
            log.person_status = minted.person_status.clone();
            log.session_id = minted.session_id.clone();
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(json!({
                    "token": minted.token,
                    "session_id": minted.session_id,
                    "person_id": minted.person_id,
                    "person_status": minted.person_status,
                }))
        }
        Err(error) => {
            let answer = error.answer();
            log.outcome = answer.outcome;
            tracing::info!(
                outcome = answer.outcome.as_str(),
                status = answer.status.as_u16(),
                "session request refused"
            );
            crate::http::problem_answer(&error)
        }
    };
    log.http_status = response.status().as_u16();
    log.latency_ms = started.elapsed().as_millis() as i64;
    count_and_log(&state, sessions.enabled(), log).await;
    crate::http::cors::allow_listed(&mut response, &sessions.allowed_origins, meta.origin.as_ref());
    response
}

async fn mint(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    config: &crate::config::Config,
    meta: &RequestMeta,
    log: &mut SessionLog,
) -> Result<Minted, SessionError> {
    let sessions = &config.sessions;
    if !sessions.enabled() {
        return Err(SessionError::Disabled);
    }
    state
        .rate_limits()
        .check_session(meta.client_addr)
        .map_err(|limited| {
            state.metrics.count_rate_limited(limited.scope);
            SessionError::RateLimited(limited.retry_after_secs)
        })?;
    let bytes = body::read_request_body(req, payload, &config.server)
        .await
        .map_err(SessionError::Body)?;
    let request: SessionRequest =
        serde_json::from_slice(&bytes).map_err(|e| SessionError::BadRequest(format!("{e}")))?;
    log.auth = identity::authenticate(req, sessions, &request, (state.clock)().timestamp())?;

    let email = SubmitterEmail::parse("email", &request.email)
        .map_err(|p| SessionError::Invalid("TYPE_EMAIL", format!("email: {}", p.message)))?;
    log.email = Some(email.as_str().to_owned());
    let body = request::session_body(sessions, &request, &email, meta.client_ip.as_deref())?;

    let client = req.app_data::<SessionClient>().ok_or(SessionError::NoKey)?;
    if let Some(budget) = &state.outbound {
        // Interactive: never queue behind the plan limit, answer at once.
        match budget.take(1).await {
            Ok(grant) if grant.granted == 1 => {}
            Ok(grant) => {
                let wait = grant.next_slot.or(grant.paused.map(|(wait, _)| wait));
                return Err(SessionError::Busy(wait.map_or(1, |w| w.as_secs().max(1))));
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "could not take the outbound budget");
                return Err(SessionError::Busy(1));
            }
        }
    }
    answer(client.0.session(&body).await)
}

/// Ortto's answer, read through the shared classifier: a token on success, and the
/// refusals the caller can act on (this call is interactive, so nothing is retried here).
fn answer(result: Result<OrttoReply, TransportError>) -> Result<Minted, SessionError> {
    match classify_reply(&result) {
        ReplyClass::Success(SuccessBody { json, .. }) => {
            let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
            let token =
                text("token").ok_or_else(|| SessionError::Upstream("no token in the answer".to_owned()))?;
            Ok(Minted {
                token,
                session_id: text("session_id"),
                person_id: text("person_id"),
                person_status: text("person_status"),
            })
        }
        ReplyClass::RateLimited { wait } => Err(SessionError::Busy(wait.as_secs().max(1))),
        ReplyClass::KeyRejected { status, .. } => {
            tracing::error!(status, "Ortto rejected the relay's API key for a session request");
            Err(SessionError::Upstream(
                "the relay's Ortto key was rejected; the relay's operator must fix it".to_owned(),
            ))
        }
        ReplyClass::Rejected { error, .. } => Err(SessionError::Upstream(error.chars().take(200).collect())),
        ReplyClass::Retry {
            status: Some(status), ..
        } => Err(SessionError::Upstream(format!("HTTP {status}"))),
        ReplyClass::Retry { kind: "timeout", .. } => Err(SessionError::Timeout),
        ReplyClass::Retry { error, .. } => {
            tracing::warn!(%error, "Ortto session request failed");
            Err(SessionError::Busy(1))
        }
    }
}

/// `OPTIONS /talk/session`.
pub async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    crate::http::cors::preflight_listed(
        &req,
        &state.config().sessions.allowed_origins,
        "Content-Type, Authorization",
    )
}
