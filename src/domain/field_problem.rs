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
    FieldTooLong,
    InvalidEncoding,
    FileNotSupported,
    /// The payload built from the submission fails the pre-send check (docs/delivery.md, "Delivery
    /// guarantees"): a safety net, never reached by a submission the mapping accepts.
    NotSendable,
}

impl ProblemCode {
    /// The code as it appears in an error body's `errors[].code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiredFieldMissing => "REQUIRED_FIELD_MISSING",
            Self::RequiredFieldEmpty => "REQUIRED_FIELD_EMPTY",
            Self::TypeEmail => "TYPE_EMAIL",
            Self::TypeNumeric => "TYPE_NUMERIC",
            Self::TypeBoolean => "TYPE_BOOLEAN",
            Self::FieldTooLong => "FIELD_TOO_LONG",
            Self::InvalidEncoding => "INVALID_ENCODING",
            Self::FileNotSupported => "FILE_NOT_SUPPORTED",
            Self::NotSendable => "NOT_SENDABLE",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::ProblemCode;

    #[test]
    fn the_written_code_is_the_serialised_one() {
        for code in [
            ProblemCode::RequiredFieldMissing,
            ProblemCode::RequiredFieldEmpty,
            ProblemCode::TypeEmail,
            ProblemCode::TypeNumeric,
            ProblemCode::TypeBoolean,
            ProblemCode::FieldTooLong,
            ProblemCode::InvalidEncoding,
            ProblemCode::FileNotSupported,
            ProblemCode::NotSendable,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
