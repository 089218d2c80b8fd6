//! JSON bodies read as sent (docs/mapping.md, "Mapping rules"): a key repeated in one object keeps every
//! value, as an array in order (as a checkbox group does in a form post), and a number keeps
//! the digits it was written with when a float or integer would change them
//! (`123456789012345678901234567890123456789`, `1.10`): it becomes that text.

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// Parses `text`, keeping repeated keys and numbers as written. Nesting is bounded by the
/// caller (each level is read again as its own text).
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let raw: &RawValue = serde_json::from_str(text)?;
    value(raw)
}

fn value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') => serde_json::Deserializer::from_str(text).deserialize_map(ObjectVisitor),
        Some(b'[') => serde_json::Deserializer::from_str(text).deserialize_seq(ArrayVisitor),
        Some(b'-' | b'0'..=b'9') => Ok(number(text)),
        _ => serde_json::from_str(text),
    }
}

/// A number as a JSON number when that prints back the same, else as the text it was.
fn number(text: &str) -> Value {
    let exact = text
        .parse::<i64>()
        .ok()
        .map(Number::from)
        .or_else(|| text.parse::<u64>().ok().map(Number::from))
        .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
        .filter(|n| n.to_string() == text);
    exact.map_or_else(|| Value::String(text.to_owned()), Value::Number)
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((key, raw)) = map.next_entry::<String, &'de RawValue>()? {
            let item = value(raw).map_err(serde::de::Error::custom)?;
            match out.get_mut(&key) {
                None => {
                    out.insert(key, item);
                }
                // A repeated key: every value, in order.
                Some(Value::Array(values)) if repeated(values) => values.push(item),
                Some(first) => *first = Value::Array(vec![first.take(), item]),
            }
        }
        Ok(Value::Object(out))
    }
}

/// Whether an array already holds a repeated key's values (scalars), so the next is appended;
/// an array that was sent as one value becomes the first of the repeated values instead.
fn repeated(values: &[Value]) -> bool {
    values.iter().all(|v| !v.is_array())
}

struct ArrayVisitor;

impl<'de> Visitor<'de> for ArrayVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            out.push(value(raw).map_err(serde::de::Error::custom)?);
        }
        Ok(Value::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn repeated_keys_keep_every_value_and_numbers_keep_their_digits() {
        let value = parse(r#"{"a": 1, "b": {"c": "x", "c": "y", "c": "z"}, "a": 2.50, "n": 123456789012345678901234567890123456789}"#).unwrap();
        assert_eq!(value["a"], json!([1, "2.50"]));
        assert_eq!(value["b"]["c"], json!(["x", "y", "z"]));
        assert_eq!(value["n"], "123456789012345678901234567890123456789");
        assert_eq!(
            parse("[1, -7, 4.5, true, null]").unwrap(),
            json!([1, -7, 4.5, true, null])
        );
        assert!(parse(r#"{"a": }"#).is_err());
    }
}
