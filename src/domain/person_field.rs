use std::fmt;

/// The value shape Ortto expects, taken from the id's type prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Str,
    Txt,
    Int,
    Bol,
    Phn,
    Geo,
}

impl FieldKind {
    fn from_prefix(prefix: &str) -> Option<Self> {
        Some(match prefix {
            "str" => Self::Str,
            "txt" => Self::Txt,
            "int" => Self::Int,
            "bol" => Self::Bol,
            "phn" => Self::Phn,
            "geo" => Self::Geo,
            _ => return None,
        })
    }
}

/// An Ortto person field id: `<type>::<name>` (built-in) or `<type>:cm:<name>` (custom).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonFieldId {
    id: String,
    kind_prefix_len: usize,
}

impl PersonFieldId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (prefix, name) = raw
            .split_once(":cm:")
            .or_else(|| raw.split_once("::"))
            .ok_or_else(|| {
                format!("`{raw}` is not an Ortto field id (expected `type::name` or `type:cm:name`)")
            })?;
        FieldKind::from_prefix(prefix).ok_or_else(|| {
            format!("`{raw}` has an unknown type `{prefix}` (one of str, txt, int, bol, phn, geo)")
        })?;
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            return Err(format!(
                "`{raw}` has an invalid name `{name}` (lower-case letters, digits, `-`, `_`)"
            ));
        }
        Ok(Self {
            id: raw.to_owned(),
            kind_prefix_len: prefix.len(),
        })
    }

    /// For the built-in ids the relay itself uses.
    pub fn builtin(id: &'static str) -> Self {
        Self::parse(id).expect("built-in field ids are valid")
    }

    pub fn kind(&self) -> FieldKind {
        FieldKind::from_prefix(&self.id[..self.kind_prefix_len]).expect("checked in parse")
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl fmt::Display for PersonFieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_builtin_and_custom_ids() {
        assert_eq!(PersonFieldId::parse("str::first").unwrap().kind(), FieldKind::Str);
        assert_eq!(PersonFieldId::parse("phn::phone").unwrap().kind(), FieldKind::Phn);
        let custom = PersonFieldId::parse("int:cm:team-size").unwrap();
        assert_eq!(custom.kind(), FieldKind::Int);
        assert_eq!(custom.as_str(), "int:cm:team-size");
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "first",
            "str:first",
            "xyz::first",
            "str::",
            "str::First",
            "str:cm:a b",
        ] {
            assert!(PersonFieldId::parse(bad).is_err(), "{bad}");
        }
    }
}
