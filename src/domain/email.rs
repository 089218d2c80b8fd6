use super::{FieldProblem, ProblemCode};
use std::str::FromStr;

/// A submitter's email address: syntax-checked, at most 254 characters, trimmed, with the
/// domain lower-cased and internationalised domains in punycode (the local part is
/// case-sensitive by RFC 5321, and must be ASCII and unquoted).
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
        // What Ortto and a mail system take: an unquoted ASCII local part (no SMTPUTF8), and a
        // public host name, internationalised domains as punycode.
        if local.is_empty() || !local.is_ascii() || local.starts_with('"') {
            return Err(invalid());
        }
        let domain = host_name(domain).ok_or_else(invalid)?;
        let normalised = format!("{local}@{domain}");
        email_address::EmailAddress::from_str(&normalised).map_err(|_| invalid())?;
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A dotted public host name in ASCII (IDNA: `exämple.com` → `xn--exmple-cua.com`), lower
/// case: labels of letters, digits and inner hyphens, a top-level label of two letters or more
/// (or punycode). IP literals, `localhost`, underscores and one-letter top levels are not.
fn host_name(raw: &str) -> Option<String> {
    if raw.starts_with('[') {
        return None;
    }
    let url::Host::Domain(ascii) = url::Host::parse(raw).ok()? else {
        return None;
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |label: &&str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let top = labels.last()?;
    let top_ok = top.starts_with("xn--") || (top.len() >= 2 && top.bytes().all(|b| b.is_ascii_lowercase()));
    (labels.len() >= 2 && ascii.len() <= 253 && labels.iter().all(label_ok) && top_ok).then_some(ascii)
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
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "\"a b\"@example.com",
            "a@example.c",
            "a@e_x.com",
            "ö@example.com",
            "a@example.com.",
            "a@-example.com",
        ] {
            let problem = SubmitterEmail::parse("email", bad).unwrap_err();
            assert_eq!(problem.code, ProblemCode::TypeEmail, "{bad}");
        }
    }

    #[test]
    fn internationalised_domains_become_punycode() {
        let email = SubmitterEmail::parse("email", "Jo@Exämple.COM").unwrap();
        assert_eq!(email.as_str(), "Jo@xn--exmple-cua.com");
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
