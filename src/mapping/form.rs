use super::{Answer, BoundValue, Draft};
use crate::config::MappingRules;
use crate::domain::field_ids as ids;
use crate::domain::PersonFieldId;
use crate::domain::SubmittedFields;

pub use crate::config::CAPTCHA_FIELDS;

const MESSAGE_FIELDS: &[&str] = &["message", "comments", "body"];
const SUBJECT_FIELDS: &[&str] = &["subject", "_subject"];

/// The conventional names (docs/mapping.md, "Mapping rules") that map without configuration.
fn conventional_field(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "email" | "e-mail" | "email_address" | "_replyto" => ids::EMAIL,
        "first_name" | "firstname" | "fname" | "given_name" => ids::FIRST,
        "last_name" | "lastname" | "lname" | "surname" | "family_name" => ids::LAST,
        "name" | "full_name" => ids::NAME,
        "phone" | "tel" => ids::PHONE,
        _ => return None,
    })
}

/// Whether a name means something without configuration: a conventional person field,
/// the message or the subject.
pub fn is_known_name(name: &str) -> bool {
    conventional_field(name).is_some() || MESSAGE_FIELDS.contains(&name) || SUBJECT_FIELDS.contains(&name)
}

/// Classifies submitted fields (from a form, or normalised from a vendor): the configured
/// map first, then conventional names; control fields (`_…`, CAPTCHA tokens, the honeypot)
/// are dropped; anything else is kept for the agent.
pub fn draft_from_fields(rules: &MappingRules, honeypot: Option<&str>, fields: &SubmittedFields) -> Draft {
    let mut draft = Draft::default();
    let consent_field = rules.consent.as_ref().map(|c| c.field.as_str());
    for (name, values) in fields.iter() {
        let joined = || values.join(", ");
        let answer = || Answer {
            field: name.to_owned(),
            value: values.first().cloned().unwrap_or_default(),
        };
        if Some(name) == honeypot || CAPTCHA_FIELDS.contains(&name) {
            continue;
        }
        if Some(name) == consent_field {
            draft.consent = Some(consent_answer(rules, name, values));
            continue;
        }
        if rules.html_field.as_deref() == Some(name) {
            draft.html = Some(answer());
            continue;
        }
        let is_message = match &rules.message_field {
            Some(configured) => configured == name,
            None => MESSAGE_FIELDS.contains(&name),
        };
        if is_message && draft.message.is_none() {
            draft.message = Some(Answer {
                field: name.to_owned(),
                value: values.join("\n"),
            });
            continue;
        }
        if SUBJECT_FIELDS.contains(&name) {
            if draft.subject.is_none() {
                draft.subject = Some(answer());
            }
            continue;
        }
        if let Some(id) = bound_field(rules, name, &draft) {
            draft.person_fields.push(BoundValue {
                field: name.to_owned(),
                id,
                values: values.to_vec(),
            });
            continue;
        }
        if name.starts_with('_') {
            continue;
        }
        draft.extras.push((name.to_owned(), joined()));
    }
    draft
}

/// The consent box's answer. A checkbox group may repeat the key; any ticked value counts.
fn consent_answer(rules: &MappingRules, name: &str, values: &[String]) -> Answer {
    let policy = rules
        .consent
        .as_ref()
        .expect("a consent field comes with its policy");
    let ticked = values
        .iter()
        .find(|v| policy.reads(v) == crate::config::ConsentWord::Ticked)
        .cloned();
    Answer {
        field: name.to_owned(),
        value: ticked.unwrap_or_else(|| values.first().cloned().unwrap_or_default()),
    }
}

/// The person field a submitted name maps to, unless another field already took it.
fn bound_field(rules: &MappingRules, name: &str, draft: &Draft) -> Option<PersonFieldId> {
    let id = match rules.field_map.get(name) {
        Some(id) => id.clone(),
        None if rules.conventional_names => {
            let id = PersonFieldId::builtin(conventional_field(name)?);
            // An explicit map entry for the same person field wins over a conventional name.
            if rules.field_map.values().any(|mapped| *mapped == id) {
                return None;
            }
            id
        }
        None => return None,
    };
    let taken = draft.person_fields.iter().any(|bound| bound.id == id);
    (!taken).then_some(id)
}
