//! CORS: the request origin is echoed only when it is listed. A form with no list accepts
//! any origin and says `*`; `/talk/session` never does.

use crate::config::{FormConfig, WebOrigin};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// What a form's scripts may send: the usual, and the headers Formspree's client library adds
/// (docs/forms.md, "Coming from Formspree").
const ALLOWED_HEADERS: &str =
    "Content-Type, Accept, X-Requested-With, Idempotency-Key, Formspree-Client, Formspree-Session-Data";

/// A form with a list echoes a listed origin only; a form without one, or a form that does not
/// exist (so a script can read `FORM_NOT_FOUND`), says `*`.
fn allow_origin_value(form: Option<&FormConfig>, origin: Option<&WebOrigin>) -> Option<HeaderValue> {
    match form {
        Some(form) if !form.allowed_origins.is_empty() => listed_value(&form.allowed_origins, origin),
        _ => Some(HeaderValue::from_static("*")),
    }
}

fn listed_value(allowed: &[WebOrigin], origin: Option<&WebOrigin>) -> Option<HeaderValue> {
    let origin = origin.filter(|o| allowed.contains(o))?;
    HeaderValue::from_str(origin.as_str()).ok()
}

fn set_allow(response: &mut HttpResponse, value: Option<HeaderValue>) {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(value) = value {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
}

/// Adds `Access-Control-Allow-Origin` to an intake response when the origin is allowed.
pub fn allow(response: &mut HttpResponse, form: Option<&FormConfig>, origin: Option<&WebOrigin>) {
    set_allow(response, allow_origin_value(form, origin));
}

/// The same for an endpoint that only ever echoes a listed origin.
pub fn allow_listed(response: &mut HttpResponse, allowed: &[WebOrigin], origin: Option<&WebOrigin>) {
    set_allow(response, listed_value(allowed, origin));
}

/// A preflight for an endpoint that only ever echoes a listed origin.
pub fn preflight_listed(
    req: &HttpRequest,
    allowed: &[WebOrigin],
    allowed_headers: &'static str,
) -> HttpResponse {
    preflight_answer(
        listed_value(allowed, preflight_origin(req).as_ref()),
        allowed_headers,
    )
}

/// The `Origin` header of a preflight, parsed.
pub fn preflight_origin(req: &HttpRequest) -> Option<WebOrigin> {
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .and_then(WebOrigin::parse)
}

/// Answers a preflight: 204 with the allowances when `allow` is the origin to echo, 403
/// without any CORS headers otherwise (the browser then refuses the request itself).
pub fn preflight_answer(allow: Option<HeaderValue>, allowed_headers: &'static str) -> HttpResponse {
    match allow {
        Some(value) => HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, value))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, allowed_headers))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .insert_header((header::VARY, "Origin"))
            .finish(),
        None => HttpResponse::Forbidden()
            .insert_header((header::VARY, "Origin"))
            .finish(),
    }
}

/// A form's preflight.
pub fn preflight(req: &HttpRequest, form: Option<&FormConfig>) -> HttpResponse {
    preflight_answer(
        allow_origin_value(form, preflight_origin(req).as_ref()),
        ALLOWED_HEADERS,
    )
}
