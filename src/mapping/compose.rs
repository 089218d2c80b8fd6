use super::values::{shape, Shaped};
use super::Draft;
use crate::clean::HtmlCleaner;
use crate::config::{ConsentWord, MappingRules, UncheckedConsent};
use crate::domain::field_ids as ids;
use crate::domain::{FieldProblem, PersonFieldId, ProblemCode, SubmitterEmail};
use crate::ortto::{ComposeRequest, Conversation, Message};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ortto::STR_MAX_CHARS as SUBJECT_MAX_CHARS;
const AUTO_SUBJECT_SNIPPET_CHARS: usize = 60;

/// Facts about the request that mapping needs but the submitter did not type.
#[derive(Debug, Clone)]
pub struct MappingContext {
    pub page_url: Option<String>,
    pub received_at: DateTime<Utc>,
    /// The files the visitor sent, listed in the messages (docs/files.md).
    pub attachments: Vec<super::AttachmentLine>,
}

/// A submission ready to record: the compose request plus the columns the log keeps.
#[derive(Debug, Clone)]
pub struct MappedSubmission {
    pub compose: ComposeRequest,
    /// `compose` serialised, checked against what Ortto accepts: the bytes stored and sent.
    pub payload: String,
    pub email: Option<String>,
    pub subject: String,
    pub consent: Option<bool>,
    /// Why no permission was sent although the source has a consent field, if it was
    /// because the answer was a word the relay does not read as yes or no.
    pub consent_note: Option<String>,
}

/// Shapes a draft into Ortto's compose request, collecting every problem at once so
/// the submitter can fix them in one go.
pub fn compose(
    draft: Draft,
    rules: &MappingRules,
    cleaner: &HtmlCleaner,
    context: &MappingContext,
) -> Result<MappedSubmission, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut extras = draft.extras.clone();
    let (mut fields, email) = person_fields(&draft, rules, &mut extras, &mut problems);
    let message = draft
        .message
        .as_ref()
        .map(|m| m.value.trim().to_owned())
        .filter(|m| !m.is_empty());
    if let (Some(answer), Some(text)) = (&draft.message, &message) {
        if text.chars().count() > rules.max_message_chars {
            problems.push(too_long(&answer.field, rules.max_message_chars));
        }
    }
    let subject = subject(&draft, rules, message.as_deref(), &mut problems);
    let mut messages = messages(&draft, rules, cleaner, message.as_deref(), &extras, &mut problems);
    super::attachments::list_in(&mut messages, &context.attachments);
    let (consent, consent_note) = consent_answer(&draft, rules);
    if let Some(opted_in) = consent {
        fields.insert(ids::PERMISSION.to_owned(), Value::Bool(opted_in));
        fields.insert(
            ids::PERMISSION_CONTEXT.to_owned(),
            Value::String(consent_context(rules, opted_in, context)),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let compose = ComposeRequest {
        fields,
        merge_by: rules.merge_by.iter().map(|id| id.as_str().to_owned()).collect(),
        conversation: Conversation {
            subject: subject.clone(),
            messages,
        },
    };
    let payload = checked_payload(&compose)?;
    Ok(MappedSubmission {
        compose,
        payload,
        email,
        subject,
        consent,
        consent_note,
    })
}

/// The person fields, each shaped by its type; the email checked and normalised (and
/// answered apart, for the row). A value that is no phone Ortto parses goes to `extras`.
fn person_fields(
    draft: &Draft,
    rules: &MappingRules,
    extras: &mut Vec<(String, String)>,
    problems: &mut Vec<FieldProblem>,
) -> (Map<String, Value>, Option<String>) {
    let mut fields = Map::new();
    let mut email = None;
    for bound in &draft.person_fields {
        if bound.id.as_str() == ids::EMAIL {
            let raw = bound
                .values
                .iter()
                .find(|v| !v.trim().is_empty())
                .map_or("", String::as_str);
            match SubmitterEmail::parse(&bound.field, raw) {
                Ok(parsed) => {
                    fields.insert(ids::EMAIL.to_owned(), Value::String(parsed.as_str().to_owned()));
                    email = Some(parsed.as_str().to_owned());
                }
                Err(problem) => problems.push(problem),
            }
            continue;
        }
        let country = rules.default_country_code.as_deref();
        match shape(&bound.field, &bound.id, &bound.values, country) {
            Ok(Shaped::Value(value)) => {
                fields.insert(bound.id.as_str().to_owned(), value);
            }
            Ok(Shaped::KeepAsText) => extras.push((bound.field.clone(), bound.values.join(", "))),
            Ok(Shaped::Skip) => {}
            Err(problem) => problems.push(problem),
        }
    }
    split_full_name(&mut fields);
    problems.extend(check_merge_field(
        &rules.merge_by,
        &draft.person_fields,
        &fields,
        problems,
    ));
    (fields, email)
}

/// The submitted subject (one line, within Ortto's limit), else the form's, else one written
/// from the title and the message's first line.
fn subject(
    draft: &Draft,
    rules: &MappingRules,
    message: Option<&str>,
    problems: &mut Vec<FieldProblem>,
) -> String {
    match &draft.subject {
        Some(answer) if !answer.value.trim().is_empty() => {
            let subject = crate::clean::single_line(answer.value.trim()).trim().to_owned();
            if crate::ortto::text_len(&subject) > SUBJECT_MAX_CHARS {
                problems.push(too_long(&answer.field, SUBJECT_MAX_CHARS));
            }
            subject
        }
        _ => rules
            .subject
            .clone()
            .unwrap_or_else(|| auto_subject(&rules.title, message)),
    }
}

/// The conversation's messages: the text (with every other field as `label: value`), the
/// sanitised HTML, or, when the submission brought neither, one the relay writes.
fn messages(
    draft: &Draft,
    rules: &MappingRules,
    cleaner: &HtmlCleaner,
    message: Option<&str>,
    extras: &[(String, String)],
    problems: &mut Vec<FieldProblem>,
) -> Vec<Message> {
    let html = draft.html.as_ref().and_then(|answer| {
        let cleaned = cleaner.clean(&answer.value);
        if cleaned.as_str().chars().count() > rules.max_message_chars {
            problems.push(too_long(&answer.field, rules.max_message_chars));
        }
        (!cleaned.is_blank()).then(|| cleaned.as_str().to_owned())
    });
    let mut messages = Vec::new();
    if let Some(text) = text_message(message, extras) {
        messages.push(Message::text(text));
    }
    if let Some(html) = html {
        messages.push(Message::html(html));
    }
    if messages.is_empty() {
        // A newsletter sign-up, a booking with no questions, a CRM contact event: real
        // submissions that should reach a person, so the relay writes the message itself.
        messages.push(Message::text(default_message(draft, rules)));
    }
    messages
}

/// The compose request serialised once and checked against what Ortto accepts: delivery
/// sends these bytes without parsing them again.
fn checked_payload(compose: &ComposeRequest) -> Result<String, Vec<FieldProblem>> {
    let payload = serde_json::to_string(compose).expect("compose requests serialise");
    if let Err(problem) = crate::ortto::check_compose(compose, payload.len()) {
        tracing::warn!(%problem, "a built payload failed the pre-send check; not recording it for delivery");
        return Err(vec![FieldProblem::new(
            "submission",
            ProblemCode::NotSendable,
            format!("This submission cannot be sent on: {problem}."),
        )]);
    }
    Ok(payload)
}

fn too_long(field: &str, max: usize) -> FieldProblem {
    FieldProblem::new(
        field,
        ProblemCode::FieldTooLong,
        format!("This is longer than {max} characters."),
    )
}

/// `str::name` alone is split into first and last name: the first word, then the rest.
fn split_full_name(fields: &mut Map<String, Value>) {
    let has_parts = fields.contains_key(ids::FIRST) || fields.contains_key(ids::LAST);
    let Some(Value::String(full)) = fields.get(ids::NAME).cloned() else {
        return;
    };
    if has_parts {
        return;
    }
    let mut words = full.split_whitespace();
    if let Some(first) = words.next() {
        fields.insert(ids::FIRST.to_owned(), Value::String(first.to_owned()));
    }
    let rest = words.collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        fields.insert(ids::LAST.to_owned(), Value::String(rest));
    }
}

/// The main merge field must have a usable value, or Ortto cannot find the person.
fn check_merge_field(
    merge_by: &[PersonFieldId],
    bound: &[super::BoundValue],
    fields: &Map<String, Value>,
    problems: &[FieldProblem],
) -> Option<FieldProblem> {
    let main = merge_by.first()?;
    if fields.contains_key(main.as_str()) {
        return None;
    }
    let submitted = bound.iter().find(|b| b.id == *main);
    let field_name = submitted.map_or_else(|| default_field_name(main), |b| b.field.clone());
    if problems.iter().any(|p| p.field == field_name) {
        return None;
    }
    Some(match submitted {
        None => FieldProblem::new(
            field_name,
            ProblemCode::RequiredFieldMissing,
            "This field is required.",
        ),
        Some(_) => FieldProblem::new(
            field_name,
            ProblemCode::RequiredFieldEmpty,
            "This field is required.",
        ),
    })
}

fn default_field_name(id: &PersonFieldId) -> String {
    match id.as_str() {
        ids::EMAIL => "email".to_owned(),
        ids::PHONE => "phone".to_owned(),
        other => other.rsplit(':').next().unwrap_or(other).to_owned(),
    }
}

fn auto_subject(title: &str, message: Option<&str>) -> String {
    let first_line = message.and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()));
    let subject = match first_line {
        Some(line) => format!("{title}: {}", shorten(line, AUTO_SUBJECT_SNIPPET_CHARS)),
        None => title.to_owned(),
    };
    shorten(&subject, SUBJECT_MAX_CHARS)
}

/// `text` cut to at most `max` of Ortto's length units ([`crate::ortto::text_len`]), with `…`.
fn shorten(text: &str, max: usize) -> String {
    use crate::ortto::text_len;
    if text_len(text) <= max {
        return text.to_owned();
    }
    let mut used = 0;
    let cut: String = text
        .chars()
        .take_while(|c| {
            used += c.len_utf16();
            used < max
        })
        .collect();
    // Prefer a word boundary when one is reasonably close.
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(space) if text_len(&cut[..space]) >= max / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end())
}

/// The message written for a submission that brought none: `default_message` (or the
/// built-in one) with `{title}` and `{fields}`, every submitted field as `label: value`.
fn default_message(draft: &Draft, rules: &MappingRules) -> String {
    const BUILT_IN: &str = "A submission to {title}, with no message.\n\n{fields}";
    let fields = draft
        .person_fields
        .iter()
        .map(|bound| (bound.field.as_str(), bound.values.join(", ")))
        .chain(draft.consent.iter().map(|a| (a.field.as_str(), a.value.clone())))
        .chain(draft.subject.iter().map(|a| (a.field.as_str(), a.value.clone())))
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(label, value)| format!("{label}: {}", value.trim()))
        .collect::<Vec<_>>()
        .join("\n");
    let text = rules
        .default_message
        .as_deref()
        .unwrap_or(BUILT_IN)
        .replace("{title}", &rules.title)
        .replace("{fields}", &fields);
    shorten(text.trim(), rules.max_message_chars)
}

/// The message, then every other field as `label: value`, so agents see everything.
fn text_message(message: Option<&str>, extras: &[(String, String)]) -> Option<String> {
    let block = extras
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(label, value)| format!("{label}: {}", value.trim()))
        .collect::<Vec<_>>()
        .join("\n");
    match (message, block.is_empty()) {
        (Some(m), true) => Some(m.to_owned()),
        (Some(m), false) => Some(format!("{m}\n\n{block}")),
        (None, false) => Some(block),
        (None, true) => None,
    }
}

/// `bol::p` from the consent answer: a ticked word is yes; an unticked word, or no answer
/// at all (browsers do not send an unticked box), follows `unchecked`. Any other non-empty
/// value is never taken as a no: nothing is sent, and the note says why (docs/mapping.md, "Consent").
fn consent_answer(draft: &Draft, rules: &MappingRules) -> (Option<bool>, Option<String>) {
    let Some(policy) = rules.consent.as_ref() else {
        return (None, None);
    };
    let word = draft
        .consent
        .as_ref()
        .map_or(ConsentWord::Unticked, |answer| policy.reads(&answer.value));
    match (word, policy.unchecked) {
        (ConsentWord::Ticked, _) => (Some(true), None),
        (ConsentWord::Unticked, UncheckedConsent::OptOut) => (Some(false), None),
        (ConsentWord::Unticked, UncheckedConsent::Leave) => (None, None),
        (ConsentWord::Unrecognised, _) => {
            let answer = draft
                .consent
                .as_ref()
                .expect("an unrecognised word was submitted");
            let note = format!(
                "the consent answer `{}` in `{}` is neither a ticked nor an unticked word \
                 (consent.ticked, consent.unticked), so no permission was sent",
                shorten(answer.value.trim(), 60),
                answer.field
            );
            (None, Some(note))
        }
    }
}

fn consent_context(rules: &MappingRules, opted_in: bool, context: &MappingContext) -> String {
    let policy = rules
        .consent
        .as_ref()
        .expect("consent is only sent with a policy");
    let template = if opted_in {
        &policy.opted_in_context
    } else {
        &policy.opted_out_context
    };
    let page = context.page_url.as_deref().unwrap_or("an unknown page");
    let time = context.received_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let filled = template.replace("{form}", &rules.title).replace("{time}", &time);
    // The page URL is the only unbounded part; shorten it so the sentence fits in a str field.
    let room =
        SUBJECT_MAX_CHARS.saturating_sub(crate::ortto::text_len(&filled).saturating_sub("{page}".len()));
    shorten(
        &filled.replace("{page}", &shorten(page, room.max(1))),
        SUBJECT_MAX_CHARS,
    )
}
