use crate::config::{FormConfig, WebOrigin};
use actix_web::HttpRequest;

/// The origin a browser says the post came from: `Origin`, or failing that the
/// origin of `Referer`.
pub fn request_origin(req: &HttpRequest) -> Option<WebOrigin> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    header("origin")
        .filter(|o| *o != "null")
        .and_then(WebOrigin::parse)
        .or_else(|| header("referer").and_then(WebOrigin::parse))
}

/// Whether the request says `Origin: null` (a sandboxed iframe, a `data:` page, some
/// privacy settings): any site can make a browser send it.
pub fn sent_null_origin(req: &HttpRequest) -> bool {
    req.headers()
        .get("origin")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"null"))
}

/// Browser posts from origins outside a form's list are refused, and so is `Origin: null`
/// unless the form sets `allow_null_origin`. A request that names no origin at all (strict
/// referrer policies, server-side posts) is let through unless the form has a list and
/// `require_origin` is set.
pub fn origin_allowed(form: &FormConfig, origin: Option<&WebOrigin>, null_origin: bool) -> bool {
    if form.allowed_origins.is_empty() {
        return true;
    }
    match origin {
        _ if null_origin && !form.allow_null_origin => false,
        Some(origin) => form.origin_allowed(origin),
        None => !form.require_origin,
    }
}
