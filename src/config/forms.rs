//! `[forms.NAME]`: origins, redirects, honeypot and CAPTCHA, checked into a `FormConfig`.

use super::{check_mapping, check_positive, mapping_input, MappingRules, RawConsent, SecretSource};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Which CAPTCHA service a form uses; each has its own token field and siteverify URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptchaProvider {
    Turnstile,
    Hcaptcha,
    Recaptcha,
}

/// CAPTCHA widgets' token fields: verified by the guard, never data, never recorded.
pub const CAPTCHA_FIELDS: &[&str] = &[
    CaptchaProvider::Turnstile.token_field(),
    CaptchaProvider::Hcaptcha.token_field(),
    CaptchaProvider::Recaptcha.token_field(),
];

impl CaptchaProvider {
    pub const fn token_field(self) -> &'static str {
        match self {
            Self::Turnstile => "cf-turnstile-response",
            Self::Hcaptcha => "h-captcha-response",
            Self::Recaptcha => "g-recaptcha-response",
        }
    }

    fn default_verify_url(self) -> &'static str {
        match self {
            Self::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            Self::Hcaptcha => "https://api.hcaptcha.com/siteverify",
            Self::Recaptcha => "https://www.google.com/recaptcha/api/siteverify",
        }
    }
}

/// What to do when the CAPTCHA provider cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptchaUnreachable {
    /// Answer 503: the person tries again in a moment.
    Refuse,
    /// Take the submission, marked `captcha = 'unverified'`.
    Accept,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCaptcha {
    provider: CaptchaProvider,
    secret_env: String,
    verify_url: Option<String>,
    #[serde(default = "default_captcha_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_unreachable")]
    on_unreachable: CaptchaUnreachable,
}

pub(crate) fn default_captcha_timeout() -> u64 {
    3000
}

pub(crate) fn default_unreachable() -> CaptchaUnreachable {
    CaptchaUnreachable::Refuse
}

/// A form's CAPTCHA check, with its secret read from the environment at start-up.
#[derive(Debug, Clone)]
pub struct CaptchaConfig {
    pub provider: CaptchaProvider,
    pub secret: SecretString,
    pub verify_url: String,
    pub timeout_ms: u64,
    pub on_unreachable: CaptchaUnreachable,
}

/// `forms.NAME.enabled`: `true`, `false`, or `"dry_run"` (only while the relay has no
/// Ortto key, as the shipped `demo` form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum RawEnabled {
    Always(bool),
    When(EnabledWhen),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum EnabledWhen {
    DryRun,
}

/// Whether a form takes posts, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormSwitch {
    On,
    /// `enabled = false`.
    Off,
    /// `enabled = "dry_run"` while an Ortto key is set.
    OffOutsideDryRun,
}

impl FormSwitch {
    pub fn is_on(self) -> bool {
        self == Self::On
    }

    /// For `check-config` and the start-up log.
    pub fn describe(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "OFF (enabled = false): posts get 403 INACTIVE",
            Self::OffOutsideDryRun => {
                "OFF: enabled = \"dry_run\" and an Ortto key is set, so posts get 403 INACTIVE \
                 (set enabled = true to take posts)"
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForm {
    enabled: Option<RawEnabled>,
    title: Option<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    redirect: Option<String>,
    subject: Option<String>,
    message_field: Option<String>,
    html_field: Option<String>,
    #[serde(default = "default_honeypot")]
    honeypot: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    conventional_names: bool,
    merge_by: Option<Vec<String>>,
    default_country_code: Option<String>,
    default_message: Option<String>,
    consent: Option<RawConsent>,
    #[serde(default)]
    require_origin: bool,
    #[serde(default)]
    allow_null_origin: bool,
    captcha: Option<RawCaptcha>,
    lang: Option<String>,
    #[serde(default)]
    spam: super::spam::RawSpam,
    files: Option<super::files::RawFormFiles>,
}

pub(crate) fn default_honeypot() -> String {
    "_gotcha".to_owned()
}

pub(crate) fn default_true() -> bool {
    true
}

/// A web origin, serialised as `scheme://host[:port]` with default ports dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebOrigin(String);

impl WebOrigin {
    pub fn parse(raw: &str) -> Option<Self> {
        let url = url::Url::parse(raw.trim()).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return None;
        }
        Some(Self(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One `[forms.NAME]` table, checked.
#[derive(Debug, Clone)]
pub struct FormConfig {
    pub name: String,
    /// `enabled`, resolved against whether the relay runs dry.
    pub switch: FormSwitch,
    pub allowed_origins: Vec<WebOrigin>,
    /// Refuse posts that name no origin at all (neither `Origin` nor `Referer`).
    pub require_origin: bool,
    /// Accept `Origin: null` (sandboxed frames, `Referrer-Policy: no-referrer` sites) even
    /// with a list; off by default, since any site can send it.
    pub allow_null_origin: bool,
    pub redirect: Option<url::Url>,
    pub honeypot: String,
    pub captcha: Option<CaptchaConfig>,
    /// `[forms.NAME.spam]` (docs/spam.md).
    pub spam: super::spam::SpamSettings,
    /// `[forms.NAME.files]` (docs/files.md); `None`: file parts are refused.
    pub files: Option<super::files::FormFiles>,
    pub rules: MappingRules,
    /// The words on this form's pages (`forms.NAME.lang`, else `pages.lang`).
    pub lang: &'static crate::pages::Strings,
}

impl FormConfig {
    pub fn origin_allowed(&self, origin: &WebOrigin) -> bool {
        self.allowed_origins.is_empty() || self.allowed_origins.contains(origin)
    }
}

pub(crate) fn check_url_name(table: &str, name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    anyhow::ensure!(
        ok,
        "{table}.{name}: names may hold only letters, digits, `-` and `_` (they appear in URLs)"
    );
    Ok(())
}

/// A list of origins like `https://www.example.com`, each checked.
pub(crate) fn parse_origins(key: &str, origins: &[String]) -> anyhow::Result<Vec<WebOrigin>> {
    origins
        .iter()
        .map(|o| {
            WebOrigin::parse(o)
                .ok_or_else(|| anyhow::anyhow!("{key}: `{o}` is not an origin like https://www.example.com"))
        })
        .collect()
}

/// `[forms.NAME.captcha]`: the secret from the environment, the siteverify URL, the timeout.
fn check_captcha(
    key: &dyn Fn(&str) -> String,
    c: RawCaptcha,
    secrets: &SecretSource<'_>,
) -> anyhow::Result<CaptchaConfig> {
    let secret = secrets.require(&c.secret_env, &key("captcha.secret_env"))?;
    let verify_url = c
        .verify_url
        .unwrap_or_else(|| c.provider.default_verify_url().to_owned());
    url::Url::parse(&verify_url)
        .map_err(|e| anyhow::anyhow!("{}: not a URL ({e})", key("captcha.verify_url")))?;
    check_positive(&key("captcha.timeout_ms"), c.timeout_ms)?;
    Ok(CaptchaConfig {
        provider: c.provider,
        secret,
        verify_url,
        timeout_ms: c.timeout_ms,
        on_unreachable: c.on_unreachable,
    })
}

pub(crate) fn check_form(
    name: &str,
    raw: RawForm,
    max_message_chars: usize,
    site_lang: &'static crate::pages::Strings,
    secrets: &SecretSource<'_>,
    dry_run: bool,
) -> anyhow::Result<FormConfig> {
    let key = |k: &str| format!("forms.{name}.{k}");
    check_url_name("forms", name)?;
    let lang = match &raw.lang {
        None => site_lang,
        Some(code) => crate::pages::for_lang(code).ok_or_else(|| {
            anyhow::anyhow!("{}: `{code}` is not a built-in language (en, de)", key("lang"))
        })?,
    };
    let allowed_origins = parse_origins(&key("allowed_origins"), &raw.allowed_origins)?;
    let redirect = raw
        .redirect
        .filter(|r| !r.trim().is_empty())
        .map(|r| {
            url::Url::parse(&r)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| anyhow::anyhow!("{}: `{r}` is not an absolute http(s) URL", key("redirect")))
        })
        .transpose()?;
    let mut rules = check_mapping(&key, mapping_input!(raw, name), max_message_chars)?;
    rules.message_field = raw.message_field;
    rules.html_field = raw.html_field;
    rules.conventional_names = raw.conventional_names;
    let captcha = raw.captcha.map(|c| check_captcha(&key, c, secrets)).transpose()?;
    let spam = super::spam::check_spam(&key, raw.spam)?;
    let files = raw
        .files
        .map(|f| super::files::check_form_files(&key, f))
        .transpose()?;
    let switch = match raw.enabled {
        None | Some(RawEnabled::Always(true)) => FormSwitch::On,
        Some(RawEnabled::Always(false)) => FormSwitch::Off,
        Some(RawEnabled::When(EnabledWhen::DryRun)) if dry_run => FormSwitch::On,
        Some(RawEnabled::When(EnabledWhen::DryRun)) => FormSwitch::OffOutsideDryRun,
    };
    Ok(FormConfig {
        name: name.to_owned(),
        switch,
        allowed_origins,
        require_origin: raw.require_origin,
        allow_null_origin: raw.allow_null_origin,
        redirect,
        honeypot: raw.honeypot,
        captcha,
        spam,
        files,
        rules,
        lang,
    })
}
