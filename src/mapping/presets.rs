//! Vendor payloads → the same submitted fields an HTML form produces. Answers are found
//! by reference, type or label, never by position: conventional names (`email`,
//! `first_name`, `message`, …) where the vendor says what a question is, the question's
//! own label otherwise (shown to agents as `label: value`).

use super::form::is_known_name;
use super::generic::{generic_fields, generic_json};
use crate::config::{HookConfig, Preset};
use crate::domain::SubmittedFields;
use crate::http::body::{BodyError, BodyFormat};
use serde_json::Value;

pub use crate::config::HTML_FIELD;

/// One event of a vendor payload, normalised: the fields to map, the vendor's event id, and
/// whether the hook's `accept` filter lets it through.
#[derive(Debug, Default)]
pub struct Normalised {
    pub fields: SubmittedFields,
    pub event_id: Option<String>,
    /// Refused by `[hooks.NAME.accept]`: answered, counted, never recorded.
    pub ignored: bool,
}

/// Events one batched call may carry (`batch`); more is refused as too large.
pub const MAX_BATCH_EVENTS: usize = 100;

/// A hook call's body as events: one, or each element of the batch array (`batch`).
pub async fn normalise(
    hook: &HookConfig,
    content_type: Option<&str>,
    bytes: actix_web::web::Bytes,
    limits: &crate::config::LimitSettings,
) -> Result<Vec<Normalised>, BodyError> {
    let format = BodyFormat::detect(content_type)?;
    let namer = Namer::new(hook);
    let mut events = match (hook.preset, format) {
        (_, BodyFormat::Json) => {
            let value = crate::http::parse::parse_json_value(&bytes, limits.max_json_depth)?;
            json_events(hook, &namer, &value)?
        }
        (
            Preset::Jotform | Preset::Generic | Preset::StandardWebhooks,
            BodyFormat::UrlEncoded | BodyFormat::Multipart,
        ) => {
            let submitted = crate::http::parse::parse_fields(format, content_type, bytes, limits).await?;
            let mut event = match hook.preset {
                Preset::Jotform => jotform(&namer, &submitted)?,
                _ => generic_fields(hook, &submitted),
            };
            event.ignored = !accepts(hook, |name| {
                submitted.first(name.trim_start_matches('/')).map(str::to_owned)
            });
            vec![event]
        }
        (_, other) => {
            return Err(BodyError::UnsupportedMediaType(format!(
                "{other:?} for this preset"
            )))
        }
    };
    for event in &mut events {
        crate::http::parse::check_limits(&event.fields, limits)?;
    }
    Ok(events)
}

/// A JSON body's events: the body itself, or each element of the batch array (at most
/// [`MAX_BATCH_EVENTS`]), each read by the hook's preset and its `accept` filter.
fn json_events(hook: &HookConfig, namer: &Namer<'_>, value: &Value) -> Result<Vec<Normalised>, BodyError> {
    let elements: Vec<&Value> = match &hook.batch {
        None => vec![value],
        Some(pointer) => value
            .pointer(pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| unexpected(&format!("no array at the batch pointer `{pointer}`")))?
            .iter()
            .collect(),
    };
    if elements.len() > MAX_BATCH_EVENTS {
        return Err(BodyError::TooManyEvents {
            limit: MAX_BATCH_EVENTS,
        });
    }
    let mut events = Vec::with_capacity(elements.len());
    for element in elements {
        let mut event = match hook.preset {
            Preset::Typeform => typeform(namer, element)?,
            Preset::Tally => tally(namer, element)?,
            Preset::Webflow => webflow(namer, element)?,
            Preset::Generic | Preset::StandardWebhooks => generic_json(hook, element),
            Preset::Jotform => return Err(unexpected("Jotform posts multipart/form-data")),
        };
        event.ignored = !accepts(hook, |pointer| element.pointer(pointer).and_then(text));
        // Each element of a batch is its own submission: without an event id, the
        // element's own bytes are its idempotency key.
        if hook.batch.is_some() && event.event_id.is_none() {
            event.event_id = Some(element_digest(element));
        }
        events.push(event);
    }
    Ok(events)
}

/// `[hooks.NAME.accept]`: every listed pointer (or field) must hold one of its values.
fn accepts(hook: &HookConfig, value_at: impl Fn(&str) -> Option<String>) -> bool {
    hook.accept.iter().all(|(pointer, allowed)| {
        value_at(pointer).is_some_and(|found| allowed.iter().any(|a| a == found.trim()))
    })
}

fn element_digest(element: &Value) -> String {
    use sha2::Digest;
    format!(
        "event-sha256:{}",
        hex::encode(sha2::Sha256::digest(element.to_string()))
    )
}

fn unexpected(what: &str) -> BodyError {
    BodyError::Malformed(format!("this is not the payload the preset expects: {what}"))
}

/// Picks the normalised name for one answer.
struct Namer<'a> {
    hook: &'a HookConfig,
    consent: Option<&'a str>,
}

impl<'a> Namer<'a> {
    fn new(hook: &'a HookConfig) -> Self {
        Self {
            hook,
            consent: hook.rules.consent.as_ref().map(|c| c.field.as_str()),
        }
    }

    /// `ids` are what the vendor calls the question (ref, key, label, type); `hint` is
    /// the conventional name its type implies; `label` is what agents see otherwise.
    fn name(&self, ids: &[&str], hint: Option<&str>, label: &str, taken: &SubmittedFields) -> String {
        let matches = |wanted: &str| ids.iter().any(|id| id.eq_ignore_ascii_case(wanted));
        if let Some(consent) = self.consent.filter(|c| matches(c)) {
            return consent.to_owned();
        }
        if self.hook.message.as_deref().is_some_and(matches) {
            return "message".to_owned();
        }
        if let Some(mapped) = ids.iter().find(|id| self.hook.rules.field_map.contains_key(**id)) {
            return (*mapped).to_owned();
        }
        let message_configured = self.hook.message.is_some();
        if let Some(hint) =
            hint.filter(|h| taken.values(h).is_none() && !(*h == "message" && message_configured))
        {
            return hint.to_owned();
        }
        if let Some(known) = ids
            .iter()
            .map(|id| snake(id))
            .find(|s| is_known_name(s) && taken.values(s).is_none())
        {
            return known;
        }
        label.to_owned()
    }
}

pub(super) fn snake(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// Text for a scalar; `None` for null, objects and arrays.
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Every value a JSON value holds: scalars, array items, or an object as JSON.
pub(super) fn values(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().flat_map(values).collect(),
        Value::Object(_) => vec![value.to_string()],
        scalar => text(scalar).into_iter().collect(),
    }
}

pub(super) fn push_all(fields: &mut SubmittedFields, name: String, values: Vec<String>) {
    for value in values {
        fields.push(name.clone(), value);
    }
}

fn typeform(namer: &Namer<'_>, payload: &Value) -> Result<Normalised, BodyError> {
    let response = payload
        .get("form_response")
        .ok_or_else(|| unexpected("no form_response"))?;
    let answers = response["answers"]
        .as_array()
        .ok_or_else(|| unexpected("no form_response.answers"))?;
    let titles: Vec<&Value> = response["definition"]["fields"]
        .as_array()
        .map(|f| f.iter().collect())
        .unwrap_or_default();
    let mut fields = SubmittedFields::default();
    for answer in answers {
        let field = &answer["field"];
        let id = field["id"].as_str().unwrap_or("");
        let reference = field["ref"].as_str().unwrap_or(id);
        let question_type = field["type"].as_str().unwrap_or("");
        let answer_type = answer["type"].as_str().unwrap_or("");
        let title = titles
            .iter()
            .find(|f| f["id"].as_str() == Some(id) || f["ref"].as_str() == Some(reference))
            .and_then(|f| f["title"].as_str())
            .unwrap_or(reference);
        let found: Vec<String> = match answer_type {
            "choice" => answer["choice"]["label"]
                .as_str()
                .or(answer["choice"]["other"].as_str())
                .map(str::to_owned)
                .into_iter()
                .collect(),
            "choices" => {
                let mut labels = values(&answer["choices"]["labels"]);
                labels.extend(answer["choices"]["other"].as_str().map(str::to_owned));
                labels
            }
            "payment" => Vec::new(),
            other => values(&answer[other]),
        };
        let hint = match question_type {
            "email" => Some("email"),
            "long_text" => Some("message"),
            "phone_number" => Some("phone"),
            _ => None,
        };
        let name = namer.name(&[reference, id, question_type, title], hint, title, &fields);
        push_all(&mut fields, name, found);
    }
    if let Some(hidden) = response["hidden"].as_object() {
        for (name, value) in hidden {
            push_all(&mut fields, name.clone(), values(value));
        }
    }
    Ok(Normalised {
        fields,
        event_id: payload["event_id"].as_str().map(str::to_owned),
        ignored: false,
    })
}

fn tally(namer: &Namer<'_>, payload: &Value) -> Result<Normalised, BodyError> {
    let entries = payload["data"]["fields"]
        .as_array()
        .ok_or_else(|| unexpected("no data.fields"))?;
    let keys: Vec<&str> = entries.iter().filter_map(|f| f["key"].as_str()).collect();
    let mut fields = SubmittedFields::default();
    for entry in entries {
        let key = entry["key"].as_str().unwrap_or("");
        // Tally repeats each checkbox option as `<key>_<option id>`: the group already says it.
        if keys
            .iter()
            .any(|k| *k != key && key.starts_with(&format!("{k}_")))
        {
            continue;
        }
        let label = entry["label"].as_str().unwrap_or(key);
        let kind = entry["type"].as_str().unwrap_or("");
        let value = &entry["value"];
        let options = entry["options"].as_array();
        let found: Vec<String> = match (value, options) {
            (Value::Array(chosen), Some(options)) => chosen
                .iter()
                .map(|id| {
                    options
                        .iter()
                        .find(|o| o["id"] == *id)
                        .and_then(|o| o["text"].as_str().map(str::to_owned))
                        .unwrap_or_else(|| text(id).unwrap_or_default())
                })
                .collect(),
            _ => values(value),
        };
        let hint = match kind {
            "INPUT_EMAIL" => Some("email"),
            "TEXTAREA" => Some("message"),
            "INPUT_PHONE_NUMBER" => Some("phone"),
            _ => None,
        };
        let name = namer.name(&[key, label, kind], hint, label, &fields);
        let found = if Some(name.as_str()) == namer.consent && options.is_some() {
            // A ticked consent checkbox group lists its option; an unticked one is empty.
            vec![(!found.is_empty()).to_string()]
        } else {
            found
        };
        push_all(&mut fields, name, found);
    }
    Ok(Normalised {
        fields,
        event_id: payload["eventId"].as_str().map(str::to_owned),
        ignored: false,
    })
}

fn webflow(namer: &Namer<'_>, payload: &Value) -> Result<Normalised, BodyError> {
    let data = payload["payload"]["data"]
        .as_object()
        .ok_or_else(|| unexpected("no payload.data"))?;
    let mut fields = SubmittedFields::default();
    for (name, value) in data {
        let normalised = namer.name(&[name], None, name, &fields);
        push_all(&mut fields, normalised, values(value));
    }
    Ok(Normalised {
        fields,
        event_id: payload["payload"]["id"].as_str().map(str::to_owned),
        ignored: false,
    })
}

fn jotform(namer: &Namer<'_>, parts: &SubmittedFields) -> Result<Normalised, BodyError> {
    let raw = parts
        .first("rawRequest")
        .ok_or_else(|| unexpected("no rawRequest part"))?;
    let answers: Value = serde_json::from_str(raw)
        .map_err(|e| BodyError::Malformed(format!("rawRequest is not JSON ({e})")))?;
    let answers = answers
        .as_object()
        .ok_or_else(|| unexpected("rawRequest is not an object"))?;
    let mut fields = SubmittedFields::default();
    for (key, value) in answers {
        // Answers are `q<N>_<unique name>`; everything else is Jotform's own bookkeeping.
        let Some(name) = key.strip_prefix('q').and_then(|rest| {
            let (number, name) = rest.split_once('_')?;
            number.chars().all(|c| c.is_ascii_digit()).then_some(name)
        }) else {
            continue;
        };
        if let (Some(first), last) = (
            value.get("first").and_then(text),
            value.get("last").and_then(text),
        ) {
            fields.push("first_name".to_owned(), first);
            fields.extend_one("last_name", last);
            continue;
        }
        let normalised = namer.name(&[name, key], None, name, &fields);
        let found = values(value);
        let found = if Some(normalised.as_str()) == namer.consent && value.is_array() {
            vec![(!found.is_empty()).to_string()]
        } else {
            found
        };
        push_all(&mut fields, normalised, found);
    }
    Ok(Normalised {
        fields,
        event_id: parts.first("submissionID").map(str::to_owned),
        ignored: false,
    })
}

#[cfg(test)]
mod tests {
    use super::snake;

    #[test]
    fn labels_become_snake_names() {
        assert_eq!(snake("First Name"), "first_name");
        assert_eq!(snake("  E-mail address "), "e_mail_address");
        assert_eq!(snake("Full name"), "full_name");
    }
}
