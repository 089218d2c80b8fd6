//! Typed settings: shipped defaults → `--config FILE` (or `config/local.toml`) →
//! `TALK_RELAY__SECTION__KEY` environment variables, checked once at start-up.

mod hooks;
mod sessions;

pub use hooks::{
    GenericPointers, HmacAuth, HmacFormat, HookAuth, HookConfig, Preset, SignatureEncoding, SignatureLayout,
    SignedPart, TimestampSource, TimestampUnit, HTML_FIELD,
};

use crate::domain::PersonFieldId;
use anyhow::Context;
use hooks::{check_hook, RawHook};
use secrecy::SecretString;
use serde::Deserialize;
use sessions::{check_sessions, RawSessions};
pub use sessions::{SessionConfig, SiteKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The shipped defaults, embedded so the binary runs from any directory.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");
const ENV_PREFIX: &str = "TALK_RELAY";

/// Where settings come from, in increasing priority.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources {
    /// `--config FILE`; without it `config/local.toml` is used when present.
    pub file: Option<PathBuf>,
    /// Extra TOML texts layered after the file, in order (tests use them).
    pub overlays: Vec<String>,
    /// Whether `TALK_RELAY__…` environment variables and secret variables are read.
    pub read_env: bool,
    /// Secret variables given directly (tests), consulted before the environment.
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header trusted proxies name the client in: `x-forwarded-for`, `forwarded`,
    /// `x-real-ip`, or a CDN's own (`cf-connecting-ip`, `true-client-ip`, …).
    pub client_ip_header: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// A request body that has not arrived in full within this long gets 408.
    pub body_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter such as `info` or `talk_relay=debug`; `RUST_LOG` overrides it.
    pub filter: String,
    /// JSON lines instead of plain text.
    pub json: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    pub retention_days: u32,
    /// How often the retention purge runs (daily by default).
    pub purge_interval_ms: u64,
    /// `full` (default): every commit survives power loss. `normal`: survives a crash of the
    /// relay, not of the machine; faster.
    pub synchronous: Durability,
    /// Below this much free space on the database's filesystem, intake answers 503.
    pub min_free_mb: u64,
    /// The WAL is checkpointed and truncated whenever it grows past this.
    pub max_wal_mb: u64,
    /// How long a write waits for SQLite's lock (held by another process) before failing.
    pub busy_timeout_ms: u64,
    /// `/readyz` writes its heartbeat at most this often.
    pub readiness_probe_ms: u64,
    /// Fault injection for tests: caps the database at this many pages (0 = no cap).
    pub max_page_count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Full,
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminSettings {
    token_env: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Default,
    Au,
    Eu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Campaigns,
    Pro,
    Business,
    Enterprise,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrttoSettings {
    pub region: Region,
    pub base_url: String,
    pub api_key_env: String,
    pub plan: Plan,
    /// Explicit outbound quotas, overriding the plan's (0 = the plan's).
    pub requests_per_10s: u32,
    pub requests_per_60s: u32,
    /// Whether the outbound limiter is on at all (benchmarks against a fake Ortto turn it off).
    pub limit_outbound: bool,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
}

impl Plan {
    /// Ortto's documented limits: requests per 10 s and per 60 s.
    pub fn quotas(self) -> (u32, u32) {
        match self {
            Self::Free => (20, 60),
            Self::Campaigns => (100, 300),
            Self::Pro => (200, 600),
            Self::Business | Self::Enterprise => (600, 1800),
        }
    }
}

impl OrttoSettings {
    pub fn base_url(&self) -> String {
        if !self.base_url.is_empty() {
            return self.base_url.trim_end_matches('/').to_owned();
        }
        match self.region {
            Region::Default => "https://api.ap3api.com",
            Region::Au => "https://api.au.ap3api.com",
            Region::Eu => "https://api.eu.ap3api.com",
        }
        .to_owned()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    pub concurrency: usize,
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
    pub max_attempts: u32,
    pub max_age_hours: u64,
    pub lease_ms: u64,
    pub auth_pause_ms: u64,
    pub poll_interval_ms: u64,
    /// On shutdown, how long in-flight deliveries may finish before their rows are released.
    pub shutdown_grace_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub max_message_chars: usize,
    /// Submitted values (all fields, repeated keys counted) per request.
    pub max_fields: usize,
    pub max_field_name_chars: usize,
    pub max_value_chars: usize,
    /// Nesting of JSON objects and arrays.
    pub max_json_depth: usize,
}

/// One keyed rate limit: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub enabled: bool,
    pub burst: u32,
    pub per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    /// How often idle keys are dropped, so an IP-rotating flood cannot grow memory.
    pub prune_interval_ms: u64,
    pub form_per_ip: RateLimit,
    pub form: RateLimit,
    pub session_per_ip: RateLimit,
    pub hook_per_ip: RateLimit,
    /// IPv6 clients are rate-limited per network of this prefix length.
    pub ipv6_prefix: u8,
}

/// Which CAPTCHA service a form uses; each has its own token field and siteverify URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptchaProvider {
    Turnstile,
    Hcaptcha,
    Recaptcha,
}

impl CaptchaProvider {
    pub fn token_field(self) -> &'static str {
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
struct RawCaptcha {
    provider: CaptchaProvider,
    secret_env: String,
    verify_url: Option<String>,
    #[serde(default = "default_captcha_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_unreachable")]
    on_unreachable: CaptchaUnreachable,
}

fn default_captcha_timeout() -> u64 {
    3000
}

fn default_unreachable() -> CaptchaUnreachable {
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

/// What an unticked (or absent) consent box means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncheckedConsent {
    /// Send `bol::p = false`: the person is opted out.
    OptOut,
    /// Send no permission at all: whatever Ortto has stays.
    Leave,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsent {
    field: String,
    unchecked: Option<UncheckedConsent>,
    /// More values that mean a ticked box (a vendor's option text, say), on top of the defaults.
    #[serde(default)]
    ticked: Vec<String>,
    /// More values that mean an unticked box.
    #[serde(default)]
    unticked: Vec<String>,
    opted_in_context: Option<String>,
    opted_out_context: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawForm {
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
}

fn default_honeypot() -> String {
    "_gotcha".to_owned()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    server: ServerSettings,
    log: LogSettings,
    database: DatabaseSettings,
    ortto: OrttoSettings,
    delivery: DeliverySettings,
    limits: LimitSettings,
    rate_limits: RateLimitSettings,
    #[serde(default)]
    forms: BTreeMap<String, RawForm>,
    #[serde(default)]
    hooks: BTreeMap<String, RawHook>,
    sessions: Option<RawSessions>,
    admin: AdminSettings,
}

/// How a form's consent checkbox becomes `bol::p` and `str::s-ctx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPolicy {
    pub field: String,
    pub unchecked: UncheckedConsent,
    /// Extra words for a ticked and an unticked box, trimmed and lower-cased.
    pub ticked: Vec<String>,
    pub unticked: Vec<String>,
    /// Templates with `{form}`, `{page}` and `{time}` placeholders.
    pub opted_in_context: String,
    pub opted_out_context: String,
}

/// What a consent answer says, read against the defaults and the policy's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentWord {
    Ticked,
    Unticked,
    /// A non-empty value in neither list: never taken as a no.
    Unrecognised,
}

pub const DEFAULT_TICKED: [&str; 5] = ["on", "true", "1", "yes", "checked"];
pub const DEFAULT_UNTICKED: [&str; 6] = ["off", "false", "0", "no", "unchecked", ""];

impl ConsentPolicy {
    pub fn reads(&self, value: &str) -> ConsentWord {
        let value = value.trim().to_lowercase();
        let listed = |defaults: &[&str], extra: &[String]| {
            defaults.contains(&value.as_str()) || extra.contains(&value)
        };
        if listed(&DEFAULT_TICKED, &self.ticked) {
            ConsentWord::Ticked
        } else if listed(&DEFAULT_UNTICKED, &self.unticked) {
            ConsentWord::Unticked
        } else {
            ConsentWord::Unrecognised
        }
    }

    /// Every word this policy reads as ticked, then as unticked (for `check-config`).
    pub fn words(&self) -> (Vec<String>, Vec<String>) {
        let all = |defaults: &[&str], extra: &[String]| {
            defaults
                .iter()
                .map(|w| w.to_string())
                .chain(extra.iter().cloned())
                .collect()
        };
        (
            all(&DEFAULT_TICKED, &self.ticked),
            all(&DEFAULT_UNTICKED, &self.unticked),
        )
    }
}

pub const DEFAULT_OPTED_IN_CONTEXT: &str = "Opted in via the {form} form on {page} at {time}";
pub const DEFAULT_OPTED_OUT_CONTEXT: &str = "Opted out via the {form} form on {page} at {time}";

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

/// How submitted fields become person fields, subject and messages; shared by forms
/// and hooks.
#[derive(Debug, Clone)]
pub struct MappingRules {
    pub title: String,
    pub subject: Option<String>,
    pub message_field: Option<String>,
    pub html_field: Option<String>,
    pub field_map: BTreeMap<String, PersonFieldId>,
    pub conventional_names: bool,
    pub merge_by: Vec<PersonFieldId>,
    pub default_country_code: Option<String>,
    pub consent: Option<ConsentPolicy>,
    pub max_message_chars: usize,
    /// The message written when a submission brings none (`{title}`, `{fields}`).
    pub default_message: Option<String>,
}

/// One `[forms.NAME]` table, checked.
#[derive(Debug, Clone)]
pub struct FormConfig {
    pub name: String,
    pub allowed_origins: Vec<WebOrigin>,
    /// Refuse posts that name no origin at all (neither `Origin` nor `Referer`).
    pub require_origin: bool,
    /// Accept `Origin: null` (sandboxed frames, `Referrer-Policy: no-referrer` sites) even
    /// with a list; off by default, since any site can send it.
    pub allow_null_origin: bool,
    pub redirect: Option<url::Url>,
    pub honeypot: String,
    pub captcha: Option<CaptchaConfig>,
    pub rules: MappingRules,
}

impl FormConfig {
    pub fn origin_allowed(&self, origin: &WebOrigin) -> bool {
        self.allowed_origins.is_empty() || self.allowed_origins.contains(origin)
    }
}

/// The relay's whole, validated configuration. Secrets are held as `SecretString`,
/// whose `Debug` prints `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub ortto: OrttoSettings,
    pub delivery: DeliverySettings,
    pub limits: LimitSettings,
    pub rate_limits: RateLimitSettings,
    pub forms: BTreeMap<String, FormConfig>,
    pub hooks: BTreeMap<String, HookConfig>,
    pub sessions: SessionConfig,
    pub ortto_api_key: Option<SecretString>,
    /// The admin API's bearer token; `None` turns the admin API off.
    pub admin_token: Option<SecretString>,
    /// The variable it comes from, for messages.
    pub admin_token_env: String,
}

impl Config {
    pub fn load(sources: &ConfigSources) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        match &sources.file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "config file {} does not exist", path.display());
                builder = builder.add_source(config::File::from(path.as_path()).required(true));
            }
            None => {
                let local = Path::new("config/local.toml");
                builder = builder.add_source(config::File::from(local).required(false));
            }
        }
        for overlay in &sources.overlays {
            builder = builder.add_source(config::File::from_str(overlay, config::FileFormat::Toml));
        }
        if sources.read_env {
            builder = builder.add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("forms.*.allowed_origins"),
            );
        }
        let raw: RawSettings = builder
            .build()
            .context("reading configuration")?
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let secrets = SecretSource {
            read_env: sources.read_env,
            overrides: &sources.secrets,
        };
        let api_key = secrets.get(&raw.ortto.api_key_env);
        Self::from_raw(raw, api_key, &secrets)
    }

    fn from_raw(
        raw: RawSettings,
        ortto_api_key: Option<SecretString>,
        secrets: &SecretSource<'_>,
    ) -> anyhow::Result<Self> {
        check_positive("delivery.concurrency", raw.delivery.concurrency as u64)?;
        check_positive("delivery.max_attempts", u64::from(raw.delivery.max_attempts))?;
        check_positive("delivery.lease_ms", raw.delivery.lease_ms)?;
        check_positive("server.max_body_bytes", raw.server.max_body_bytes as u64)?;
        check_positive("limits.max_message_chars", raw.limits.max_message_chars as u64)?;
        check_positive("limits.max_fields", raw.limits.max_fields as u64)?;
        check_positive(
            "limits.max_field_name_chars",
            raw.limits.max_field_name_chars as u64,
        )?;
        check_positive("limits.max_value_chars", raw.limits.max_value_chars as u64)?;
        check_positive("limits.max_json_depth", raw.limits.max_json_depth as u64)?;
        check_positive("rate_limits.prune_interval_ms", raw.rate_limits.prune_interval_ms)?;
        check_positive("database.purge_interval_ms", raw.database.purge_interval_ms)?;
        check_positive("database.max_wal_mb", raw.database.max_wal_mb)?;
        check_positive("database.busy_timeout_ms", raw.database.busy_timeout_ms)?;
        check_positive("database.readiness_probe_ms", raw.database.readiness_probe_ms)?;
        check_positive("server.body_timeout_ms", raw.server.body_timeout_ms)?;
        anyhow::ensure!(
            (1..=128).contains(&raw.rate_limits.ipv6_prefix),
            "rate_limits.ipv6_prefix: a prefix length from 1 to 128"
        );
        anyhow::ensure!(
            actix_web::http::header::HeaderName::from_bytes(raw.server.client_ip_header.as_bytes()).is_ok(),
            "server.client_ip_header: not a header name"
        );
        for (key, limit) in [
            ("rate_limits.form_per_ip", &raw.rate_limits.form_per_ip),
            ("rate_limits.form", &raw.rate_limits.form),
            ("rate_limits.session_per_ip", &raw.rate_limits.session_per_ip),
            ("rate_limits.hook_per_ip", &raw.rate_limits.hook_per_ip),
        ] {
            if limit.enabled {
                check_positive(&format!("{key}.burst"), u64::from(limit.burst))?;
                check_positive(&format!("{key}.per_minute"), u64::from(limit.per_minute))?;
            }
        }
        anyhow::ensure!(
            raw.delivery.lease_ms > raw.ortto.timeout_ms + raw.ortto.connect_timeout_ms,
            "delivery.lease_ms must exceed ortto.timeout_ms + ortto.connect_timeout_ms, \
             or a slow request could be claimed and sent twice"
        );
        anyhow::ensure!(
            raw.delivery.backoff_base_ms <= raw.delivery.backoff_cap_ms,
            "delivery.backoff_base_ms must not exceed delivery.backoff_cap_ms"
        );
        if !raw.ortto.base_url.is_empty() {
            let url = url::Url::parse(&raw.ortto.base_url)
                .map_err(|e| anyhow::anyhow!("ortto.base_url: not a URL ({e})"))?;
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https"),
                "ortto.base_url: must be an http or https URL"
            );
        }
        let forms = raw
            .forms
            .into_iter()
            .map(|(name, form)| {
                let checked = check_form(&name, form, raw.limits.max_message_chars, secrets)?;
                Ok((name, checked))
            })
            .collect::<anyhow::Result<_>>()?;
        let hooks = raw
            .hooks
            .into_iter()
            .map(|(name, hook)| {
                let checked = check_hook(&name, hook, raw.limits.max_message_chars, secrets)?;
                Ok((name, checked))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            server: raw.server,
            log: raw.log,
            database: raw.database,
            ortto: raw.ortto,
            delivery: raw.delivery,
            limits: raw.limits,
            rate_limits: raw.rate_limits,
            forms,
            hooks,
            sessions: check_sessions(raw.sessions, secrets)?,
            admin_token: secrets.get(&raw.admin.token_env),
            admin_token_env: raw.admin.token_env,
            ortto_api_key,
        })
    }

    pub fn form(&self, name: &str) -> Option<&FormConfig> {
        self.forms.get(name)
    }

    pub fn hook(&self, name: &str) -> Option<&HookConfig> {
        self.hooks.get(name)
    }

    /// The effective forms, in words, for `check-config`.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "listen: {}:{}", self.server.host, self.server.port);
        let _ = writeln!(out, "database: {}", self.database.path.display());
        let _ = writeln!(
            out,
            "ortto: {} (plan {:?}, key {})",
            self.ortto.base_url(),
            self.ortto.plan,
            if self.ortto_api_key.is_some() {
                format!("from ${}", self.ortto.api_key_env)
            } else {
                format!("not set: ${} is empty, dry run", self.ortto.api_key_env)
            }
        );
        for form in self.forms.values() {
            let _ = writeln!(
                out,
                "form {} — \"{}\" at POST /f/{}",
                form.name, form.rules.title, form.name
            );
            let origins = if form.allowed_origins.is_empty() {
                "any".to_owned()
            } else {
                form.allowed_origins
                    .iter()
                    .map(WebOrigin::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "  origins: {origins}");
            let merge: Vec<&str> = form.rules.merge_by.iter().map(PersonFieldId::as_str).collect();
            let _ = writeln!(out, "  merge_by: {}", merge.join(", "));
            for (field, id) in &form.rules.field_map {
                let _ = writeln!(out, "  field {field} → {id}");
            }
            describe_consent(&mut out, &form.rules);
        }
        for hook in self.hooks.values() {
            let _ = writeln!(
                out,
                "hook {} — {:?} preset at POST /hooks/{}, auth: {}",
                hook.name,
                hook.preset,
                hook.name,
                hook.auth.describe()
            );
            describe_consent(&mut out, &hook.rules);
        }
        out
    }
}

/// The consent field and the exact words read as yes and as no, for `check-config`.
fn describe_consent(out: &mut String, rules: &MappingRules) {
    use std::fmt::Write;
    let Some(c) = &rules.consent else {
        let _ = writeln!(out, "  consent: none (no permission field sent)");
        return;
    };
    let (ticked, unticked) = c.words();
    let quoted = |words: Vec<String>| {
        words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "  consent: field {} (unchecked: {:?})", c.field, c.unchecked);
    let _ = writeln!(out, "    ticked words: {}", quoted(ticked));
    let _ = writeln!(out, "    unticked words: {}", quoted(unticked));
    let _ = writeln!(out, "    anything else: no permission sent, noted on the row");
}

/// Where secrets come from: the process environment, or (tests) explicit values.
pub(crate) struct SecretSource<'a> {
    read_env: bool,
    overrides: &'a BTreeMap<String, String>,
}

impl SecretSource<'_> {
    /// The named variable's value; empty counts as unset.
    pub(crate) fn get(&self, var: &str) -> Option<SecretString> {
        let value = match self.overrides.get(var) {
            Some(value) => Some(value.clone()),
            None if self.read_env => std::env::var(var).ok(),
            None => None,
        };
        value
            .filter(|v| !v.trim().is_empty())
            .map(|v| SecretString::from(v.trim().to_owned()))
    }
}

pub(crate) fn check_positive(key: &str, value: u64) -> anyhow::Result<()> {
    anyhow::ensure!(value > 0, "{key} must be greater than 0");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn check_mapping(
    key: &dyn Fn(&str) -> String,
    title: String,
    subject: Option<String>,
    fields: BTreeMap<String, String>,
    merge_by: Option<Vec<String>>,
    default_country_code: Option<String>,
    consent: Option<RawConsent>,
    max_message_chars: usize,
) -> anyhow::Result<MappingRules> {
    let mut field_map = BTreeMap::new();
    for (field, id) in fields {
        let id = PersonFieldId::parse(&id)
            .map_err(|e| anyhow::anyhow!("{}: {e}", key(&format!("fields.{field}"))))?;
        anyhow::ensure!(
            !matches!(id.as_str(), "bol::p" | "str::s-ctx"),
            "{}: consent is set with a [consent] table, which also records how the person subscribed",
            key(&format!("fields.{field}"))
        );
        field_map.insert(field, id);
    }
    let merge_by = match merge_by {
        None => vec![PersonFieldId::builtin("str::email")],
        Some(ids) => {
            anyhow::ensure!(
                (1..=2).contains(&ids.len()),
                "{}: one or two field ids (main, then fallback)",
                key("merge_by")
            );
            ids.iter()
                .map(|id| PersonFieldId::parse(id).map_err(|e| anyhow::anyhow!("{}: {e}", key("merge_by"))))
                .collect::<anyhow::Result<_>>()?
        }
    };
    let default_country_code = default_country_code
        .map(|c| {
            let digits = c.trim().trim_start_matches('+').to_owned();
            anyhow::ensure!(
                (1..=3).contains(&digits.len()) && digits.chars().all(|d| d.is_ascii_digit()),
                "{}: `{c}` is not a country calling code like 61 or 44",
                key("default_country_code")
            );
            Ok(digits)
        })
        .transpose()?;
    let consent = consent
        .map(|c| {
            let unchecked = c.unchecked.ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: a consent field must say what an unticked box means: \
                     `opt_out` (send bol::p = false) or `leave` (send no permission). \
                     Without it Ortto's default would opt people in who did not tick the box",
                    key("consent.unchecked")
                )
            })?;
            anyhow::ensure!(
                !c.field.trim().is_empty(),
                "{}: names the checkbox field",
                key("consent.field")
            );
            let words = |list: Vec<String>| list.iter().map(|w| w.trim().to_lowercase()).collect::<Vec<_>>();
            let (ticked, unticked) = (words(c.ticked), words(c.unticked));
            if let Some(both) = ticked.iter().find(|w| unticked.contains(w)) {
                anyhow::bail!(
                    "{}: `{both}` is listed as both ticked and unticked",
                    key("consent")
                );
            }
            Ok(ConsentPolicy {
                field: c.field,
                unchecked,
                ticked,
                unticked,
                opted_in_context: c
                    .opted_in_context
                    .unwrap_or_else(|| DEFAULT_OPTED_IN_CONTEXT.to_owned()),
                opted_out_context: c
                    .opted_out_context
                    .unwrap_or_else(|| DEFAULT_OPTED_OUT_CONTEXT.to_owned()),
            })
        })
        .transpose()?;
    Ok(MappingRules {
        title,
        subject: subject.filter(|s| !s.trim().is_empty()),
        message_field: None,
        html_field: None,
        field_map,
        conventional_names: true,
        merge_by,
        default_country_code,
        consent,
        max_message_chars,
        default_message: None,
    })
}

/// Form and hook names appear in URLs: letters, digits, `-` and `_` only.
/// A `default_message` template: non-blank, and only the placeholders it knows.
pub(crate) fn check_default_message(key: &str, template: Option<String>) -> anyhow::Result<Option<String>> {
    let Some(template) = template else {
        return Ok(None);
    };
    anyhow::ensure!(!template.trim().is_empty(), "{key}: the template is blank");
    let unknown = template
        .replace("{title}", "")
        .replace("{fields}", "")
        .contains(['{', '}']);
    anyhow::ensure!(!unknown, "{key}: only {{title}} and {{fields}} can be filled in");
    Ok(Some(template))
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

fn check_form(
    name: &str,
    raw: RawForm,
    max_message_chars: usize,
    secrets: &SecretSource<'_>,
) -> anyhow::Result<FormConfig> {
    let key = |k: &str| format!("forms.{name}.{k}");
    check_url_name("forms", name)?;
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
    let mut rules = check_mapping(
        &key,
        raw.title.unwrap_or_else(|| name.to_owned()),
        raw.subject,
        raw.fields,
        raw.merge_by,
        raw.default_country_code,
        raw.consent,
        max_message_chars,
    )?;
    rules.message_field = raw.message_field;
    rules.html_field = raw.html_field;
    rules.conventional_names = raw.conventional_names;
    rules.default_message = check_default_message(&key("default_message"), raw.default_message)?;
    let captcha = raw
        .captcha
        .map(|c| {
            let secret = secrets.get(&c.secret_env).ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: the environment variable `{}` holding the CAPTCHA secret is not set",
                    key("captcha.secret_env"),
                    c.secret_env
                )
            })?;
            let verify_url = c
                .verify_url
                .unwrap_or_else(|| c.provider.default_verify_url().to_owned());
            url::Url::parse(&verify_url)
                .map_err(|e| anyhow::anyhow!("{}: not a URL ({e})", key("captcha.verify_url")))?;
            check_positive(&key("captcha.timeout_ms"), c.timeout_ms)?;
            Ok::<_, anyhow::Error>(CaptchaConfig {
                provider: c.provider,
                secret,
                verify_url,
                timeout_ms: c.timeout_ms,
                on_unreachable: c.on_unreachable,
            })
        })
        .transpose()?;
    Ok(FormConfig {
        name: name.to_owned(),
        allowed_origins,
        require_origin: raw.require_origin,
        allow_null_origin: raw.allow_null_origin,
        redirect,
        honeypot: raw.honeypot,
        captcha,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(overlay: &str) -> anyhow::Result<Config> {
        Config::load(&ConfigSources {
            file: None,
            overlays: vec![overlay.to_owned()],
            read_env: false,
            secrets: BTreeMap::new(),
        })
    }

    #[test]
    fn shipped_defaults_load_with_a_demo_form() {
        let config = load("").unwrap();
        assert!(config.form("demo").is_some());
        assert_eq!(config.ortto.base_url(), "https://api.ap3api.com");
    }

    #[test]
    fn consent_without_an_unchecked_policy_is_refused_naming_the_key() {
        let err = load("[forms.demo.consent]\nfield = \"subscribe\"\n").unwrap_err();
        assert!(err.to_string().contains("forms.demo.consent.unchecked"), "{err}");
    }

    #[test]
    fn a_bad_field_id_names_its_key() {
        let err = load("[forms.demo.fields]\ncompany = \"company\"\n").unwrap_err();
        assert!(err.to_string().contains("forms.demo.fields.company"), "{err}");
    }

    #[test]
    fn regions_pick_their_hosts() {
        let config = load("[ortto]\nregion = \"eu\"\n").unwrap();
        assert_eq!(config.ortto.base_url(), "https://api.eu.ap3api.com");
    }
}
