//! Where a browser goes after posting: never an open redirect.

use crate::config::{FormConfig, WebOrigin};
use secrecy::SecretString;
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

/// `_page`, the page the visitor posted from, for the pages' back links. With a list of
/// allowed origins it follows `_next`'s rules; without one it must be an absolute http(s)
/// URL on the posting page's own origin. Anything else is ignored (`Referer` stands in).
pub fn back_page(
    form: &FormConfig,
    requested: Option<&str>,
    request_origin: Option<&WebOrigin>,
) -> Option<Url> {
    if !form.allowed_origins.is_empty() {
        return allowed_next(form, requested, request_origin);
    }
    let requested = requested?.trim();
    if requested.contains('\\') || requested.chars().any(char::is_control) {
        return None;
    }
    let url = Url::parse(requested).ok()?;
    let origin = WebOrigin::parse(url.as_str())?;
    (Some(&origin) == request_origin).then_some(url)
}

/// The way back a page may link to: for a form with `allowed_origins`, the page `back_page`
/// found (on a listed origin); for a form without a list, only a page on the relay's own
/// configured origin (`server.public_url`), since anyone may post to such a form and name any
/// page (docs/pages.md, "Pages").
pub fn back_link(form: &FormConfig, page: Url, relay_origin: Option<&WebOrigin>) -> Option<Url> {
    if !form.allowed_origins.is_empty() {
        return Some(page);
    }
    let origin = WebOrigin::parse(page.as_str())?;
    (Some(&origin) == relay_origin).then_some(page)
}

/// How long a signed `/thanks` link shows its back link.
pub const THANKS_LINK_SECS: i64 = 3600;

/// `GET /thanks`'s query.
#[derive(Debug, serde::Deserialize)]
pub struct ThanksQuery {
    pub form: Option<String>,
    pub page: Option<String>,
    /// Unix seconds after which the back link is no longer shown.
    pub exp: Option<i64>,
    pub sig: Option<String>,
}

/// What the `/thanks` signature covers: the form, the page and the expiry.
fn signed_parts<'a>(form: &'a str, page: &'a str, exp: &'a str) -> [&'a [u8]; 5] {
    [form.as_bytes(), b"\n", page.as_bytes(), b"\n", exp.as_bytes()]
}

/// The built-in thank-you page's address, with the page to go back to, signed by the relay
/// (with a key made at start) and good for [`THANKS_LINK_SECS`], so that a link someone else
/// crafts, or an old one, shows no back link.
pub fn thanks_link(key: &SecretString, form: &str, back: Option<&str>, now: i64) -> String {
    let mut link = Url::parse("http://relay/thanks").expect("a constant URL");
    link.query_pairs_mut().append_pair("form", form);
    if let Some(back) = back {
        let exp = (now + THANKS_LINK_SECS).to_string();
        let sig = hex::encode(crate::guard::hmac_sha256(key, &signed_parts(form, back, &exp)));
        link.query_pairs_mut()
            .append_pair("page", back)
            .append_pair("exp", &exp)
            .append_pair("sig", &sig);
    }
    format!("/thanks?{}", link.query().unwrap_or_default())
}

/// The back link of a `/thanks` address, when the relay signed it and it has not expired.
pub fn verified_back(key: &SecretString, query: &ThanksQuery, now: i64) -> Option<String> {
    let (form, page, exp, sig) = (
        query.form.as_deref()?,
        query.page.as_deref()?,
        query.exp?,
        query.sig.as_deref()?,
    );
    let given = hex::decode(sig).ok()?;
    let signed = signed_parts(form, page, &exp.to_string()).map(<[u8]>::to_vec);
    let parts: Vec<&[u8]> = signed.iter().map(Vec::as_slice).collect();
    (exp >= now && crate::guard::hmac_sha256_matches(key, &parts, &given)).then(|| page.to_owned())
}
