//! Checks a compose payload against Ortto's documented limits before it is sent, so the
//! relay never spends one of the 15 bad requests that get its IP banned.

use crate::domain::{FieldKind, PersonFieldId};
use serde_json::Value;

const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;

pub fn check_compose_payload(payload: &str) -> Result<(), String> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(format!(
            "payload is {} bytes; Ortto accepts at most 2 MB",
            payload.len()
        ));
    }
    let json: Value = serde_json::from_str(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    if let Some(path) = control_character(&json, &mut String::new()) {
        return Err(format!("`{path}` holds a control character Ortto refuses"));
    }
    if let Some(subject) = json.pointer("/conversation/subject").and_then(Value::as_str) {
        if subject.contains(['\n', '\r']) {
            return Err("the conversation subject is more than one line".to_owned());
        }
    }
    let fields = json
        .get("fields")
        .and_then(Value::as_object)
        .ok_or("payload has no `fields` object")?;
    for (id, value) in fields {
        let parsed = PersonFieldId::parse(id)?;
        let limit = match parsed.kind() {
            FieldKind::Str => Some(255),
            FieldKind::Txt => Some(4000),
            _ => None,
        };
        if let (Some(limit), Some(text)) = (limit, value.as_str()) {
            if text.chars().count() > limit {
                return Err(format!("`{id}` is longer than {limit} characters"));
            }
        }
    }
    let merge_by = json
        .get("merge_by")
        .and_then(Value::as_array)
        .ok_or("payload has no `merge_by` list")?;
    if merge_by.is_empty() || merge_by.len() > 2 {
        return Err("`merge_by` must hold one or two field ids".to_owned());
    }
    let main = merge_by[0].as_str().ok_or("`merge_by` holds a non-string")?;
    if !fields.contains_key(main) {
        return Err(format!("the main merge field `{main}` has no value"));
    }
    let messages = json
        .pointer("/conversation/messages")
        .and_then(Value::as_array)
        .ok_or("payload has no conversation messages")?;
    if messages.is_empty() {
        return Err("the conversation has no messages".to_owned());
    }
    Ok(())
}

/// The path of the first string (or key) holding a control character other than a line
/// break or tab, which Ortto answers with 400.
fn control_character(value: &Value, path: &mut String) -> Option<String> {
    let bad = |text: &str| {
        text.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    };
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
    }
}
