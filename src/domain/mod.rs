//! Types whose only constructors check them: once a value exists, it is valid.

mod email;
pub mod field_ids;
mod field_problem;
mod fields;
mod person_field;
mod status;

pub use email::SubmitterEmail;
pub use field_problem::{FieldProblem, ProblemCode};
pub use fields::SubmittedFields;
pub use person_field::{FieldKind, PersonFieldId};
pub use status::{SourceKind, Status};

/// A new time-sortable submission id (UUIDv7, lower-case hyphenated).
pub fn new_submission_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// UTC, RFC 3339 with milliseconds: sortable as text, as the log promises.
pub fn utc_timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_timestamp() -> String {
    utc_timestamp(chrono::Utc::now())
}
