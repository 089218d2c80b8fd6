//! Checks a compose payload against Ortto's documented limits before it is sent, so the
//! relay never spends one of the 15 bad requests that get its IP banned.

use super::{ComposeRequest, STR_MAX_CHARS, TXT_MAX_CHARS};
use crate::domain::field_ids as ids;
use crate::domain::{FieldKind, PersonFieldId};
use serde_json::Value;

const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

/// Checks a stored payload (tests, and any row written before intake checked its payload).
pub fn check_compose_payload(payload: &str) -> Result<(), String> {
    let request: ComposeRequest =
        serde_json::from_str(payload).map_err(|e| format!("payload is not a compose request: {e}"))?;
    check_compose(&request, payload.len())
}

/// Checks a compose request, `bytes` long once serialised, against what Ortto accepts.
/// Intake runs it once on the typed request it built; delivery sends the stored bytes.
pub fn check_compose(request: &ComposeRequest, bytes: usize) -> Result<(), String> {
    if bytes > MAX_PAYLOAD_BYTES {
        return Err(format!("payload is {bytes} bytes; Ortto accepts at most 2 MB"));
    }
    let fields = &request.fields;
    for (id, value) in fields {
        if has_control(id) {
            return Err(format!("`/fields/{id}` holds a control character Ortto refuses"));
        }
        if let Some(path) = control_character(value, &mut format!("/fields/{id}")) {
            return Err(format!("`{path}` holds a control character Ortto refuses"));
        }
        check_field(&PersonFieldId::parse(id)?, id, value)?;
    }
    // Consent is never sent without saying where it came from (docs/mapping.md, "Consent").
    if fields.contains_key(ids::PERMISSION)
        && !fields.get(ids::PERMISSION_CONTEXT).is_some_and(Value::is_string)
    {
        return Err("`bol::p` is sent without `str::s-ctx`".to_owned());
    }
    let merge_by = &request.merge_by;
    if merge_by.is_empty() || merge_by.len() > 2 {
        return Err("`merge_by` must hold one or two field ids".to_owned());
    }
    for id in merge_by {
        PersonFieldId::parse(id)?;
    }
    if !fields.contains_key(&merge_by[0]) {
        return Err(format!("the main merge field `{}` has no value", merge_by[0]));
    }
    let subject = &request.conversation.subject;
    if subject.trim().is_empty() || subject.contains(['\n', '\r']) {
        return Err("the conversation subject must be one non-blank line".to_owned());
    }
    if has_control(subject) {
        return Err("`/conversation/subject` holds a control character Ortto refuses".to_owned());
    }
    if super::text_len(subject) > STR_MAX_CHARS {
        return Err(format!(
            "the conversation subject is longer than {STR_MAX_CHARS} characters"
        ));
    }
    let messages = &request.conversation.messages;
    if messages.is_empty() {
        return Err("the conversation has no messages".to_owned());
    }
    for (i, message) in messages.iter().enumerate() {
        if message.body.trim().is_empty() {
            return Err("a message is not a non-blank text or html body".to_owned());
        }
        if has_control(&message.body) {
            return Err(format!(
                "`/conversation/messages/{i}/body` holds a control character Ortto refuses"
            ));
        }
    }
    Ok(())
}

/// A person field's value in the shape its type takes.
fn check_field(parsed: &PersonFieldId, id: &str, value: &Value) -> Result<(), String> {
    let text_within = |limit: usize| match value.as_str() {
        Some(text) if super::text_len(text) > limit => {
            Err(format!("`{id}` is longer than {limit} characters"))
        }
        Some(_) => Ok(()),
        None => Err(format!("`{id}` must be a string")),
    };
    match parsed.kind() {
        FieldKind::Str => text_within(STR_MAX_CHARS),
        FieldKind::Txt => text_within(TXT_MAX_CHARS),
        FieldKind::Int if value.is_i64() => Ok(()),
        FieldKind::Int => Err(format!("`{id}` must be a whole number")),
        FieldKind::Bol if value.is_boolean() => Ok(()),
        FieldKind::Bol => Err(format!("`{id}` must be true or false")),
        FieldKind::Phn => {
            let digits = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
            };
            let whole = digits("phone") && value.get("parse_with_country_code") == Some(&Value::Bool(true));
            (whole || (digits("c") && digits("n")))
                .then_some(())
                .ok_or_else(|| format!("`{id}` is not a phone number Ortto parses"))
        }
        FieldKind::Geo => match value.get("name").and_then(Value::as_str) {
            Some(name) if super::text_len(name) <= STR_MAX_CHARS => Ok(()),
            _ => Err(format!(
                "`{id}` must be {{\"name\": …}} of at most {STR_MAX_CHARS} characters"
            )),
        },
    }
}

/// Whether text holds a control character other than a line break or tab, which Ortto
/// answers with 400.
fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
}

/// The path of the first string (or key) inside a field's value holding a control character.
fn control_character(value: &Value, path: &mut String) -> Option<String> {
    let bad = has_control;
    match value {
        Value::String(text) => bad(text).then(|| path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut inner = format!("{path}/{i}");
            control_character(item, &mut inner)
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let mut inner = format!("{path}/{key}");
            if bad(key) {
                return Some(inner);
            }
            control_character(item, &mut inner)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_what_ortto_would_refuse() {
        let ok = r#"{"fields":{"str::email":"a@b.co"},"merge_by":["str::email"],"conversation":{"subject":"s","messages":[{"type":"text","body":"b"}]}}"#;
        assert!(check_compose_payload(ok).is_ok());
        let long = ok.replace("a@b.co", &"a".repeat(256));
        assert!(check_compose_payload(&long).unwrap_err().contains("255"));
        let bad_id = ok.replace("str::email\":\"a", "email\":\"a");
        assert!(check_compose_payload(&bad_id).is_err());
        let no_merge_value = ok.replace(r#"["str::email"]"#, r#"["phn::phone"]"#);
        assert!(check_compose_payload(&no_merge_value).is_err());
        let control = ok.replace(r#""body":"b""#, r#""body":"we\u0001ird: b""#);
        assert!(check_compose_payload(&control)
            .unwrap_err()
            .contains("control character"));
        let two_lines = ok.replace(r#""subject":"s""#, r#""subject":"s\nBcc: x""#);
        assert!(check_compose_payload(&two_lines).is_err());
        let consent_alone = ok.replace(
            r#""str::email":"a@b.co""#,
            r#""str::email":"a@b.co","bol::p":true"#,
        );
        assert!(check_compose_payload(&consent_alone)
            .unwrap_err()
            .contains("s-ctx"));
        let int_as_text = ok.replace(
            r#""str::email":"a@b.co""#,
            r#""str::email":"a@b.co","int:cm:age":"old""#,
        );
        assert!(check_compose_payload(&int_as_text).is_err());
        let blank_body = ok.replace(r#""body":"b""#, r#""body":"  ""#);
        assert!(check_compose_payload(&blank_body).is_err());
    }
}
