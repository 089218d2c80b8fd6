//! Parsing a body into fields under the input limits (`limits.*`), enforced while parsing
//! so the work stops at the first limit crossed: urlencoded, JSON and multipart text parts.

use super::body::{BodyError, BodyFormat};
use crate::config::LimitSettings;
use crate::domain::SubmittedFields;
use actix_web::web::Bytes;

/// Parses a body into fields and holds them to the input limits.
pub async fn parse_fields(
    format: BodyFormat,
    content_type: Option<&str>,
    body: Bytes,
    limits: &LimitSettings,
) -> Result<SubmittedFields, BodyError> {
    let fields = match format {
        BodyFormat::UrlEncoded => parse_urlencoded(&body, limits)?,
        BodyFormat::Json => parse_json(&body, limits)?,
        BodyFormat::Multipart => parse_multipart(content_type.unwrap_or(""), body, limits.max_fields).await?,
    };
    check_limits(&fields, limits)?;
    Ok(fields)
}

/// Holds parsed fields to the input limits.
pub fn check_limits(fields: &SubmittedFields, limits: &LimitSettings) -> Result<(), BodyError> {
    let values: usize = fields.iter().map(|(_, values)| values.len()).sum();
    if values > limits.max_fields {
        return Err(BodyError::TooManyFields {
            limit: limits.max_fields,
        });
    }
    for (name, values) in fields.iter() {
        if name.chars().count() > limits.max_field_name_chars {
            return Err(BodyError::FieldNameTooLong {
                limit: limits.max_field_name_chars,
            });
        }
        if values.iter().any(|v| v.chars().count() > limits.max_value_chars) {
            return Err(BodyError::ValueTooLong {
                field: name.to_owned(),
                limit: limits.max_value_chars,
            });
        }
    }
    Ok(())
}

/// Strict urlencoded parsing: unlike the lossy decoders, invalid UTF-8 is an error that
/// names the field instead of turning into U+FFFD.
/// Collects fields under the input limits, failing at the first one crossed, so a body
/// built to be expensive stops costing as soon as it is over a limit: parsing stays linear
/// in the body's size.
pub struct LimitedFields<'a> {
    fields: SubmittedFields,
    limits: &'a LimitSettings,
    values: usize,
}

impl<'a> LimitedFields<'a> {
    pub fn new(limits: &'a LimitSettings) -> Self {
        Self {
            fields: SubmittedFields::default(),
            limits,
            values: 0,
        }
    }

    pub fn push(&mut self, name: String, value: String) -> Result<(), BodyError> {
        self.values += 1;
        if self.values > self.limits.max_fields {
            return Err(BodyError::TooManyFields {
                limit: self.limits.max_fields,
            });
        }
        if exceeds(&name, self.limits.max_field_name_chars) {
            return Err(BodyError::FieldNameTooLong {
                limit: self.limits.max_field_name_chars,
            });
        }
        if exceeds(&value, self.limits.max_value_chars) {
            return Err(BodyError::ValueTooLong {
                field: name,
                limit: self.limits.max_value_chars,
            });
        }
        self.fields.push(name, value);
        Ok(())
    }

    pub fn finish(self) -> SubmittedFields {
        self.fields
    }
}

/// Whether `text` has more than `limit` characters, counting no further than needed.
fn exceeds(text: &str, limit: usize) -> bool {
    text.len() > limit && text.chars().nth(limit).is_some()
}

pub fn parse_urlencoded(body: &[u8], limits: &LimitSettings) -> Result<SubmittedFields, BodyError> {
    let mut fields = LimitedFields::new(limits);
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &b""[..]),
        };
        let name_bytes = decode_component(raw_name);
        let name = String::from_utf8(name_bytes).map_err(|e| BodyError::InvalidUtf8 {
            field: String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })?;
        let value = String::from_utf8(decode_component(raw_value))
            .map_err(|_| BodyError::InvalidUtf8 { field: name.clone() })?;
        fields.push(name, value)?;
    }
    Ok(fields.finish())
}

fn decode_component(raw: &[u8]) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&plus_as_space).collect()
}

/// A JSON object of fields. Scalars become text, arrays keep every value, nested
/// objects flatten to `parent.child` names.
pub fn parse_json(body: &[u8], limits: &LimitSettings) -> Result<SubmittedFields, BodyError> {
    let serde_json::Value::Object(object) = parse_json_value(body, limits.max_json_depth)? else {
        return Err(BodyError::Malformed(
            "the JSON body must be an object of fields".to_owned(),
        ));
    };
    let mut fields = LimitedFields::new(limits);
    flatten_json("", object, &mut |name, value| fields.push(name, value))?;
    Ok(fields.finish())
}

/// Any JSON document, checked for UTF-8 (naming the field that breaks it) and depth.
pub fn parse_json_value(body: &[u8], max_depth: usize) -> Result<serde_json::Value, BodyError> {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(_) => return Err(name_invalid_json_field(body)),
    };
    // Nesting is measured on the bytes first, so a body deeper than serde_json's own limit
    // (128) is `JSON_TOO_DEEP` like any other, not a parse error.
    if nesting(text) > max_depth {
        return Err(BodyError::TooDeep { limit: max_depth });
    }
    let value = super::json::parse(text).map_err(|e| BodyError::Malformed(format!("invalid JSON ({e})")))?;
    Ok(value)
}

/// The deepest nesting of `[` and `{` outside strings (malformed text is left to the parser).
fn nesting(text: &str) -> usize {
    let (mut deepest, mut level, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                level += 1;
                deepest = deepest.max(level);
            }
            (false, _, b']' | b'}') => level = level.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn flatten_json(
    prefix: &str,
    object: serde_json::Map<String, serde_json::Value>,
    out: &mut impl FnMut(String, String) -> Result<(), BodyError>,
) -> Result<(), BodyError> {
    use serde_json::Value;
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Null => {}
            Value::Object(inner) => flatten_json(&name, inner, out)?,
            Value::Array(items) => {
                for item in items {
                    if let Some(text) = scalar_text(&item) {
                        out(name.clone(), text)?;
                    } else if !item.is_null() {
                        out(name.clone(), item.to_string())?;
                    }
                }
            }
            scalar => {
                if let Some(text) = scalar_text(&scalar) {
                    out(name, text)?;
                }
            }
        }
    }
    Ok(())
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Finds which field carries the invalid bytes: the first whose lossily decoded value
/// holds a replacement character.
fn name_invalid_json_field(body: &[u8]) -> BodyError {
    let lossy = String::from_utf8_lossy(body);
    let culprit = serde_json::from_str::<serde_json::Value>(&lossy)
        .ok()
        .and_then(|value| match value {
            serde_json::Value::Object(object) => {
                let mut fields = SubmittedFields::default();
                let _ = flatten_json("", object, &mut |name, value| {
                    fields.push(name, value);
                    Ok(())
                });
                let culprit = fields
                    .iter()
                    .find(|(name, values)| {
                        name.contains('\u{FFFD}') || values.iter().any(|v| v.contains('\u{FFFD}'))
                    })
                    .map(|(name, _)| name.to_owned());
                culprit
            }
            _ => None,
        });
    match culprit {
        Some(field) => BodyError::InvalidUtf8 { field },
        None => BodyError::Malformed("the body is not valid UTF-8".to_owned()),
    }
}

async fn parse_multipart(
    content_type: &str,
    body: Bytes,
    max_parts: usize,
) -> Result<SubmittedFields, BodyError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| BodyError::Malformed("multipart body without a boundary".to_owned()))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = SubmittedFields::default();
    let mut parts = 0;
    loop {
        parts += 1;
        if parts > max_parts {
            return Err(BodyError::TooManyFields { limit: max_parts });
        }
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(BodyError::Malformed(format!("bad multipart body ({e})"))),
        };
        let name = field.name().unwrap_or("").to_owned();
        if field.file_name().is_some() {
            return Err(BodyError::FileUpload { field: name });
        }
        let bytes = field
            .bytes()
            .await
            .map_err(|e| BodyError::Malformed(format!("bad multipart part `{name}` ({e})")))?;
        let value =
            String::from_utf8(bytes.to_vec()).map_err(|_| BodyError::InvalidUtf8 { field: name.clone() })?;
        fields.push(name, value);
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_stop_parsing_at_the_first_crossing_and_many_names_stay_distinct() {
        let flood: String = (0..13_000).map(|i| format!("f{i}=v&")).collect();
        let err = parse_urlencoded(flood.as_bytes(), &limits()).unwrap_err();
        assert!(matches!(err, BodyError::TooManyFields { limit: 100 }), "{err:?}");
        let roomy = LimitSettings {
            max_fields: 20_000,
            ..limits()
        };
        let fields = parse_urlencoded(flood.as_bytes(), &roomy).unwrap();
        assert_eq!(fields.len(), 13_000);
        assert_eq!(fields.first("f12999"), Some("v"));
        let long_name = format!("{}=v", "n".repeat(101));
        let err = parse_urlencoded(long_name.as_bytes(), &limits()).unwrap_err();
        assert!(matches!(err, BodyError::FieldNameTooLong { .. }));
        let json = format!(r#"{{"a":[{}]}}"#, vec!["1"; 101].join(","));
        let err = parse_json(json.as_bytes(), &limits()).unwrap_err();
        assert!(matches!(err, BodyError::TooManyFields { .. }), "{err:?}");
    }

    fn limits() -> LimitSettings {
        LimitSettings {
            max_message_chars: 20_000,
            max_fields: 100,
            max_field_name_chars: 100,
            max_value_chars: 20_000,
            max_json_depth: 8,
        }
    }

    #[test]
    fn urlencoded_keeps_repeated_keys_and_decodes_plus() {
        let fields = parse_urlencoded(b"topic=a&name=Jo+Smith&topic=b&empty=", &limits()).unwrap();
        assert_eq!(fields.values("topic").unwrap(), ["a", "b"]);
        assert_eq!(fields.first("name"), Some("Jo Smith"));
        assert_eq!(fields.values("empty").unwrap(), [""]);
    }

    #[test]
    fn urlencoded_invalid_utf8_names_the_field() {
        let err = parse_urlencoded(b"name=ok&message=%FF%FE", &limits()).unwrap_err();
        assert!(matches!(err, BodyError::InvalidUtf8 { field } if field == "message"));
    }

    #[test]
    fn json_flattens_and_keeps_arrays() {
        let fields = parse_json(
            br#"{"email":"a@b.co","tags":["x","y"],"n":3,"who":{"first":"Jo"},"skip":null}"#,
            &limits(),
        )
        .unwrap();
        assert_eq!(fields.values("tags").unwrap(), ["x", "y"]);
        assert_eq!(fields.first("n"), Some("3"));
        assert_eq!(fields.first("who.first"), Some("Jo"));
        assert!(fields.values("skip").is_none());
    }

    #[test]
    fn json_invalid_utf8_names_the_field() {
        let mut body = br#"{"name":"Jo","message":""#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}"#);
        let err = parse_json(&body, &limits()).unwrap_err();
        assert!(matches!(err, BodyError::InvalidUtf8 { field } if field == "message"));
    }

    #[test]
    fn json_depth_is_limited() {
        let shallow = LimitSettings {
            max_json_depth: 3,
            ..limits()
        };
        assert!(parse_json(br#"{"a":{"b":{"c":"d"}}}"#, &shallow).is_ok());
        assert!(matches!(
            parse_json(br#"{"a":{"b":{"c":["d"]}}}"#, &shallow),
            Err(BodyError::TooDeep { limit: 3 })
        ));
    }
}
