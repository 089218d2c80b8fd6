use super::{FieldProblem, ProblemCode};
use std::str::FromStr;

/// A submitter's email address: syntax-checked, at most 254 characters, trimmed,
/// with the domain lower-cased (the local part is case-sensitive by RFC 5321).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitterEmail(String);

const MAX_LEN: usize = 254;

impl SubmitterEmail {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldProblem> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(FieldProblem::new(
                field,
                ProblemCode::RequiredFieldEmpty,
                "An email address is required.",
            ));
        }
        if trimmed.chars().count() > MAX_LEN {
            return Err(FieldProblem::new(
                field,
                ProblemCode::FieldTooLong,
                "The email address is longer than 254 characters.",
            ));
        }
        let invalid = || {
            FieldProblem::new(
                field,
                ProblemCode::TypeEmail,
                "This should be an email address, like name@example.com.",
            )
        };
        let (local, domain) = trimmed.rsplit_once('@').ok_or_else(invalid)?;
        let domain = domain.to_lowercase();
        // A deliverable public address has a dotted domain; `user@localhost` is not a submitter.
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid());
        }
        let normalised = format!("{local}@{domain}");
        email_address::EmailAddress::from_str(&normalised).map_err(|_| invalid())?;
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases_the_domain_only() {
        let email = SubmitterEmail::parse("email", "  Jo.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Jo.Smith@example.com");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "jo",
            "jo@",
            "@example.com",
            "jo@localhost",
            "jo@@example.com",
            "jo smith@example.com",
        ] {
            let problem = SubmitterEmail::parse("email", bad).unwrap_err();
            assert_eq!(problem.code, ProblemCode::TypeEmail, "{bad}");
        }
    }

    #[test]
    fn empty_and_overlong_have_their_own_codes() {
        assert_eq!(
            SubmitterEmail::parse("email", "  ").unwrap_err().code,
            ProblemCode::RequiredFieldEmpty
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            SubmitterEmail::parse("email", &long).unwrap_err().code,
            ProblemCode::FieldTooLong
        );
    }
}
