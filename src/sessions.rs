//! `POST /talk/session`: verified Talk session tokens, minted with the relay's Ortto key so
//! sites never hold it. A site backend authenticates with a site key; a browser with an
//! identity its site signed at login. The token is passed through, never stored or logged.

use crate::config::{SessionConfig, WebOrigin};
use crate::domain::{now_timestamp, SubmitterEmail};
use crate::http::body;
use crate::intake::RequestMeta;
use crate::ortto::{OrttoClient, OrttoReply, TransportError};
use crate::state::AppState;
use crate::store::SessionLog;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::time::Instant;
use subtle::ConstantTimeEq;

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

impl SessionError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Disabled => StatusCode::NOT_FOUND,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Body(body::BodyError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body(body::BodyError::TimedOut { .. }) => StatusCode::REQUEST_TIMEOUT,
            Self::Body(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Invalid(..) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NoKey | Self::Busy(_) | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Disabled => "SESSIONS_DISABLED",
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::BadRequest(_) => "MALFORMED_BODY",
            Self::Body(body::BodyError::TooLarge { .. }) => "PAYLOAD_TOO_LARGE",
            Self::Body(body::BodyError::TimedOut { .. }) => "REQUEST_TIMEOUT",
            Self::Body(_) => "MALFORMED_BODY",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Invalid(code, _) => code,
            Self::NoKey => "NOT_CONFIGURED",
            Self::Busy(_) | Self::Timeout => "UPSTREAM_UNAVAILABLE",
            Self::Upstream(_) => "UPSTREAM_REJECTED",
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::RateLimited(_) => "rate_limited",
            Self::BadRequest(_) | Self::Body(_) | Self::Invalid(..) => "invalid",
            Self::Unauthorized(_) => "unauthorized",
            Self::NoKey => "no_key",
            Self::Busy(_) | Self::Timeout => "upstream_unavailable",
            Self::Upstream(_) => "upstream_rejected",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited(s) | Self::Busy(s) => Some(*s),
            Self::Timeout | Self::NoKey => Some(1),
            _ => None,
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

pub async fn mint_session(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let meta = RequestMeta::of(&req, &state);
    let sessions = &state.config.sessions;
    let mut log = SessionLog {
        requested_at: now_timestamp(),
        auth: UNAUTHENTICATED.to_owned(),
        email: None,
        outcome: "issued",
        http_status: 200,
        person_id: None,
        person_status: None,
        session_id: None,
        client_ip: meta.client_ip.clone(),
        latency_ms: 0,
    };
    let result = mint(&req, payload, &state, &meta, &mut log).await;
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
            log.outcome = error.outcome();
            tracing::info!(
                outcome = error.outcome(),
                status = error.status().as_u16(),
                "session request refused"
            );
            let mut response = HttpResponse::build(error.status()).json(json!({
                "ok": false,
                "error": error.to_string(),
                "errors": [{"code": error.code(), "message": error.to_string()}],
            }));
            if let Some(secs) = error.retry_after() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
    };
    log.http_status = response.status().as_u16();
    log.latency_ms = started.elapsed().as_millis() as i64;
    state
        .metrics
        .sessions
        .get_or_create(&crate::metrics::OutcomeLabels {
            outcome: log.outcome.to_owned(),
        })
        .inc();
    crate::intake::close_if_timed_out(&mut response);
    // Only authenticated requests are logged: refusals are counted above, never written,
    // so a flood of them cannot fill the disk (README, "Faults and what the relay does").
    if sessions.enabled() && log.auth != UNAUTHENTICATED {
        if let Err(error) = state.writer.log_session(log).await {
            tracing::error!(error = %format!("{error:#}"), "could not log a session request");
        }
    }
    allow_origin(&mut response, sessions, meta.origin.as_ref());
    response
}

async fn mint(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    meta: &RequestMeta,
    log: &mut SessionLog,
) -> Result<Minted, SessionError> {
    let sessions = &state.config.sessions;
    if !sessions.enabled() {
        return Err(SessionError::Disabled);
    }
    state
        .rate_limits
        .check_session(meta.client_addr)
        .map_err(|limited| {
            state.metrics.count_rate_limited(limited.scope);
            SessionError::RateLimited(limited.retry_after_secs)
        })?;
    let bytes = body::read_request_body(req, payload, &state.config.server)
        .await
        .map_err(SessionError::Body)?;
    let request: SessionRequest =
        serde_json::from_slice(&bytes).map_err(|e| SessionError::BadRequest(format!("{e}")))?;
    log.auth = authenticate(req, sessions, &request, (state.clock)().timestamp())?;

    let email = SubmitterEmail::parse("email", &request.email)
        .map_err(|p| SessionError::Invalid("TYPE_EMAIL", format!("email: {}", p.message)))?;
    log.email = Some(email.as_str().to_owned());
    let body = session_body(sessions, &request, &email, meta.client_ip.as_deref())?;

    let client = req.app_data::<SessionClient>().ok_or(SessionError::NoKey)?;
    if let Some(limiter) = &state.outbound {
        // Interactive: never queue behind the plan limit, answer at once.
        if !limiter.try_acquire() {
            return Err(SessionError::Busy(1));
        }
    }
    answer(client.0.session(&body).await)
}

/// A site key (`Authorization: Bearer …`) or a signed identity; the log's label for it.
fn authenticate(
    req: &HttpRequest,
    sessions: &SessionConfig,
    request: &SessionRequest,
    now: i64,
) -> Result<String, SessionError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(given) = bearer {
        // Check every key, so timing does not tell which one almost matched.
        let matched = sessions.site_keys.iter().fold(None, |found, site| {
            let same: bool = given.as_bytes().ct_eq(site.key.expose_secret().as_bytes()).into();
            if same {
                Some(site.id.clone())
            } else {
                found
            }
        });
        return matched.ok_or(SessionError::Unauthorized(
            "the site key is not one this relay knows",
        ));
    }
    let (Some(expires), Some(signature)) = (request.expires, request.signature.as_deref()) else {
        return Err(SessionError::Unauthorized(
            "send a site key, or a signed identity with expires and signature",
        ));
    };
    let secret = sessions
        .signing_secret
        .as_ref()
        .ok_or(SessionError::Unauthorized("signed identities are not enabled"))?;
    if expires <= now {
        return Err(SessionError::Unauthorized("the signed identity has expired"));
    }
    if expires > now + sessions.max_expires_ahead_secs {
        return Err(SessionError::Unauthorized(
            "the signed identity expires too far ahead (24 hours at most)",
        ));
    }
    let given =
        hex::decode(signature.trim()).map_err(|_| SessionError::Unauthorized("the signature is not hex"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{}\n{}\n{}", request.email, request.name, expires).as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| SessionError::Unauthorized("the signature does not match"))?;
    Ok("signed".to_owned())
}

/// The body Ortto's session endpoint documents, from what the caller may set.
fn session_body(
    sessions: &SessionConfig,
    request: &SessionRequest,
    email: &SubmitterEmail,
    client_ip: Option<&str>,
) -> Result<Value, SessionError> {
    let text = |field: &str, value: &str| -> Result<String, SessionError> {
        let value = crate::clean::strip_control(value.trim()).into_owned();
        if value.chars().count() > crate::ortto::STR_MAX_CHARS {
            return Err(SessionError::Invalid(
                "FIELD_TOO_LONG",
                format!("{field}: longer than 255 characters"),
            ));
        }
        Ok(value)
    };
    let name = text("name", &request.name)?;
    if name.is_empty() {
        return Err(SessionError::Invalid(
            "REQUIRED_FIELD_EMPTY",
            "name: a name is required".to_owned(),
        ));
    }
    let mut fields = Map::new();
    fields.insert("str::email".to_owned(), json!(email.as_str()));
    fields.insert("str::name".to_owned(), json!(name));
    for (id, value) in [("str::first", &request.first), ("str::last", &request.last)] {
        if let Some(value) = value {
            fields.insert(id.to_owned(), json!(text(id, value)?));
        }
    }
    for (id, value) in &request.fields {
        let allowed = sessions
            .allowed_fields
            .iter()
            .find(|f| f.as_str() == id)
            .ok_or_else(|| {
                SessionError::Invalid(
                    "FIELD_NOT_ALLOWED",
                    format!("fields.{id}: not in sessions.allowed_fields"),
                )
            })?;
        let value = match value {
            Value::String(s) if allowed.kind() == crate::domain::FieldKind::Str => json!(text(id, s)?),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => value.clone(),
            _ => {
                return Err(SessionError::Invalid(
                    "FIELD_TYPE",
                    format!("fields.{id}: a string, number or boolean"),
                ))
            }
        };
        fields.insert(id.clone(), value);
    }
    let mut body = json!({
        "merge_by": sessions.merge_by.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        "merge_strategy": 2,
        "find_strategy": 0,
        "skip_non_existing": false,
        "fields": fields,
    });
    if let Some(person_id) = request
        .person_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if person_id.len() > 64
            || !person_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SessionError::Invalid(
                "TYPE_PERSON_ID",
                "person_id: not an Ortto person id".to_owned(),
            ));
        }
        body["person_id"] = json!(person_id);
    }
    if let Some(ip) = client_ip {
        body["location"] = json!({ "source_ip": ip });
    }
    Ok(body)
}

fn answer(result: Result<OrttoReply, TransportError>) -> Result<Minted, SessionError> {
    let reply = match result {
        Ok(reply) => reply,
        Err(TransportError::Timeout(_)) => return Err(SessionError::Timeout),
        Err(error) => {
            tracing::warn!(error = %error, "Ortto session request failed");
            return Err(SessionError::Busy(1));
        }
    };
    let json: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
    match reply.status {
        200..=299 => {
            let token =
                text("token").ok_or_else(|| SessionError::Upstream("no token in the answer".to_owned()))?;
            Ok(Minted {
                token,
                session_id: text("session_id"),
                person_id: text("person_id"),
                person_status: text("person_status"),
            })
        }
        429 => {
            let wait = json
                .pointer("/error/try-in-seconds")
                .and_then(Value::as_u64)
                .or(reply.retry_after)
                .unwrap_or(10);
            Err(SessionError::Busy(wait.max(1)))
        }
        401 | 403 => {
            tracing::error!(
                status = reply.status,
                "Ortto rejected the relay's API key for a session request"
            );
            Err(SessionError::Upstream(
                "the relay's Ortto key was rejected; the relay's operator must fix it".to_owned(),
            ))
        }
        status @ 400..=499 => {
            let message = json
                .pointer("/error/message")
                .or(json.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            Err(SessionError::Upstream(format!(
                "HTTP {status}: {}",
                message.chars().take(200).collect::<String>()
            )))
        }
        status => Err(SessionError::Upstream(format!("HTTP {status}"))),
    }
}

/// CORS for browser-direct requests: the origin is echoed only when listed.
fn allow_origin(response: &mut HttpResponse, sessions: &SessionConfig, origin: Option<&WebOrigin>) {
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.filter(|o| sessions.allowed_origins.contains(o)) {
        if let Ok(value) = HeaderValue::from_str(origin.as_str()) {
            response
                .headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        }
    }
}

/// `OPTIONS /talk/session`.
pub async fn preflight(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let allowed = crate::http::cors::preflight_origin(&req)
        .filter(|o| state.config.sessions.allowed_origins.contains(o))
        .and_then(|o| HeaderValue::from_str(o.as_str()).ok());
    crate::http::cors::preflight_answer(allowed, "Content-Type, Authorization")
}
