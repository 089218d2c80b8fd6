//! `[hooks.NAME]`: third-party webhooks, each authenticated and mapped like a form.

use super::hook_auth::hmac_auth;
use super::signatures::{HmacAuth, HmacFormat, SecretEncoding, TimestampUnit};
use super::{check_mapping, mapping_input, MappingRules, RawConsent, SecretSource};
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
    pub(super) preset: Preset,
    title: Option<String>,
    auth: Option<AuthKind>,
    secret_env: Option<String>,
    pub(super) signature_header: Option<String>,
    pub(super) signature_encoding: Option<SignatureEncoding>,
    pub(super) signature_prefix: Option<String>,
    pub(super) signature_format: Option<HmacFormat>,
    /// How the secret becomes the key: `raw`, `base64` or `whsec`.
    pub(super) secret_encoding: Option<SecretEncoding>,
    /// The signed bytes as a template: `{method}`, `{url}`, `{path}`, `{body}`, `{timestamp}`,
    /// `{id}`, `{header:NAME}`.
    pub(super) signed: Option<String>,
    /// The header carrying `{id}`, the sender's message id.
    pub(super) id_header: Option<String>,
    /// The URL exactly as registered with the sender, for `{url}` (default: as requested).
    pub(super) signed_url: Option<String>,
    pub(super) timestamp_header: Option<String>,
    pub(super) timestamp_unit: Option<TimestampUnit>,
    pub(super) tolerance_secs: Option<u64>,
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
