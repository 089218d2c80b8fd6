//! `[hooks.NAME]`: third-party webhooks, each authenticated and mapped like a form.

use super::signatures::{
    parse_signed, HmacAuth, HmacFormat, SecretEncoding, SignatureLayout, SignedPart, TimestampSource,
    TimestampUnit,
};
use super::{check_mapping, check_positive, mapping_input, MappingRules, RawConsent, SecretSource};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where a hook's HTML message goes among the normalised fields.
pub const HTML_FIELD: &str = "message_html";

/// Which vendor's payload and signature a hook reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Typeform,
    Tally,
    Webflow,
    Jotform,
    Generic,
    /// A Standard Webhooks (Svix) sender: its signature, and the payload read as `generic`.
    #[serde(rename = "standard-webhooks")]
    StandardWebhooks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AuthKind {
    Hmac,
    Token,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    Hex,
    Base64,
}

/// Where in a generic payload each part is: RFC 6901 pointers for JSON bodies, field
/// names for urlencoded ones.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericPointers {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub phone: Option<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub html_message: Option<String>,
    pub consent: Option<String>,
    pub idempotency_key: Option<String>,
    /// More values to show agents, as `label: value` lines.
    #[serde(default)]
    pub extras: Vec<String>,
}

impl GenericPointers {
    /// No pointer at all: the payload is read by conventional names, as a form is.
    pub fn is_empty(&self) -> bool {
        [
            &self.email,
            &self.first_name,
            &self.last_name,
            &self.full_name,
            &self.phone,
            &self.subject,
            &self.message,
            &self.html_message,
            &self.consent,
            &self.idempotency_key,
        ]
        .iter()
        .all(|p| p.is_none())
            && self.extras.is_empty()
    }
}

/// `batch = true` (the body is the array) or a pointer to the array inside it.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawBatch {
    Whole(bool),
    At(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHook {
    preset: Preset,
    title: Option<String>,
    auth: Option<AuthKind>,
    secret_env: Option<String>,
    signature_header: Option<String>,
    signature_encoding: Option<SignatureEncoding>,
    signature_prefix: Option<String>,
    signature_format: Option<HmacFormat>,
    /// How the secret becomes the key: `raw`, `base64` or `whsec`.
    secret_encoding: Option<SecretEncoding>,
    /// The signed bytes as a template: `{method}`, `{url}`, `{path}`, `{body}`, `{timestamp}`,
    /// `{id}`, `{header:NAME}`.
    signed: Option<String>,
    /// The header carrying `{id}`, the sender's message id.
    id_header: Option<String>,
    /// The URL exactly as registered with the sender, for `{url}` (default: as requested).
    signed_url: Option<String>,
    timestamp_header: Option<String>,
    timestamp_unit: Option<TimestampUnit>,
    tolerance_secs: Option<u64>,
    token_header: Option<String>,
    subject: Option<String>,
    /// Preset tuning: the question (ref, label, key or name) that holds the message.
    message: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    merge_by: Option<Vec<String>>,
    default_country_code: Option<String>,
    default_message: Option<String>,
    consent: Option<RawConsent>,
    pointers: Option<GenericPointers>,
    /// Events to take: pointer (or field) → the values that pass; others are ignored.
    #[serde(default)]
    accept: BTreeMap<String, Vec<String>>,
    batch: Option<RawBatch>,
}

#[derive(Debug, Clone)]
pub enum HookAuth {
    Hmac(HmacAuth),
    /// A shared token in `?token=` or in `header`.
    Token {
        secret: SecretString,
        header: Option<String>,
    },
    /// Explicitly unauthenticated (`auth = "none"`).
    None,
}

impl HookAuth {
    pub fn describe(&self) -> String {
        match self {
            Self::Hmac(h) => h.describe(),
            Self::Token { header: Some(h), .. } => format!("token in ?token= or {h}"),
            Self::Token { header: None, .. } => "token in ?token=".to_owned(),
            Self::None => "NONE (explicitly unauthenticated)".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HookConfig {
    pub name: String,
    pub preset: Preset,
    pub auth: HookAuth,
    /// Preset tuning: which question is the message.
    pub message: Option<String>,
    pub pointers: GenericPointers,
    pub rules: MappingRules,
    /// `[hooks.NAME.accept]`: pointer (or field) → the values that pass.
    pub accept: BTreeMap<String, Vec<String>>,
    /// Where the batch array is (`""` for the whole body); `None` for one event per call.
    pub batch: Option<String>,
}

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
}

fn format_defaults(format: HmacFormat) -> FormatDefaults {
    let plain = FormatDefaults {
        layout: SignatureLayout::Whole,
        template: "{body}",
        timestamp_header: None,
        unit: TimestampUnit::S,
        id_header: None,
        secret_encoding: SecretEncoding::Raw,
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
            ..plain
        },
    }
}

/// `auth = "hmac"`: the header, the signed bytes and the key, from the hook's keys, else its
/// format's, else its preset's.
fn hmac_auth(
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
            .unwrap_or(match format {
                HmacFormat::StandardWebhooks => SignatureEncoding::Base64,
                _ => SignatureEncoding::Hex,
            }),
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

/// `batch`: where the array of events is (`""` for the whole body), or `None` for one event.
fn check_batch(key: &dyn Fn(&str) -> String, batch: Option<RawBatch>) -> anyhow::Result<Option<String>> {
    Ok(match batch {
        None | Some(RawBatch::Whole(false)) => None,
        Some(RawBatch::Whole(true)) => Some(String::new()),
        Some(RawBatch::At(pointer)) => {
            anyhow::ensure!(
                pointer.is_empty() || pointer.starts_with('/'),
                "{}: a JSON pointer such as \"/events\", or true for a body that is the array",
                key("batch")
            );
            Some(pointer)
        }
    })
}

pub(crate) fn check_hook(
    name: &str,
    raw: RawHook,
    max_message_chars: usize,
    secrets: &SecretSource<'_>,
    public_url: Option<&url::Url>,
) -> anyhow::Result<HookConfig> {
    let key = |k: &str| format!("hooks.{name}.{k}");
    super::check_url_name("hooks", name)?;
    let default_auth = match raw.preset {
        Preset::Typeform | Preset::Tally | Preset::Webflow | Preset::StandardWebhooks => Some(AuthKind::Hmac),
        Preset::Jotform => Some(AuthKind::Token),
        Preset::Generic => None,
    };
    let kind = raw.auth.or(default_auth).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: a generic hook must say how senders prove who they are: `hmac` or `token` \
             (or `none`, explicitly, to accept anyone)",
            key("auth")
        )
    })?;
    let secret = || -> anyhow::Result<SecretString> {
        let var = raw.secret_env.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "{}: names the environment variable that holds the hook's secret",
                key("secret_env")
            )
        })?;
        secrets.require(var, &key("secret_env"))
    };
    let auth = match kind {
        AuthKind::None => HookAuth::None,
        AuthKind::Token => HookAuth::Token {
            secret: secret()?,
            header: raw.token_header.clone(),
        },
        AuthKind::Hmac => HookAuth::Hmac(hmac_auth(&key, &raw, secret()?, public_url)?),
    };
    let pointers = raw.pointers.unwrap_or_default();
    let batch = check_batch(&key, raw.batch.clone())?;
    for (pointer, values) in &raw.accept {
        anyhow::ensure!(
            !values.is_empty(),
            "{}: lists the values to take",
            key(&format!("accept.\"{pointer}\""))
        );
    }
    let mut rules = check_mapping(&key, mapping_input!(raw, name), max_message_chars)?;
    rules.html_field = Some(HTML_FIELD.to_owned());
    Ok(HookConfig {
        name: name.to_owned(),
        preset: raw.preset,
        auth,
        message: raw.message,
        pointers,
        rules,
        accept: raw.accept,
        batch,
    })
}
