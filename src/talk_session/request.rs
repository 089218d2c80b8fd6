//! The body sent to Ortto's session endpoint, from what the caller may set.

use super::{SessionError, SessionRequest};
use crate::config::SessionConfig;
use crate::domain::field_ids as ids;
use crate::domain::SubmitterEmail;
use serde_json::{json, Map, Value};

/// The body Ortto's session endpoint documents, from what the caller may set.
pub(super) fn session_body(
    sessions: &SessionConfig,
    request: &SessionRequest,
    email: &SubmitterEmail,
    client_ip: Option<&str>,
) -> Result<Value, SessionError> {
    let mut body = json!({
        "merge_by": sessions.merge_by.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        "merge_strategy": 2,
        "find_strategy": 0,
        "skip_non_existing": false,
        "fields": person_fields(sessions, request, email)?,
    });
    if let Some(person_id) = person_id(request)? {
        body["person_id"] = json!(person_id);
    }
    if let Some(ip) = client_ip {
        body["location"] = json!({ "source_ip": ip });
    }
    Ok(body)
}

/// A text value as Ortto's `str` takes it: control characters out, trimmed, within its limit
/// (counted as Ortto's limits are, `crate::ortto::text_len`).
fn text(field: &str, value: &str) -> Result<String, SessionError> {
    let value = crate::clean::strip_control(value.trim()).into_owned();
    if crate::ortto::text_len(&value) > crate::ortto::STR_MAX_CHARS {
        return Err(SessionError::Invalid(
            "FIELD_TOO_LONG",
            format!("{field}: longer than 255 characters"),
        ));
    }
    Ok(value)
}

/// The email, the name (required), first and last, and the caller's `fields`, each only
/// when `sessions.allowed_fields` lists it.
fn person_fields(
    sessions: &SessionConfig,
    request: &SessionRequest,
    email: &SubmitterEmail,
) -> Result<Map<String, Value>, SessionError> {
    let name = text("name", &request.name)?;
    if name.is_empty() {
        return Err(SessionError::Invalid(
            "REQUIRED_FIELD_EMPTY",
            "name: a name is required".to_owned(),
        ));
    }
    let mut fields = Map::new();
    fields.insert(ids::EMAIL.to_owned(), json!(email.as_str()));
    fields.insert(ids::NAME.to_owned(), json!(name));
    for (id, value) in [(ids::FIRST, &request.first), (ids::LAST, &request.last)] {
        if let Some(value) = value {
            fields.insert(id.to_owned(), json!(text(id, value)?));
        }
    }
    for (id, value) in &request.fields {
        let allowed = sessions
            .allowed_fields
            .iter()
            .find(|f| f.as_str() == id)
            .ok_or_else(|| {
                SessionError::Invalid(
                    "FIELD_NOT_ALLOWED",
                    format!("fields.{id}: not in sessions.allowed_fields"),
                )
            })?;
        let value = match value {
            Value::String(s) if allowed.kind() == crate::domain::FieldKind::Str => json!(text(id, s)?),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => value.clone(),
            _ => {
                return Err(SessionError::Invalid(
                    "FIELD_TYPE",
                    format!("fields.{id}: a string, number or boolean"),
                ))
            }
        };
        fields.insert(id.clone(), value);
    }
    Ok(fields)
}

/// The caller's `person_id`, when it looks like an Ortto person id.
fn person_id(request: &SessionRequest) -> Result<Option<&str>, SessionError> {
    let Some(person_id) = request
        .person_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let shaped = person_id.len() <= 64
        && person_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !shaped {
        return Err(SessionError::Invalid(
            "TYPE_PERSON_ID",
            "person_id: not an Ortto person id".to_owned(),
        ));
    }
    Ok(Some(person_id))
}
