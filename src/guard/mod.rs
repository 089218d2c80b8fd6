//! Guard (docs/guard.md, "Guard"): cheap checks that turn abuse away before anything is
//! parsed deeply or recorded.

mod captcha;
mod client_ip;
mod login;
mod origin;
mod rate_limit;
mod signature;

pub use captcha::{verify as verify_captcha, CaptchaVerdict};
pub use client_ip::{client_ip, limit_key, relay_base};
pub use login::{LoginThrottle, FAILURE_WINDOW, MAX_FAILURES};
pub use origin::{origin_allowed, request_origin, sent_null_origin};
pub use rate_limit::{RateLimited, RateLimits};
pub use signature::{
    authenticate, hmac_sha256, hmac_sha256_matches, same_secret, AuthFailure, SignedRequest,
};

use crate::config::FormConfig;
use crate::domain::SubmittedFields;

/// A bot filled the hidden field that people never see.
pub fn honeypot_tripped(form: &FormConfig, fields: &SubmittedFields) -> bool {
    fields.first(&form.honeypot).is_some()
}
