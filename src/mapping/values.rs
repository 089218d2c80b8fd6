//! Value shapes by field type (docs/mapping.md, "Mapping rules"): what Ortto accepts for `str`, `int`, `bol`, `phn`, `geo`.

use crate::domain::{FieldKind, FieldProblem, PersonFieldId, ProblemCode};
use serde_json::{json, Value};

use crate::ortto::{STR_MAX_CHARS, TXT_MAX_CHARS};

/// Whether a checkbox value means "ticked": `on`, `true`, `1`, `yes`, `checked`.
pub fn is_checked(value: &str) -> bool {
    let v = value.trim();
    ["on", "true", "1", "yes", "checked"]
        .iter()
        .any(|c| v.eq_ignore_ascii_case(c))
}

fn is_unchecked(value: &str) -> bool {
    let v = value.trim();
    ["off", "false", "0", "no", "unchecked", ""]
        .iter()
        .any(|c| v.eq_ignore_ascii_case(c))
}

/// What one value becomes.
#[derive(Debug, PartialEq)]
pub enum Shaped {
    Value(Value),
    /// Cannot take the field's shape but is harmless: shown to the agent as text.
    KeepAsText,
    /// Blank: not sent.
    Skip,
}

pub fn shape(
    field: &str,
    id: &PersonFieldId,
    values: &[String],
    default_country_code: Option<&str>,
) -> Result<Shaped, FieldProblem> {
    let kind = id.kind();
    let value = joined(kind, values);
    if value.is_empty() && kind != FieldKind::Bol {
        return Ok(Shaped::Skip);
    }
    let problem = |code, message: String| FieldProblem::new(field, code, message);
    let within = |max: usize| {
        (crate::ortto::text_len(&value) <= max)
            .then_some(())
            .ok_or_else(|| {
                problem(
                    ProblemCode::FieldTooLong,
                    format!("This is longer than {max} characters."),
                )
            })
    };
    let shaped = match kind {
        FieldKind::Str => within(STR_MAX_CHARS).map(|()| Value::String(value.clone()))?,
        FieldKind::Txt => within(TXT_MAX_CHARS).map(|()| Value::String(value.clone()))?,
        FieldKind::Geo => within(STR_MAX_CHARS).map(|()| json!({ "name": value }))?,
        FieldKind::Int => value.parse::<i64>().map(|n| json!(n)).map_err(|_| {
            problem(
                ProblemCode::TypeNumeric,
                "This should be a whole number.".to_owned(),
            )
        })?,
        FieldKind::Bol if is_checked(&value) => Value::Bool(true),
        FieldKind::Bol if is_unchecked(&value) => Value::Bool(false),
        FieldKind::Bol => {
            return Err(problem(
                ProblemCode::TypeBoolean,
                "This should be yes or no.".to_owned(),
            ))
        }
        FieldKind::Phn => match phone(&value, default_country_code) {
            Some(v) => v,
            None => return Ok(Shaped::KeepAsText),
        },
    };
    Ok(Shaped::Value(shaped))
}

/// A field's submitted values as one: text types join every non-blank value (a checkbox
/// group), the others take the first.
fn joined(kind: FieldKind, values: &[String]) -> String {
    let mut present = values.iter().map(|v| v.trim()).filter(|v| !v.is_empty());
    match kind {
        FieldKind::Str | FieldKind::Txt => present.collect::<Vec<_>>().join(", "),
        _ => present.next().unwrap_or("").to_owned(),
    }
}

/// International numbers (`+61 401 234 567`, `0061…`) go whole; national ones need the
/// form's default country code. Either must be a number that exists in its country's
/// numbering plan (libphonenumber's metadata, the `phonenumber` crate): `+0000000000`, or
/// `1234` with a default code, is not, so it stays in the message text and never reaches
/// Ortto as a phone field it would refuse.
fn phone(raw: &str, default_country_code: Option<&str>) -> Option<Value> {
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+');
    if !raw.chars().all(allowed) {
        return None;
    }
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let international = raw.starts_with('+') || raw.starts_with("00");
    let number = if international {
        let digits = digits
            .strip_prefix("00")
            .filter(|_| raw.starts_with("00"))
            .unwrap_or(&digits);
        phonenumber::parse(None, format!("+{digits}")).ok()?
    } else {
        if raw.contains('+') {
            return None;
        }
        let code: u16 = default_country_code?.parse().ok()?;
        let region = phonenumber::metadata::DATABASE
            .by_code(&code)?
            .first()?
            .id()
            .parse::<phonenumber::country::Id>()
            .ok()?;
        phonenumber::parse(Some(region), &digits).ok()?
    };
    if !super::numbering::is_valid(&number) {
        return None;
    }
    let (code, national) = (number.code().value().to_string(), number.national().to_string());
    Some(if international {
        json!({ "phone": format!("{code}{national}"), "parse_with_country_code": true })
    } else {
        json!({ "c": code, "n": national })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaped(id: &str, value: &str, cc: Option<&str>) -> Result<Shaped, FieldProblem> {
        shape("f", &PersonFieldId::parse(id).unwrap(), &[value.to_owned()], cc)
    }

    #[test]
    fn phones() {
        assert_eq!(
            shaped("phn::phone", "+61 401 234 567", None).unwrap(),
            Shaped::Value(json!({"phone": "61401234567", "parse_with_country_code": true}))
        );
        assert_eq!(
            shaped("phn::phone", "0401 234 567", Some("61")).unwrap(),
            Shaped::Value(json!({"c": "61", "n": "401234567"}))
        );
        assert_eq!(
            shaped("phn::phone", "0401 234 567", None).unwrap(),
            Shaped::KeepAsText
        );
        assert_eq!(
            shaped("phn::phone", "call me", Some("61")).unwrap(),
            Shaped::KeepAsText
        );
        // Numbers no numbering plan has stay text, never a field Ortto would refuse.
        for impossible in ["+0000000000", "+61 1234", "00 999 123 456"] {
            assert_eq!(
                shaped("phn::phone", impossible, None).unwrap(),
                Shaped::KeepAsText,
                "{impossible}"
            );
        }
        assert_eq!(
            shaped("phn::phone", "1234", Some("61")).unwrap(),
            Shaped::KeepAsText
        );
        assert_eq!(
            shaped("phn::phone", "0049 30 901820", None).unwrap(),
            Shaped::Value(json!({"phone": "4930901820", "parse_with_country_code": true}))
        );
        assert_eq!(
            shaped("phn::phone", "(02) 9876 5432", Some("61")).unwrap(),
            Shaped::Value(json!({"c": "61", "n": "298765432"}))
        );
    }

    #[test]
    fn ints_bools_geos() {
        assert_eq!(
            shaped("int:cm:seats", " 12 ", None).unwrap(),
            Shaped::Value(json!(12))
        );
        assert_eq!(
            shaped("int:cm:seats", "twelve", None).unwrap_err().code,
            ProblemCode::TypeNumeric
        );
        assert_eq!(
            shaped("bol:cm:vip", "Yes", None).unwrap(),
            Shaped::Value(json!(true))
        );
        assert_eq!(
            shaped("bol:cm:vip", "off", None).unwrap(),
            Shaped::Value(json!(false))
        );
        assert_eq!(
            shaped("bol:cm:vip", "maybe", None).unwrap_err().code,
            ProblemCode::TypeBoolean
        );
        assert_eq!(
            shaped("geo::city", "Sydney", None).unwrap(),
            Shaped::Value(json!({"name": "Sydney"}))
        );
    }

    #[test]
    fn str_limit_is_255_characters_not_bytes() {
        assert!(shaped("str::first", &"é".repeat(255), None).is_ok());
        assert_eq!(
            shaped("str::first", &"é".repeat(256), None).unwrap_err().code,
            ProblemCode::FieldTooLong
        );
    }
}
