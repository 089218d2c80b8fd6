//! The submitted fields, in the order they arrived, with every value of a repeated key.

use serde_json::{Map, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmittedFields {
    entries: Vec<(String, Vec<String>)>,
    /// Where each name sits in `entries`, so adding a field costs the same however many
    /// came before (a body of 13,000 distinct names must not cost 13,000² comparisons).
    index: HashMap<String, usize>,
}

impl SubmittedFields {
    pub fn push(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&at) => self.entries[at].1.push(value),
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, vec![value]));
            }
        }
    }

    /// Pushes the value when there is one.
    pub fn extend_one(&mut self, name: &str, value: Option<String>) {
        if let Some(value) = value {
            self.push(name.to_owned(), value);
        }
    }

    pub fn values(&self, name: &str) -> Option<&[String]> {
        self.index.get(name).map(|&at| self.entries[at].1.as_slice())
    }

    /// The first non-blank value of a field.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name)?
            .iter()
            .map(String::as_str)
            .find(|v| !v.trim().is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Applies `f` to every value (the clean step uses it).
    /// The clean step for text: names become one line without control characters, values
    /// lose control characters but keep newlines and tabs (HTML is sanitised in map).
    pub fn cleaned(self) -> Self {
        let mut cleaned = Self::default();
        for (name, values) in self.entries {
            // Two names that differ only by control characters become one field.
            let name = crate::clean::single_line(&name).into_owned();
            for value in values {
                cleaned.push(name.clone(), crate::clean::strip_control(&value).into_owned());
            }
        }
        cleaned
    }

    /// As recorded in `submissions.fields`: one key per field, a string, or an
    /// array when the key was repeated. Fields named in `omit` (CAPTCHA tokens) are left out.
    pub fn to_json(&self, omit: &[&str]) -> String {
        let mut object = Map::new();
        for (name, values) in &self.entries {
            if omit.contains(&name.as_str()) {
                continue;
            }
            let value = match values.as_slice() {
                [one] => Value::String(one.clone()),
                many => Value::Array(many.iter().cloned().map(Value::String).collect()),
            };
            object.insert(name.clone(), value);
        }
        Value::Object(object).to_string()
    }
}

impl FromIterator<(String, String)> for SubmittedFields {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut fields = Self::default();
        for (name, value) in iter {
            fields.push(name, value);
        }
        fields
    }
}
