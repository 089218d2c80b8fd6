//! Webhook authentication over the raw bytes: HMAC-SHA256 over the bytes a hook's template
//! names (`{body}`, `{timestamp}.{body}`, `{method}{url}{body}{timestamp}`, …) or a shared
//! token. Every comparison is constant-time.

use crate::config::{HmacAuth, HookAuth, SignatureEncoding, SignatureLayout, SignedPart, TimestampUnit};
use actix_web::http::header::HeaderMap;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
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

/// The request as a signature may cover it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The full URL as the sender called it (scheme, host, path and query).
    pub url: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Checks a hook call. For a signed call, answers a digest of the signed bytes (the body,
/// plus the timestamp where the scheme has one): the same call replayed has the same digest,
/// so it can stand in for an idempotency key the payload lacks.
pub fn authenticate(
    auth: &HookAuth,
    request: &SignedRequest<'_>,
    now: DateTime<Utc>,
) -> Result<Option<String>, AuthFailure> {
    match auth {
        HookAuth::None => Ok(None),
        HookAuth::Token { secret, header } => {
            let from_header = header
                .as_deref()
                .and_then(|h| header_value(request.headers, h))
                .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned());
            let from_query = || {
                serde_urlencoded::from_str::<Vec<(String, String)>>(request.query)
                    .ok()?
                    .into_iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v)
            };
            let given = from_header.or_else(from_query).ok_or(AuthFailure::MissingToken)?;
            same_secret(&given, secret)
                .then_some(None)
                .ok_or(AuthFailure::WrongToken)
        }
        HookAuth::Hmac(hmac) => verify_hmac(hmac, request, now).map(Some),
    }
}

fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Verifies an HMAC over the bytes the hook's template names (README, "Signatures").
fn verify_hmac(
    auth: &HmacAuth,
    request: &SignedRequest<'_>,
    now: DateTime<Utc>,
) -> Result<String, AuthFailure> {
    let signature = header_value(request.headers, &auth.header)
        .ok_or_else(|| AuthFailure::MissingHeader(auth.header.clone()))?;
    let (from_parts, candidates): (Option<&str>, Vec<&str>) = match auth.layout {
        SignatureLayout::Whole => {
            let encoded = match &auth.prefix {
                Some(prefix) => signature
                    .strip_prefix(prefix.as_str())
                    .ok_or(AuthFailure::Malformed)?,
                None => signature,
            };
            (None, vec![encoded])
        }
        SignatureLayout::Parts => {
            let mut timestamp = None;
            let mut candidates = Vec::new();
            for part in signature.split(',') {
                match part.trim().split_once('=') {
                    Some(("t", t)) => timestamp = Some(t),
                    Some(("v1", sig)) => candidates.push(sig),
                    _ => {}
                }
            }
            (timestamp, candidates)
        }
    };
    let timestamp = match &auth.timestamp {
        None => None,
        Some(source) => {
            let raw = match &source.header {
                Some(header) => header_value(request.headers, header)
                    .ok_or_else(|| AuthFailure::MissingHeader(header.clone()))?,
                None => from_parts.ok_or(AuthFailure::Malformed)?,
            };
            let value: i64 = raw.trim().parse().map_err(|_| AuthFailure::Malformed)?;
            let millis = match source.unit {
                TimestampUnit::S => value.saturating_mul(1000),
                TimestampUnit::Ms => value,
            };
            within_tolerance(millis, now, auth.tolerance_secs)?;
            Some(raw.trim())
        }
    };
    if candidates.is_empty() {
        return Err(AuthFailure::Malformed);
    }
    let url = auth.signed_url.as_deref().unwrap_or(request.url);
    let signed: Vec<&[u8]> = auth
        .signed
        .iter()
        .map(|part| match part {
            SignedPart::Text(text) => text.as_bytes(),
            SignedPart::Method => request.method.as_bytes(),
            SignedPart::Url => url.as_bytes(),
            SignedPart::Path => request.path.as_bytes(),
            SignedPart::Body => request.body,
            SignedPart::Timestamp => timestamp.unwrap_or("").as_bytes(),
        })
        .collect();
    let mut malformed = false;
    for candidate in candidates {
        match check(auth, &signed, candidate) {
            Ok(()) => return Ok(digest(&signed)),
            Err(AuthFailure::Malformed) => malformed = true,
            Err(_) => {}
        }
    }
    Err(if malformed {
        AuthFailure::Malformed
    } else {
        AuthFailure::Mismatch
    })
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
    hmac_sha256_matches(&auth.secret, parts, &given)
        .then_some(())
        .ok_or(AuthFailure::Mismatch)
}

fn mac_of(secret: &SecretString, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Whether `given` is the HMAC-SHA256 of `parts` under `secret`, compared in constant time.
pub fn hmac_sha256_matches(secret: &SecretString, parts: &[&[u8]], given: &[u8]) -> bool {
    mac_of(secret, parts).verify_slice(given).is_ok()
}

/// The HMAC-SHA256 of `parts` under `secret` (the relay's own signed links).
pub fn hmac_sha256(secret: &SecretString, parts: &[&[u8]]) -> Vec<u8> {
    mac_of(secret, parts).finalize().into_bytes().to_vec()
}

/// Whether `given` is the secret, compared in constant time (tokens, site keys, admin).
pub fn same_secret(given: &str, secret: &SecretString) -> bool {
    given.as_bytes().ct_eq(secret.expose_secret().as_bytes()).into()
}
