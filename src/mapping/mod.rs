//! Map (docs/mapping.md, "Mapping rules"): what a submitter sent → Ortto person fields, consent, subject and
//! messages. `form` (and later vendor presets) classify fields into a [`Draft`];
//! `compose` turns any draft into the compose request.

mod attachments;
mod compose;
mod form;
mod generic;
mod numbering;
mod presets;
mod values;

pub use attachments::AttachmentLine;
pub use compose::{compose, MappedSubmission, MappingContext};
pub use form::{draft_from_fields, CAPTCHA_FIELDS};
pub use presets::{normalise, Normalised, HTML_FIELD};
pub use values::is_checked;

use crate::domain::field_ids as ids;
use crate::domain::PersonFieldId;

impl Draft {
    /// The submitted email, when it is a syntactically valid address: spam and invalid
    /// rows keep it too, so dashboards and the admin API can tell who it was.
    pub fn email(&self) -> Option<String> {
        let (field, raw) = self.email_answer()?;
        crate::domain::SubmitterEmail::parse(field, raw)
            .ok()
            .map(|email| email.as_str().to_owned())
    }

    /// The field bound to `str::email` and its first value.
    fn email_answer(&self) -> Option<(&str, &str)> {
        let bound = self.person_fields.iter().find(|b| b.id.as_str() == ids::EMAIL)?;
        Some((&bound.field, bound.values.first()?))
    }
}

impl Draft {
    /// The email as submitted, valid or not, trimmed and bounded: an `invalid` row keeps it
    /// so the inbox can say who it was even when the address itself was the problem.
    pub fn submitted_email(&self) -> Option<String> {
        let raw = self.email_answer()?.1.trim();
        (!raw.is_empty()).then(|| raw.chars().filter(|c| !c.is_control()).take(320).collect())
    }
}

/// A submitter's answers, classified but not yet shaped or checked.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// Values bound to a person field, with the submitted name they came from.
    pub person_fields: Vec<BoundValue>,
    pub subject: Option<Answer>,
    pub message: Option<Answer>,
    pub html: Option<Answer>,
    /// The consent answer; `None` when nothing was submitted for it.
    pub consent: Option<Answer>,
    /// Everything else worth showing an agent, as `label: value`.
    pub extras: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct BoundValue {
    pub field: String,
    pub id: PersonFieldId,
    pub values: Vec<String>,
}

/// One submitted answer: the field it came from and its value.
#[derive(Debug, Clone)]
pub struct Answer {
    pub field: String,
    pub value: String,
}
