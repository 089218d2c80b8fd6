//! `auth = "hmac"` for a hook: the vendor's documented signature (its preset), the named
//! formats as templates, and the hook's own keys over both (docs/webhooks.md).

use super::check_positive;
use super::hooks::{Preset, RawHook, SignatureEncoding};
use super::signatures::{
    parse_signed, HmacAuth, HmacFormat, SecretEncoding, SignatureLayout, SignedPart, TimestampSource,
    TimestampUnit,
};
use secrecy::SecretString;

/// A vendor's documented signature, used where the hook does not say otherwise.
#[derive(Debug, Clone, Copy)]
struct PresetSignature {
    header: &'static str,
    encoding: SignatureEncoding,
    prefix: Option<&'static str>,
    format: HmacFormat,
}

/// The vendor's documented signature, when the hook does not say otherwise.
fn preset_hmac(preset: Preset) -> Option<PresetSignature> {
    let signature = |header, encoding, prefix, format| {
        Some(PresetSignature {
            header,
            encoding,
            prefix,
            format,
        })
    };
    match preset {
        Preset::Typeform => signature(
            "Typeform-Signature",
            SignatureEncoding::Base64,
            Some("sha256="),
            HmacFormat::Plain,
        ),
        Preset::Tally => signature(
            "Tally-Signature",
            SignatureEncoding::Base64,
            None,
            HmacFormat::Plain,
        ),
        Preset::Webflow => signature(
            "x-webflow-signature",
            SignatureEncoding::Hex,
            None,
            HmacFormat::Webflow,
        ),
        Preset::StandardWebhooks => signature(
            "webhook-signature",
            SignatureEncoding::Base64,
            None,
            HmacFormat::StandardWebhooks,
        ),
        Preset::Jotform | Preset::Generic => None,
    }
}

/// The named formats as templates: how the header is laid out, what is signed, where the
/// timestamp and the id are, and how the secret is read.
struct FormatDefaults {
    layout: SignatureLayout,
    template: &'static str,
    timestamp_header: Option<&'static str>,
    unit: TimestampUnit,
    id_header: Option<&'static str>,
    secret_encoding: SecretEncoding,
    encoding: SignatureEncoding,
}

fn format_defaults(format: HmacFormat) -> FormatDefaults {
    let plain = FormatDefaults {
        layout: SignatureLayout::Whole,
        template: "{body}",
        timestamp_header: None,
        unit: TimestampUnit::S,
        id_header: None,
        secret_encoding: SecretEncoding::Raw,
        encoding: SignatureEncoding::Hex,
    };
    match format {
        HmacFormat::Plain => plain,
        HmacFormat::Timestamped => FormatDefaults {
            layout: SignatureLayout::Parts,
            template: "{timestamp}.{body}",
            ..plain
        },
        HmacFormat::Webflow => FormatDefaults {
            template: "{timestamp}:{body}",
            timestamp_header: Some("x-webflow-timestamp"),
            unit: TimestampUnit::Ms,
            ..plain
        },
        HmacFormat::StandardWebhooks => FormatDefaults {
            layout: SignatureLayout::Versioned,
            template: "{id}.{timestamp}.{body}",
            timestamp_header: Some("webhook-timestamp"),
            id_header: Some("webhook-id"),
            secret_encoding: SecretEncoding::Whsec,
            encoding: SignatureEncoding::Base64,
            ..plain
        },
    }
}

/// `auth = "hmac"`: the header, the signed bytes and the key, from the hook's keys, else its
/// format's, else its preset's.
pub(super) fn hmac_auth(
    key: &dyn Fn(&str) -> String,
    raw: &RawHook,
    secret: SecretString,
    public_url: Option<&url::Url>,
) -> anyhow::Result<HmacAuth> {
    let preset = preset_hmac(raw.preset);
    let header = raw
        .signature_header
        .clone()
        .or(preset.map(|p| p.header.to_owned()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{}: names the header that carries the signature",
                key("signature_header")
            )
        })?;
    let format = raw
        .signature_format
        .or(preset.map(|p| p.format))
        .unwrap_or(HmacFormat::Plain);
    let defaults = format_defaults(format);
    let signed = parse_signed(&key("signed"), raw.signed.as_deref().unwrap_or(defaults.template))?;
    let (timestamp, id_header) = signed_headers(key, raw, &defaults, &signed)?;
    // `{url}` is the address the sender was given: configured, never a client's Host header.
    if let Some(url) = &raw.signed_url {
        url::Url::parse(url).map_err(|e| anyhow::anyhow!("{}: not a URL ({e})", key("signed_url")))?;
    }
    anyhow::ensure!(
        !signed.contains(&SignedPart::Url) || raw.signed_url.is_some() || public_url.is_some(),
        "{}: the signed bytes include {{url}}: set server.public_url (the relay's address as \
         senders reach it) or this hook's signed_url, so that no client's Host header decides it",
        key("signed_url")
    );
    let tolerance_secs = raw.tolerance_secs.unwrap_or(300);
    check_positive(&key("tolerance_secs"), tolerance_secs)?;
    let secret_encoding = raw.secret_encoding.unwrap_or(defaults.secret_encoding);
    Ok(HmacAuth {
        key: secret_encoding.key(&key("secret_env"), &secret)?,
        secret_encoding,
        header,
        encoding: raw
            .signature_encoding
            .or(preset.map(|p| p.encoding))
            .unwrap_or(defaults.encoding),
        prefix: raw
            .signature_prefix
            .clone()
            .or(preset.and_then(|p| p.prefix.map(str::to_owned))),
        layout: defaults.layout,
        signed,
        timestamp,
        tolerance_secs,
        signed_url: raw.signed_url.clone(),
        id_header,
    })
}

/// Where the signed `{timestamp}` and `{id}` come from, when the signed bytes name them.
fn signed_headers(
    key: &dyn Fn(&str) -> String,
    raw: &RawHook,
    defaults: &FormatDefaults,
    signed: &[SignedPart],
) -> anyhow::Result<(Option<TimestampSource>, Option<String>)> {
    let timestamp = signed.contains(&SignedPart::Timestamp).then(|| TimestampSource {
        header: raw
            .timestamp_header
            .clone()
            .or(defaults.timestamp_header.map(str::to_owned)),
        unit: raw.timestamp_unit.unwrap_or(defaults.unit),
    });
    anyhow::ensure!(
        timestamp
            .as_ref()
            .is_none_or(|t| t.header.is_some() || defaults.layout == SignatureLayout::Parts),
        "{}: the signed bytes include {{timestamp}}: name the header that carries it",
        key("timestamp_header")
    );
    let id_header = signed
        .contains(&SignedPart::Id)
        .then(|| raw.id_header.clone().or(defaults.id_header.map(str::to_owned)))
        .flatten()
        .map(|h| h.to_ascii_lowercase());
    anyhow::ensure!(
        !signed.contains(&SignedPart::Id) || id_header.is_some(),
        "{}: the signed bytes include {{id}}: name the header that carries it",
        key("id_header")
    );
    Ok((timestamp, id_header))
}
