use serde::Serialize;

/// Formspree-compatible error codes, so client scripts written for it keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProblemCode {
    RequiredFieldMissing,
    RequiredFieldEmpty,
    TypeEmail,
    TypeNumeric,
    TypeBoolean,
    TypePhone,
    FieldTooLong,
    Empty,
    InvalidEncoding,
    FileNotSupported,
}

/// What is wrong with one submitted field, in words a submitter can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub code: ProblemCode,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, code: ProblemCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}
