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
    /// The URL as the sender was given it: `server.public_url` and the path and query.
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

/// The values of every `name` header, in order (a sender may repeat the header).
fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The signatures a header carries, and a `t=` timestamp when its layout has one. Any of
/// them may match: senders send several while a secret rotates.
fn signatures<'h>(
    auth: &HmacAuth,
    headers: &'h HeaderMap,
) -> Result<(Option<&'h str>, Vec<&'h str>), AuthFailure> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for value in header_values(headers, &auth.header) {
        match auth.layout {
            SignatureLayout::Whole => candidates.push(match &auth.prefix {
                Some(prefix) => value
                    .strip_prefix(prefix.as_str())
                    .ok_or(AuthFailure::Malformed)?,
                None => value,
            }),
            SignatureLayout::Parts => {
                for part in value.split(',') {
                    match part.trim().split_once('=') {
                        Some(("t", t)) => timestamp = Some(t),
                        Some(("v1", sig)) => candidates.push(sig),
                        _ => {}
                    }
                }
            }
            SignatureLayout::Versioned => candidates.extend(
                value
                    .split_ascii_whitespace()
                    .filter_map(|part| part.strip_prefix("v1,")),
            ),
        }
    }
    if candidates.is_empty() {
        return Err(match header_values(headers, &auth.header).next() {
            None => AuthFailure::MissingHeader(auth.header.clone()),
            Some(_) => AuthFailure::Malformed,
        });
    }
    Ok((timestamp, candidates))
}

/// The signed timestamp, checked against the tolerance, when the signed bytes have one.
fn signed_timestamp<'h>(
    auth: &HmacAuth,
    headers: &'h HeaderMap,
    from_parts: Option<&'h str>,
    now: DateTime<Utc>,
) -> Result<Option<&'h str>, AuthFailure> {
    let Some(source) = &auth.timestamp else {
        return Ok(None);
    };
    let raw = match &source.header {
        Some(header) => {
            header_value(headers, header).ok_or_else(|| AuthFailure::MissingHeader(header.clone()))?
        }
        None => from_parts.ok_or(AuthFailure::Malformed)?.trim(),
    };
    let value: i64 = raw.parse().map_err(|_| AuthFailure::Malformed)?;
    let millis = match source.unit {
        TimestampUnit::S => value.saturating_mul(1000),
        TimestampUnit::Ms => value,
    };
    within_tolerance(millis, now, auth.tolerance_secs)?;
    Ok(Some(raw))
}

/// Verifies an HMAC over the bytes the hook's template names (docs/webhooks.md, "Signatures"), and
/// answers the call's replay key: the signed `{id}` where there is one, else a digest of
/// the signed bytes.
fn verify_hmac(
    auth: &HmacAuth,
    request: &SignedRequest<'_>,
    now: DateTime<Utc>,
) -> Result<String, AuthFailure> {
    let (from_parts, candidates) = signatures(auth, request.headers)?;
    let timestamp = signed_timestamp(auth, request.headers, from_parts, now)?;
    let url = auth.signed_url.as_deref().unwrap_or(request.url);
    let named = |name: &str| {
        header_value(request.headers, name).ok_or_else(|| AuthFailure::MissingHeader(name.to_owned()))
    };
    let id = auth.id_header.as_deref().map(named).transpose()?;
    let signed = auth
        .signed
        .iter()
        .map(|part| {
            Ok(match part {
                SignedPart::Text(text) => text.as_bytes(),
                SignedPart::Method => request.method.as_bytes(),
                SignedPart::Url => url.as_bytes(),
                SignedPart::Path => request.path.as_bytes(),
                SignedPart::Body => request.body,
                SignedPart::Timestamp => timestamp.unwrap_or("").as_bytes(),
                SignedPart::Id => id.unwrap_or("").as_bytes(),
                SignedPart::Header(name) => named(name)?.as_bytes(),
            })
        })
        .collect::<Result<Vec<&[u8]>, AuthFailure>>()?;
    let mut malformed = false;
    for candidate in candidates {
        match check(auth, &signed, candidate) {
            Ok(()) => {
                return Ok(match id {
                    Some(id) => format!("signed-id:{}", id.chars().take(200).collect::<String>()),
                    None => digest(&signed),
                })
            }
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
    mac_of(auth.key.expose_secret(), parts)
        .verify_slice(&given)
        .map_err(|_| AuthFailure::Mismatch)
}

fn mac_of(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Whether `given` is the HMAC-SHA256 of `parts` under `secret`, compared in constant time.
pub fn hmac_sha256_matches(secret: &SecretString, parts: &[&[u8]], given: &[u8]) -> bool {
    mac_of(secret.expose_secret().as_bytes(), parts)
        .verify_slice(given)
        .is_ok()
}

/// The HMAC-SHA256 of `parts` under `secret` (the relay's own signed links).
pub fn hmac_sha256(secret: &SecretString, parts: &[&[u8]]) -> Vec<u8> {
    mac_of(secret.expose_secret().as_bytes(), parts)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Whether `given` is the secret, compared in constant time (tokens, site keys, admin).
pub fn same_secret(given: &str, secret: &SecretString) -> bool {
    given.as_bytes().ct_eq(secret.expose_secret().as_bytes()).into()
}
