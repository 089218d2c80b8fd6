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

/// Browser posts from origins outside a form's list are refused. A request that names
/// no origin at all (strict referrer policies, server-side posts) is let through unless
/// the form has a list and `require_origin` is set.
pub fn origin_allowed(form: &FormConfig, origin: Option<&WebOrigin>) -> bool {
    match origin {
        Some(origin) => form.origin_allowed(origin),
        None => !form.require_origin || form.allowed_origins.is_empty(),
    }
}
