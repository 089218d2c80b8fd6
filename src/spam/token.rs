//! The time-to-submit token (docs/spam.md, "Time to submit"): `GET /f/{form}/token.js` hands
//! the page a timestamp signed by the relay; the post brings it back in [`FIELD`].

use secrecy::SecretString;

/// The hidden field the script fills.
pub const FIELD: &str = "_fill_token";

/// How far ahead of this relay's clock a token may be (another relay of a fleet signed it).
const SKEW_MS: i64 = 60_000;

/// What the signature covers. Form names hold no NUL and a `/thanks` link's parts begin
/// with one, so a token and a link can never be taken for each other.
fn signed_parts<'a>(form: &'a str, issued: &'a str) -> [&'a [u8]; 4] {
    [b"\0fill\0", form.as_bytes(), b"\0", issued.as_bytes()]
}

/// A token for `form`, issued at `now_ms`: `MILLIS.HEX`.
pub fn issue(key: &SecretString, form: &str, now_ms: i64) -> String {
    let issued = now_ms.to_string();
    let sig = crate::guard::hmac_sha256(key, &signed_parts(form, &issued));
    format!("{issued}.{}", hex::encode(&sig[..16]))
}

/// What a post's token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// No token came with the post.
    Missing,
    /// Not one this relay signed for this form, from the future, or too old.
    Forged,
    Expired,
    /// Signed, and the page was open this many milliseconds before the post.
    Filled(i64),
}

pub fn check(key: &SecretString, form: &str, token: Option<&str>, now_ms: i64, max_age_s: u64) -> TokenCheck {
    let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
        return TokenCheck::Missing;
    };
    let Some((issued, sig)) = token.split_once('.') else {
        return TokenCheck::Forged;
    };
    let (Ok(at), Ok(given)) = (issued.parse::<i64>(), hex::decode(sig)) else {
        return TokenCheck::Forged;
    };
    let expected = crate::guard::hmac_sha256(key, &signed_parts(form, issued));
    let signed = given.len() == 16 && subtle::ConstantTimeEq::ct_eq(&expected[..16], &given[..]).into();
    let age = now_ms - at;
    match () {
        _ if !signed || age < -SKEW_MS => TokenCheck::Forged,
        _ if age > (max_age_s as i64).saturating_mul(1000) => TokenCheck::Expired,
        _ => TokenCheck::Filled(age.max(0)),
    }
}

/// The script a page includes with `<script src="…/f/FORM/token.js" defer>`: it puts the
/// token into every form that posts to this relay's `/f/FORM`, and exposes it as
/// `window.talkRelayTokens[FORM]` for pages that post with `fetch()`.
pub fn script(form: &str, token: &str) -> String {
    format!(
        "(function(){{var f={form:?},t={token:?};window.talkRelayTokens=window.talkRelayTokens||{{}};\
window.talkRelayTokens[f]=t;function fill(){{document.querySelectorAll('form').forEach(function(e){{\
var a=(e.getAttribute('action')||'').split(/[?#]/)[0];if(a.slice(-f.length-3)!=='/f/'+f)return;\
var i=e.querySelector('input[name=\"{FIELD}\"]');if(!i){{i=document.createElement('input');\
i.type='hidden';i.name='{FIELD}';e.appendChild(i);}}i.value=t;}});}}\
if(document.readyState==='loading')document.addEventListener('DOMContentLoaded',fill);else fill();}})();\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_checks_for_its_form_only_and_ages() {
        let key = SecretString::from("k".repeat(32));
        let token = issue(&key, "contact", 1_000_000);
        let check = |form, now| super::check(&key, form, Some(&token), now, 60);
        assert_eq!(check("contact", 1_004_000), TokenCheck::Filled(4000));
        assert_eq!(check("other", 1_004_000), TokenCheck::Forged);
        assert_eq!(check("contact", 1_000_000 + 61_000), TokenCheck::Expired);
        assert_eq!(check("contact", 1_000_000 - 120_000), TokenCheck::Forged);
        let other_key = SecretString::from("x".repeat(32));
        assert_eq!(
            super::check(&other_key, "contact", Some(&token), 1_004_000, 60),
            TokenCheck::Forged
        );
        assert_eq!(super::check(&key, "contact", None, 0, 60), TokenCheck::Missing);
        assert_eq!(
            super::check(&key, "contact", Some("12.zz"), 0, 60),
            TokenCheck::Forged
        );
    }
}
