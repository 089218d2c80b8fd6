//! Who may ask for a session: a site key (`Authorization: Bearer …`), compared in constant
//! time against every key, or an identity the site signed at login.

use super::{SessionError, SessionRequest};
use crate::config::SessionConfig;
use actix_web::http::header;
use actix_web::HttpRequest;

/// A site key (`Authorization: Bearer …`) or a signed identity; the log's label for it.
pub(super) fn authenticate(
    req: &HttpRequest,
    sessions: &SessionConfig,
    request: &SessionRequest,
    now: i64,
) -> Result<String, SessionError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(given) = bearer {
        // Check every key, so timing does not tell which one almost matched.
        let matched = sessions.site_keys.iter().fold(None, |found, site| {
            if crate::guard::same_secret(given, &site.key) {
                Some(site.id.clone())
            } else {
                found
            }
        });
        return matched.ok_or(SessionError::Unauthorized(
            "the site key is not one this relay knows",
        ));
    }
    let (Some(expires), Some(signature)) = (request.expires, request.signature.as_deref()) else {
        return Err(SessionError::Unauthorized(
            "send a site key, or a signed identity with expires and signature",
        ));
    };
    let secret = sessions
        .signing_secret
        .as_ref()
        .ok_or(SessionError::Unauthorized("signed identities are not enabled"))?;
    if expires <= now {
        return Err(SessionError::Unauthorized("the signed identity has expired"));
    }
    if expires > now + sessions.max_expires_ahead_secs {
        return Err(SessionError::Unauthorized(
            "the signed identity expires too far ahead (24 hours at most)",
        ));
    }
    let given =
        hex::decode(signature.trim()).map_err(|_| SessionError::Unauthorized("the signature is not hex"))?;
    let signed = format!("{}\n{}\n{}", request.email, request.name, expires);
    if !crate::guard::hmac_sha256_matches(secret, &[signed.as_bytes()], &given) {
        return Err(SessionError::Unauthorized("the signature does not match"));
    }
    Ok("signed".to_owned())
}
