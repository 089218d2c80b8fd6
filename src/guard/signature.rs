//! Webhook authentication over the raw body bytes: HMAC-SHA256 (plain, `t=…,v1=…`
//! timestamped, or Webflow's `<ms>:<body>`) or a shared token. Every comparison is
//! constant-time.

use crate::config::{HmacAuth, HmacFormat, HookAuth, SignatureEncoding};
use actix_web::http::header::HeaderMap;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Why a hook request was not let in (401 `BAD_SIGNATURE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("the `{0}` header is missing")]
    MissingHeader(String),
    #[error("no token was given")]
    MissingToken,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the token is wrong")]
    WrongToken,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is more than {0} seconds from now")]
    Stale(u64),
}

/// Checks a hook call. For a signed call, answers a digest of the signed bytes (the body,
/// plus the timestamp where the scheme has one): the same call replayed has the same digest,
/// so it can stand in for an idempotency key the payload lacks.
pub fn authenticate(
    auth: &HookAuth,
    headers: &HeaderMap,
    query: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<String>, AuthFailure> {
    match auth {
        HookAuth::None => Ok(None),
        HookAuth::Token { secret, header } => {
            let from_header = header
                .as_deref()
                .and_then(|h| header_value(headers, h))
                .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
            let from_query = || {
                serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                    .ok()?
                    .into_iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v)
            };
            let given = from_header.or_else(from_query).ok_or(AuthFailure::MissingToken)?;
            let same: bool = given.as_bytes().ct_eq(secret.expose_secret().as_bytes()).into();
            same.then_some(None).ok_or(AuthFailure::WrongToken)
        }
        HookAuth::Hmac(hmac) => verify_hmac(hmac, headers, body, now).map(Some),
    }
}

fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn verify_hmac(
    auth: &HmacAuth,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<String, AuthFailure> {
    let signature =
        header_value(headers, &auth.header).ok_or_else(|| AuthFailure::MissingHeader(auth.header.clone()))?;
    match auth.format {
        HmacFormat::Plain => {
            let encoded = match &auth.prefix {
                Some(prefix) => signature
                    .strip_prefix(prefix.as_str())
                    .ok_or(AuthFailure::Malformed)?,
                None => signature,
            };
            check(auth, &[body], encoded).map(|()| digest(&[body]))
        }
        HmacFormat::Timestamped => {
            let mut timestamp = None;
            let mut candidates = Vec::new();
            for part in signature.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => timestamp = Some(t),
                    Some(("v1", sig)) => candidates.push(sig),
                    _ => {}
                }
            }
            let t = timestamp.ok_or(AuthFailure::Malformed)?;
            let seconds: i64 = t.parse().map_err(|_| AuthFailure::Malformed)?;
            within_tolerance(seconds.saturating_mul(1000), now, auth.tolerance_secs)?;
            let signed = [t.as_bytes(), b".", body];
            candidates
                .iter()
                .find(|sig| check(auth, &signed, sig).is_ok())
                .map(|_| digest(&signed))
                .ok_or(AuthFailure::Mismatch)
        }
        HmacFormat::Webflow => {
            let header = auth.timestamp_header.as_deref().unwrap_or("x-webflow-timestamp");
            let t =
                header_value(headers, header).ok_or_else(|| AuthFailure::MissingHeader(header.to_owned()))?;
            let millis: i64 = t.parse().map_err(|_| AuthFailure::Malformed)?;
            within_tolerance(millis, now, auth.tolerance_secs)?;
            let signed = [t.as_bytes(), b":", body];
            check(auth, &signed, signature).map(|()| digest(&signed))
        }
    }
}

fn within_tolerance(millis: i64, now: DateTime<Utc>, tolerance_secs: u64) -> Result<(), AuthFailure> {
    let skew = (now.timestamp_millis() - millis).unsigned_abs();
    (skew <= tolerance_secs.saturating_mul(1000))
        .then_some(())
        .ok_or(AuthFailure::Stale(tolerance_secs))
}

fn digest(parts: &[&[u8]]) -> String {
    use sha2::Digest;
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    format!("signed-sha256:{}", hex::encode(hasher.finalize()))
}

/// Decodes the given signature and compares it with the HMAC of `parts`, in constant time.
fn check(auth: &HmacAuth, parts: &[&[u8]], encoded: &str) -> Result<(), AuthFailure> {
    let given = match auth.encoding {
        SignatureEncoding::Hex => hex::decode(encoded.trim()).map_err(|_| AuthFailure::Malformed)?,
        SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(encoded.trim()))
            .map_err(|_| AuthFailure::Malformed)?,
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(auth.secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&given).map_err(|_| AuthFailure::Mismatch)
}
