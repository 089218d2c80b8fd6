//! How any source maps: `MappingRules`, and the consent policy with its words.

use crate::domain::field_ids as ids;
use crate::domain::PersonFieldId;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What an unticked (or absent) consent box means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncheckedConsent {
    /// Send `bol::p = false`: the person is opted out.
    OptOut,
    /// Send no permission at all: whatever Ortto has stays.
    Leave,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsent {
    field: String,
    unchecked: Option<UncheckedConsent>,
    /// More values that mean a ticked box (a vendor's option text, say), on top of the defaults.
    #[serde(default)]
    ticked: Vec<String>,
    /// More values that mean an unticked box.
    #[serde(default)]
    unticked: Vec<String>,
    opted_in_context: Option<String>,
    opted_out_context: Option<String>,
    /// The exact words the visitor saw beside the box, kept with each row as proof of consent.
    text: Option<String>,
}

/// How a form's consent checkbox becomes `bol::p` and `str::s-ctx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPolicy {
    pub field: String,
    pub unchecked: UncheckedConsent,
    /// Extra words for a ticked and an unticked box, trimmed and lower-cased.
    pub ticked: Vec<String>,
    pub unticked: Vec<String>,
    /// Templates with `{form}`, `{page}` and `{time}` placeholders.
    pub opted_in_context: String,
    pub opted_out_context: String,
    /// `consent.text`: the words the visitor saw, stored with each row (docs/mapping.md, "Consent").
    pub text: Option<String>,
}

/// What a consent answer says, read against the defaults and the policy's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentWord {
    Ticked,
    Unticked,
    /// A non-empty value in neither list: never taken as a no.
    Unrecognised,
}

pub const DEFAULT_TICKED: [&str; 5] = ["on", "true", "1", "yes", "checked"];
pub const DEFAULT_UNTICKED: [&str; 6] = ["off", "false", "0", "no", "unchecked", ""];

impl ConsentPolicy {
    pub fn reads(&self, value: &str) -> ConsentWord {
        let value = value.trim().to_lowercase();
        let listed = |defaults: &[&str], extra: &[String]| {
            defaults.contains(&value.as_str()) || extra.contains(&value)
        };
        if listed(&DEFAULT_TICKED, &self.ticked) {
            ConsentWord::Ticked
        } else if listed(&DEFAULT_UNTICKED, &self.unticked) {
            ConsentWord::Unticked
        } else {
            ConsentWord::Unrecognised
        }
    }

    /// Every word this policy reads as ticked, then as unticked (for `check-config`).
    pub fn words(&self) -> (Vec<String>, Vec<String>) {
        let all = |defaults: &[&str], extra: &[String]| {
            defaults
                .iter()
                .map(|w| w.to_string())
                .chain(extra.iter().cloned())
                .collect()
        };
        (
            all(&DEFAULT_TICKED, &self.ticked),
            all(&DEFAULT_UNTICKED, &self.unticked),
        )
    }
}

pub const DEFAULT_OPTED_IN_CONTEXT: &str = "Opted in via the {form} form on {page} at {time}";
pub const DEFAULT_OPTED_OUT_CONTEXT: &str = "Opted out via the {form} form on {page} at {time}";

/// How submitted fields become person fields, subject and messages; shared by forms
/// and hooks.
#[derive(Debug, Clone)]
pub struct MappingRules {
    pub title: String,
    pub subject: Option<String>,
    pub message_field: Option<String>,
    pub html_field: Option<String>,
    pub field_map: BTreeMap<String, PersonFieldId>,
    pub conventional_names: bool,
    pub merge_by: Vec<PersonFieldId>,
    pub default_country_code: Option<String>,
    pub consent: Option<ConsentPolicy>,
    pub max_message_chars: usize,
    /// The message written when a submission brings none (`{title}`, `{fields}`).
    pub default_message: Option<String>,
}

/// The mapping keys a form and a hook share, as written in the config.
pub(crate) struct MappingInput {
    pub title: String,
    pub subject: Option<String>,
    pub fields: BTreeMap<String, String>,
    pub merge_by: Option<Vec<String>>,
    pub default_country_code: Option<String>,
    pub default_message: Option<String>,
    pub consent: Option<RawConsent>,
}

/// Takes the shared mapping keys off a raw form or hook table (both name them alike).
macro_rules! mapping_input {
    ($raw:expr, $name:expr) => {
        $crate::config::MappingInput {
            title: $raw.title.unwrap_or_else(|| $name.to_owned()),
            subject: $raw.subject,
            fields: $raw.fields,
            merge_by: $raw.merge_by,
            default_country_code: $raw.default_country_code,
            default_message: $raw.default_message,
            consent: $raw.consent,
        }
    };
}
pub(crate) use mapping_input;

pub(crate) fn check_mapping(
    key: &dyn Fn(&str) -> String,
    input: MappingInput,
    max_message_chars: usize,
) -> anyhow::Result<MappingRules> {
    let MappingInput {
        title,
        subject,
        fields,
        merge_by,
        default_country_code,
        default_message,
        consent,
    } = input;
    Ok(MappingRules {
        title,
        subject: subject.filter(|s| !s.trim().is_empty()),
        message_field: None,
        html_field: None,
        field_map: check_field_map(key, fields)?,
        conventional_names: true,
        merge_by: check_merge_by(key, merge_by)?,
        default_country_code: default_country_code
            .map(|c| check_country_code(&key("default_country_code"), &c))
            .transpose()?,
        consent: consent.map(|c| check_consent(key, c)).transpose()?,
        max_message_chars,
        default_message: check_default_message(&key("default_message"), default_message)?,
    })
}

/// `fields`: submitted name → person field id. Consent fields are refused here: they go in
/// `[consent]`, which also records how the person subscribed.
fn check_field_map(
    key: &dyn Fn(&str) -> String,
    fields: BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, PersonFieldId>> {
    let mut field_map = BTreeMap::new();
    for (field, id) in fields {
        let id = PersonFieldId::parse(&id)
            .map_err(|e| anyhow::anyhow!("{}: {e}", key(&format!("fields.{field}"))))?;
        anyhow::ensure!(
            !matches!(id.as_str(), ids::PERMISSION | ids::PERMISSION_CONTEXT),
            "{}: consent is set with a [consent] table, which also records how the person subscribed",
            key(&format!("fields.{field}"))
        );
        field_map.insert(field, id);
    }
    Ok(field_map)
}

/// `merge_by`: one or two field ids (main, then fallback); the email by default.
fn check_merge_by(
    key: &dyn Fn(&str) -> String,
    merge_by: Option<Vec<String>>,
) -> anyhow::Result<Vec<PersonFieldId>> {
    let Some(ids) = merge_by else {
        return Ok(vec![PersonFieldId::builtin(ids::EMAIL)]);
    };
    anyhow::ensure!(
        (1..=2).contains(&ids.len()),
        "{}: one or two field ids (main, then fallback)",
        key("merge_by")
    );
    ids.iter()
        .map(|id| PersonFieldId::parse(id).map_err(|e| anyhow::anyhow!("{}: {e}", key("merge_by"))))
        .collect()
}

/// A country calling code like `61` or `+44`, kept as its digits.
fn check_country_code(key: &str, code: &str) -> anyhow::Result<String> {
    let digits = code.trim().trim_start_matches('+').to_owned();
    anyhow::ensure!(
        (1..=3).contains(&digits.len()) && digits.chars().all(|d| d.is_ascii_digit()),
        "{key}: `{code}` is not a country calling code like 61 or 44"
    );
    Ok(digits)
}

/// `[consent]`: the checkbox, what an unticked box means (required), and the words.
fn check_consent(key: &dyn Fn(&str) -> String, c: RawConsent) -> anyhow::Result<ConsentPolicy> {
    let unchecked = c.unchecked.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: a consent field must say what an unticked box means: \
             `opt_out` (send bol::p = false) or `leave` (send no permission). \
             Without it Ortto's default would opt people in who did not tick the box",
            key("consent.unchecked")
        )
    })?;
    anyhow::ensure!(
        !c.field.trim().is_empty(),
        "{}: names the checkbox field",
        key("consent.field")
    );
    let words = |list: Vec<String>| list.iter().map(|w| w.trim().to_lowercase()).collect::<Vec<_>>();
    let (ticked, unticked) = (words(c.ticked), words(c.unticked));
    if let Some(both) = ticked.iter().find(|w| unticked.contains(w)) {
        anyhow::bail!(
            "{}: `{both}` is listed as both ticked and unticked",
            key("consent")
        );
    }
    Ok(ConsentPolicy {
        field: c.field,
        unchecked,
        ticked,
        unticked,
        opted_in_context: c
            .opted_in_context
            .unwrap_or_else(|| DEFAULT_OPTED_IN_CONTEXT.to_owned()),
        opted_out_context: c
            .opted_out_context
            .unwrap_or_else(|| DEFAULT_OPTED_OUT_CONTEXT.to_owned()),
        text: c.text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
    })
}

/// Form and hook names appear in URLs: letters, digits, `-` and `_` only.
/// A `default_message` template: non-blank, and only the placeholders it knows.
pub(crate) fn check_default_message(key: &str, template: Option<String>) -> anyhow::Result<Option<String>> {
    let Some(template) = template else {
        return Ok(None);
    };
    anyhow::ensure!(!template.trim().is_empty(), "{key}: the template is blank");
    let unknown = template
        .replace("{title}", "")
        .replace("{fields}", "")
        .contains(['{', '}']);
    anyhow::ensure!(!unknown, "{key}: only {{title}} and {{fields}} can be filled in");
    Ok(Some(template))
}
