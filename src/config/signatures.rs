//! What a hook's HMAC covers: the named formats and `signed` templates of `{method}`,
//! `{url}`, `{path}`, `{body}` and `{timestamp}` (README, "Webhooks from form tools").

use serde::Deserialize;

/// The built-in signature schemes, each a named template (README, "Signatures").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HmacFormat {
    /// `{body}`, the whole header (after any prefix) is the signature.
    Plain,
    /// `t=<unix>,v1=<sig>` in the header, over `{timestamp}.{body}` (Stripe-style).
    Timestamped,
    /// Webflow: a millisecond timestamp header, over `{timestamp}:{body}`.
    Webflow,
}

/// How the signature header is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureLayout {
    /// The whole value, after `signature_prefix`, is the signature.
    Whole,
    /// `t=<timestamp>,v1=<sig>[,v1=<sig>…]`.
    Parts,
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
        parts.push(match &rest[open + 1..open + close] {
            "method" => SignedPart::Method,
            "url" => SignedPart::Url,
            "path" => SignedPart::Path,
            "body" => SignedPart::Body,
            "timestamp" => SignedPart::Timestamp,
            other => anyhow::bail!(
                "{key}: `{{{other}}}` is not one of {{method}}, {{url}}, {{path}}, {{body}}, {{timestamp}}"
            ),
        });
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
