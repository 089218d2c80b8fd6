//! What a hook's HMAC covers: the named formats and `signed` templates of `{method}`,
//! `{url}`, `{path}`, `{body}`, `{timestamp}`, `{id}` and `{header:NAME}`, and how the
//! secret is read (docs/webhooks.md, "Webhooks from form tools").

use super::hooks::SignatureEncoding;
use base64::Engine;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Deserialize;

/// The built-in signature schemes, each a named template (docs/webhooks.md, "Signatures").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HmacFormat {
    /// `{body}`, the whole header (after any prefix) is the signature.
    Plain,
    /// `t=<unix>,v1=<sig>` in the header, over `{timestamp}.{body}` (Stripe-style).
    Timestamped,
    /// Webflow: a millisecond timestamp header, over `{timestamp}:{body}`.
    Webflow,
    /// Standard Webhooks (Svix): `v1,<base64>` signatures, space-separated, over
    /// `{id}.{timestamp}.{body}` with `webhook-id` and `webhook-timestamp`.
    StandardWebhooks,
}

/// How the signature header is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLayout {
    /// The whole value, after `signature_prefix`, is the signature.
    Whole,
    /// `t=<timestamp>,v1=<sig>[,v1=<sig>…]`.
    Parts,
    /// `v1,<sig> [v1,<sig> …]`: space-separated, each with its version (Standard Webhooks).
    Versioned,
}

/// One piece of the signed bytes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedPart {
    Text(String),
    Method,
    Url,
    Path,
    Body,
    Timestamp,
    /// The message id in the hook's `id_header`.
    Id,
    /// Any request header's value, by name.
    Header(String),
}

impl SignedPart {
    /// The part as a template writes it.
    pub fn template(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Method => "{method}".to_owned(),
            Self::Url => "{url}".to_owned(),
            Self::Path => "{path}".to_owned(),
            Self::Body => "{body}".to_owned(),
            Self::Timestamp => "{timestamp}".to_owned(),
            Self::Id => "{id}".to_owned(),
            Self::Header(name) => format!("{{header:{name}}}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampUnit {
    S,
    Ms,
}

/// Where the signed timestamp comes from, in what unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampSource {
    /// A header of its own; `None`: the `t=` part of the signature header.
    pub header: Option<String>,
    pub unit: TimestampUnit,
}

/// How the secret in `secret_env` becomes the HMAC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretEncoding {
    /// The variable's bytes as they are (Stripe's `whsec_…` secrets are used this way).
    Raw,
    /// Standard base64.
    Base64,
    /// Standard Webhooks: `whsec_` and then base64.
    Whsec,
}

impl SecretEncoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Base64 => "base64",
            Self::Whsec => "whsec",
        }
    }

    /// The key bytes; an error names `key` and never shows the secret.
    pub(crate) fn key(self, key: &str, secret: &SecretString) -> anyhow::Result<SecretSlice<u8>> {
        let value = secret.expose_secret();
        let encoded = match self {
            Self::Raw => return Ok(SecretSlice::from(value.as_bytes().to_vec())),
            Self::Base64 => value,
            Self::Whsec => value.strip_prefix("whsec_").unwrap_or(value),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| {
                anyhow::anyhow!(
                    "{key}: the secret is not {} (secret_encoding = \"{}\")",
                    match self {
                        Self::Whsec => "`whsec_` and base64",
                        _ => "base64",
                    },
                    self.as_str()
                )
            })?;
        anyhow::ensure!(!bytes.is_empty(), "{key}: the secret decodes to nothing");
        Ok(SecretSlice::from(bytes))
    }
}

#[derive(Debug, Clone)]
pub struct HmacAuth {
    /// The HMAC key, decoded from the secret by `secret_encoding`.
    pub key: SecretSlice<u8>,
    pub secret_encoding: SecretEncoding,
    pub header: String,
    pub encoding: SignatureEncoding,
    pub prefix: Option<String>,
    pub layout: SignatureLayout,
    pub signed: Vec<SignedPart>,
    /// Set whenever the signed bytes include `{timestamp}`; checked against the tolerance.
    pub timestamp: Option<TimestampSource>,
    pub tolerance_secs: u64,
    pub signed_url: Option<String>,
    /// The header `{id}` reads; set whenever the signed bytes include `{id}`.
    pub id_header: Option<String>,
}

impl HmacAuth {
    /// The scheme in the configuration's own words (`check-config`).
    pub fn describe(&self) -> String {
        let signed: String = self.signed.iter().map(SignedPart::template).collect();
        let encoding = match self.encoding {
            SignatureEncoding::Hex => "hex",
            SignatureEncoding::Base64 => "base64",
        };
        let mut how = vec![encoding.to_owned()];
        match self.layout {
            SignatureLayout::Whole => {}
            SignatureLayout::Parts => how.push("as t=…,v1=…, any v1 may match".to_owned()),
            SignatureLayout::Versioned => how.push("as v1,… space-separated, any may match".to_owned()),
        }
        if let Some(prefix) = &self.prefix {
            how.push(format!("after the prefix {prefix:?}"));
        }
        if let Some(t) = &self.timestamp {
            let unit = match t.unit {
                TimestampUnit::S => "s",
                TimestampUnit::Ms => "ms",
            };
            let from = t.header.as_deref().unwrap_or("t=");
            how.push(format!(
                "timestamp in {from} ({unit}, ±{} s)",
                self.tolerance_secs
            ));
        }
        if let Some(id) = &self.id_header {
            how.push(format!("id in {id}"));
        }
        if self.secret_encoding != SecretEncoding::Raw {
            how.push(format!("secret read as {}", self.secret_encoding.as_str()));
        }
        format!(
            "HMAC-SHA256 in {} ({}) over \"{signed}\"",
            self.header,
            how.join(", ")
        )
    }
}

/// Parses `signed = "{method}{url}{body}{timestamp}"`-style templates.
pub(crate) fn parse_signed(key: &str, template: &str) -> anyhow::Result<Vec<SignedPart>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(SignedPart::Text(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| anyhow::anyhow!("{key}: an unclosed `{{`"))?;
        parts.push(placeholder(key, &rest[open + 1..open + close])?);
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        parts.push(SignedPart::Text(rest.to_owned()));
    }
    anyhow::ensure!(
        parts.contains(&SignedPart::Body),
        "{key}: the signed bytes must include {{body}}"
    );
    Ok(parts)
}

fn placeholder(key: &str, name: &str) -> anyhow::Result<SignedPart> {
    Ok(match name {
        "method" => SignedPart::Method,
        "url" => SignedPart::Url,
        "path" => SignedPart::Path,
        "body" => SignedPart::Body,
        "timestamp" => SignedPart::Timestamp,
        "id" => SignedPart::Id,
        other => match other.strip_prefix("header:") {
            Some(header) if actix_web::http::header::HeaderName::from_bytes(header.as_bytes()).is_ok() => {
                SignedPart::Header(header.to_ascii_lowercase())
            }
            _ => anyhow::bail!(
                "{key}: `{{{other}}}` is not one of {{method}}, {{url}}, {{path}}, {{body}}, \
                 {{timestamp}}, {{id}} or {{header:NAME}}"
            ),
        },
    })
}
