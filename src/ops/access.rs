//! Who may use `/admin` (docs/operations.md, "Operating it"): the admin token as a bearer token, or as
//! the password of HTTP Basic for a browser. Handlers take [`Operator`] (reads) or
//! [`OperatorChange`] (changes) as an argument; a request without the right credentials is
//! answered before the handler runs.

use super::AdminError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::header;
use actix_web::ResponseError;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use base64::Engine;
use std::future::{ready, Ready};
use std::net::IpAddr;
use std::time::Instant;

/// The request carries the admin token.
pub struct Operator;

/// The request carries the admin token and may change state (see [`refusal_to_change`]).
pub struct OperatorChange;

fn admitted<T>(
    req: &HttpRequest,
    check: fn(&HttpRequest, &AppState) -> Option<HttpResponse>,
    ok: T,
) -> Ready<Result<T, actix_web::Error>> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("the admin routes run with the application state");
    ready(match check(req, state) {
        None => Ok(ok),
        Some(refusal) => Err(InternalError::from_response("admin access refused", refusal).into()),
    })
}

impl FromRequest for Operator {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        admitted(req, refusal, Operator)
    }
}

impl FromRequest for OperatorChange {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        admitted(req, refusal_to_change, OperatorChange)
    }
}

/// How a request may change state: reads pass with the token either way; a change sent
/// with HTTP Basic (credentials a browser caches and sends cross-site by itself) must also
/// come from the relay's own origin, so another site cannot forge it (CSRF).
fn refusal_to_change(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    if let Some(refusal) = refusal(req, state) {
        return Some(refusal);
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    // The relay's own origin, scheme included: `server.public_url`, else the Host called, with
    // forwarded host and scheme believed only from a trusted proxy.
    let own = crate::config::WebOrigin::parse(crate::guard::relay_base(req, &state.config().server).as_str());
    let same_origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::config::WebOrigin::parse)
        .is_some_and(|origin| Some(origin) == own);
    (!bearer && !same_origin).then(|| AdminError::CrossSite.error_response())
}

/// `None` lets the request through; otherwise the answer that says why not.
pub(crate) fn refusal(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let config = state.config();
    let Some(token) = &config.admin_token else {
        return Some(AdminError::Off(config.admin_token_env.clone()).error_response());
    };
    let server = &config.server;
    // Keyed as the rate limits are: an IPv6 client per network prefix, so rotating addresses
    // inside one /64 does not buy more guesses.
    let client = crate::guard::limit_key(
        crate::guard::client_ip(req, &server.trusted_proxies, &server.client_ip_header)
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
        config.rate_limits.ipv6_prefix,
    );
    let now = Instant::now();
    if let Some(secs) = state.login_throttle.retry_after(client, now) {
        return Some(AdminError::Throttled(secs).error_response());
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|value| {
            if let Some(bearer) = value.strip_prefix("Bearer ") {
                return Some(bearer.trim().to_owned());
            }
            let basic = base64::engine::general_purpose::STANDARD
                .decode(value.strip_prefix("Basic ")?.trim())
                .ok()?;
            let basic = String::from_utf8(basic).ok()?;
            Some(
                basic
                    .split_once(':')
                    .map_or(basic.clone(), |(_, password)| password.to_owned()),
            )
        });
    let tried = given.is_some();
    let matches = given.is_some_and(|g| crate::guard::same_secret(&g, token));
    if matches {
        return None;
    }
    if tried {
        state.login_throttle.failed(client, now);
    }
    Some(AdminError::Unauthorized.error_response())
}
