//! The submitted fields, in the order they arrived, with every value of a repeated key.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmittedFields {
    entries: Vec<(String, Vec<String>)>,
}

impl SubmittedFields {
    pub fn push(&mut self, name: String, value: String) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.entries.push((name, vec![value])),
        }
    }

    /// Pushes the value when there is one.
    pub fn extend_one(&mut self, name: &str, value: Option<String>) {
        if let Some(value) = value {
            self.push(name.to_owned(), value);
        }
    }

    pub fn values(&self, name: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
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
        let entries = self
            .entries
            .into_iter()
            .map(|(name, values)| {
                let name = crate::clean::single_line(&name).into_owned();
                let values = values
                    .into_iter()
                    .map(|v| crate::clean::strip_control(&v).into_owned())
                    .collect();
                (name, values)
            })
            .collect();
        Self { entries }
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
