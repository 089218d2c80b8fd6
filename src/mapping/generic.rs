//! The `generic` preset: pointers into any JSON or urlencoded payload, or, without any,
//! the payload read as a form (conventional names at the top level and under `data`).

use super::form::is_known_name;
use super::presets::{push_all, snake, text, values, Normalised};
use crate::config::HookConfig;
use crate::config::HTML_FIELD;
use crate::domain::SubmittedFields;
use serde_json::Value;

/// The generic hook's parts, by name: pointer (or field name) → normalised name.
fn generic_targets(hook: &HookConfig) -> Vec<(String, String)> {
    let p = &hook.pointers;
    let mut targets: Vec<(String, String)> = [
        (&p.email, "email"),
        (&p.first_name, "first_name"),
        (&p.last_name, "last_name"),
        (&p.full_name, "name"),
        (&p.phone, "phone"),
        (&p.subject, "subject"),
        (&p.message, "message"),
        (&p.html_message, HTML_FIELD),
    ]
    .into_iter()
    .filter_map(|(pointer, name)| pointer.clone().map(|p| (p, name.to_owned())))
    .collect();
    if let Some(consent) = &hook.rules.consent {
        let pointer = p.consent.clone().unwrap_or_else(|| consent.field.clone());
        targets.push((pointer, consent.field.clone()));
    }
    for pointer in hook.rules.field_map.keys() {
        targets.push((pointer.clone(), pointer.clone()));
    }
    for pointer in &p.extras {
        let label = pointer.trim_start_matches('/').replace('/', ".");
        targets.push((pointer.clone(), label));
    }
    targets
}

pub(super) fn generic_json(hook: &HookConfig, payload: &Value) -> Normalised {
    let mut fields = SubmittedFields::default();
    let targets = generic_targets(hook);
    for (pointer, name) in &targets {
        if let Some(value) = payload.pointer(pointer) {
            push_all(&mut fields, name.clone(), values(value));
        }
    }
    // Without pointers the payload is read as a form would be: conventional names at the
    // top level and one level under `data`. Pointers, where set, override them.
    let zero_config = hook.pointers.is_empty();
    let levels = [Some(payload), payload.get("data")];
    for object in levels.into_iter().flatten().filter_map(Value::as_object) {
        for (key, value) in object {
            let name = snake(key);
            let known = is_known_name(&name) || is_known_name(key);
            if fields.values(key).is_some() || (!known && !zero_config) || value.is_object() {
                continue;
            }
            if known && targets.iter().any(|(_, taken)| *taken == name) {
                continue;
            }
            push_all(&mut fields, key.clone(), values(value));
        }
    }
    let event_id = hook
        .pointers
        .idempotency_key
        .as_deref()
        .and_then(|p| payload.pointer(p))
        .and_then(text)
        .or_else(|| {
            ["/id", "/event_id", "/eventId", "/data/id"]
                .iter()
                .filter(|_| zero_config)
                .find_map(|p| payload.pointer(p).and_then(text))
        });
    Normalised {
        fields,
        event_id,
        ignored: false,
    }
}

pub(super) fn generic_fields(hook: &HookConfig, submitted: &SubmittedFields) -> Normalised {
    if hook.pointers.is_empty() {
        // Without pointers a urlencoded call is read exactly as a form post.
        return Normalised {
            fields: submitted.clone(),
            event_id: submitted.first("id").map(str::to_owned),
            ignored: false,
        };
    }
    let mut fields = SubmittedFields::default();
    let by_name = |pointer: &str| {
        submitted
            .values(pointer.trim_start_matches('/'))
            .map(<[String]>::to_vec)
    };
    for (pointer, name) in generic_targets(hook) {
        if let Some(found) = by_name(&pointer) {
            push_all(&mut fields, name, found);
        }
    }
    let event_id = hook
        .pointers
        .idempotency_key
        .as_deref()
        .and_then(|p| submitted.first(p.trim_start_matches('/')).map(str::to_owned));
    Normalised {
        fields,
        event_id,
        ignored: false,
    }
}
