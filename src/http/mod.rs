//! HTTP helpers every handler shares, and nothing else: reading a body under the size and
//! time limits and parsing it into fields, and CORS. A leaf: it knows settings and domain
//! types, never a handler (docs/architecture.md).

pub mod body;
pub mod cors;
pub mod json;
pub mod parse;

/// The JSON error body every endpoint answers with (the shape Formspree's clients read):
/// `{"ok": false, "error": <sentence>, "errors": [{"field"?, "code", "message"}]}`.
pub fn error_body(message: &str, errors: impl serde::Serialize) -> serde_json::Value {
    serde_json::json!({ "ok": false, "error": message, "errors": errors })
}
