//! Where a browser goes after posting: never an open redirect.

use crate::config::{FormConfig, WebOrigin};
use url::Url;

/// The `_next`/`_redirect` target, when it is on one of the form's allowed origins:
/// an absolute http(s) URL whose origin is exactly listed, or a path resolved on the
/// posting page's origin (or the first listed one). Everything else is ignored.
pub fn allowed_next(
    form: &FormConfig,
    requested: Option<&str>,
    request_origin: Option<&WebOrigin>,
) -> Option<Url> {
    let requested = requested?.trim();
    if form.allowed_origins.is_empty() || requested.is_empty() {
        return None;
    }
    // Browsers treat backslashes like slashes (`/\evil.example`), and control characters are dropped.
    if requested.contains('\\') || requested.chars().any(char::is_control) {
        return None;
    }
    if requested.starts_with('/') {
        if requested.starts_with("//") {
            return None;
        }
        let base = request_origin
            .filter(|o| form.allowed_origins.contains(o))
            .unwrap_or(&form.allowed_origins[0]);
        let url = Url::parse(base.as_str()).ok()?.join(requested).ok()?;
        return (WebOrigin::parse(url.as_str()).as_ref() == Some(base)).then_some(url);
    }
    let url = Url::parse(requested).ok()?;
    let origin = WebOrigin::parse(url.as_str())?;
    form.allowed_origins.contains(&origin).then_some(url)
}
