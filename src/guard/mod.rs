//! Guard (SPEC §2 step 1): cheap checks that turn abuse away before anything is
//! parsed deeply or recorded.

mod client_ip;
mod origin;

pub use client_ip::client_ip;
pub use origin::{origin_allowed, request_origin};

use crate::config::FormConfig;
use crate::intake::SubmittedFields;

/// A bot filled the hidden field that people never see.
pub fn honeypot_tripped(form: &FormConfig, fields: &SubmittedFields) -> bool {
    fields.first(&form.honeypot).is_some()
}
