//! Typed settings: shipped defaults → `--config FILE` (or `config/local.toml`) →
//! `TALK_RELAY__SECTION__KEY` environment variables, checked once at start-up.

mod describe;
mod files;
mod forms;
mod hook_auth;
mod hooks;
mod rules;
mod settings;
mod signatures;
mod spam;
mod talk_sessions;

use forms::{check_form, RawForm};
pub(crate) use forms::{check_url_name, parse_origins};
pub use forms::{
    CaptchaConfig, CaptchaProvider, CaptchaUnreachable, FormConfig, FormSwitch, WebOrigin, CAPTCHA_FIELDS,
};
pub(crate) use rules::{check_mapping, mapping_input, MappingInput, RawConsent};
pub use rules::{
    ConsentPolicy, ConsentWord, MappingRules, UncheckedConsent, DEFAULT_OPTED_IN_CONTEXT,
    DEFAULT_OPTED_OUT_CONTEXT, DEFAULT_TICKED, DEFAULT_UNTICKED,
};
use settings::AdminSettings;
pub use settings::{
    AlertSettings, DatabaseSettings, DatabaseTarget, DeliverySettings, Durability, LimitSettings,
    LogSettings, OrttoSettings, PagesSettings, Plan, RateLimit, RateLimitSettings, Region, RetentionSettings,
    ServerSettings, SpamFilterSettings, MB,
};

pub use hooks::{GenericPointers, HookAuth, HookConfig, Preset, SignatureEncoding, HTML_FIELD};
pub use signatures::{
    HmacAuth, HmacFormat, SecretEncoding, SignatureLayout, SignedPart, TimestampSource, TimestampUnit,
};

use anyhow::Context;
pub use files::{FilesSettings, FormFiles, LinkAuth, TYPE_GROUPS};
use hooks::{check_hook, RawHook};
use secrecy::SecretString;
use serde::Deserialize;
pub use spam::{SpamAnswer, SpamSettings, SuspectAction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use talk_sessions::{check_sessions, RawSessions};
pub use talk_sessions::{SessionConfig, SiteKey};

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
    /// For commands that never serve (`stats`, `replay`, `purge`, `erase`, `migrate`,
    /// `check-config`): a missing secret is noted in `Config::missing_secrets` instead of
    /// stopping the load. `serve` always requires every secret.
    pub lenient_secrets: bool,
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
    pages: PagesSettings,
    retention: RetentionSettings,
    spam_filter: SpamFilterSettings,
    files: FilesSettings,
    alerts: AlertSettings,
}

impl RawSettings {
    /// The plain tables' rules: values that must be positive, then the rules between keys.
    /// The keys that must be above zero (docs/configuration.md).
    fn positive_values(&self) -> [(&'static str, u64); 20] {
        let (server, database, delivery, limits, rates) = (
            &self.server,
            &self.database,
            &self.delivery,
            &self.limits,
            &self.rate_limits,
        );
        [
            ("delivery.concurrency", delivery.concurrency as u64),
            ("delivery.max_attempts", u64::from(delivery.max_attempts)),
            ("delivery.lease_ms", delivery.lease_ms),
            ("server.max_body_bytes", server.max_body_bytes as u64),
            ("server.body_timeout_ms", server.body_timeout_ms),
            ("limits.max_message_chars", limits.max_message_chars as u64),
            ("limits.max_fields", limits.max_fields as u64),
            ("limits.max_field_name_chars", limits.max_field_name_chars as u64),
            ("limits.max_value_chars", limits.max_value_chars as u64),
            ("limits.max_json_depth", limits.max_json_depth as u64),
            ("rate_limits.prune_interval_ms", rates.prune_interval_ms),
            ("database.purge_interval_ms", database.purge_interval_ms),
            ("database.max_wal_mb", database.max_wal_mb),
            ("database.busy_timeout_ms", database.busy_timeout_ms),
            ("database.readiness_probe_ms", database.readiness_probe_ms),
            ("database.pool_size", u64::from(database.pool_size)),
            ("spam_filter.timeout_ms", self.spam_filter.timeout_ms),
            ("alerts.check_interval_ms", self.alerts.check_interval_ms),
            ("alerts.queue_age_s", self.alerts.queue_age_s),
            ("alerts.retries", u64::from(self.alerts.retries)),
        ]
    }

    fn check_settings(&self) -> anyhow::Result<()> {
        for (key, value) in self.positive_values() {
            check_positive(key, value)?;
        }
        let (server, database, delivery, rates) =
            (&self.server, &self.database, &self.delivery, &self.rate_limits);
        for (key, limit) in [
            ("rate_limits.form_per_ip", &rates.form_per_ip),
            ("rate_limits.form", &rates.form),
            ("rate_limits.session_per_ip", &rates.session_per_ip),
            ("rate_limits.hook_per_ip", &rates.hook_per_ip),
        ] {
            if limit.enabled {
                check_positive(&format!("{key}.burst"), u64::from(limit.burst))?;
                check_positive(&format!("{key}.per_minute"), u64::from(limit.per_minute))?;
            }
        }
        database.target()?;
        self.files.check()?;
        server.check_public_url()?;
        self.ortto.check_base_url()?;
        let rules = [
            (
                (1..=128).contains(&rates.ipv6_prefix),
                "rate_limits.ipv6_prefix: a prefix length from 1 to 128",
            ),
            (
                actix_web::http::header::HeaderName::from_bytes(server.client_ip_header.as_bytes()).is_ok(),
                "server.client_ip_header: not a header name",
            ),
            (
                delivery.lease_ms > self.ortto.timeout_ms + self.ortto.connect_timeout_ms,
                "delivery.lease_ms must exceed ortto.timeout_ms + ortto.connect_timeout_ms, \
                 or a slow request could be claimed and sent twice",
            ),
            (
                delivery.backoff_base_ms <= delivery.backoff_cap_ms,
                "delivery.backoff_base_ms must not exceed delivery.backoff_cap_ms",
            ),
        ];
        for (holds, problem) in rules {
            anyhow::ensure!(holds, "{problem}");
        }
        Ok(())
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
    pub pages: PagesSettings,
    pub retention: RetentionSettings,
    pub spam_filter: SpamFilterSettings,
    /// `[files]` (docs/files.md).
    pub files: FilesSettings,
    /// `[alerts]` (docs/alerts.md).
    pub alerts: AlertSettings,
    /// `alerts.webhook_url_env`'s URL, when notifications are on.
    pub alerts_url: Option<SecretString>,
    pub ortto_api_key: Option<SecretString>,
    /// `spam_filter.akismet_key_env`'s key, when Akismet is on.
    pub akismet_key: Option<SecretString>,
    /// The admin API's bearer token; `None` turns the admin API off.
    pub admin_token: Option<SecretString>,
    /// The variable it comes from, for messages.
    pub admin_token_env: String,
    /// Secrets a lenient load went without (`check-config` prints them as warnings).
    pub missing_secrets: Vec<String>,
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
            lenient: sources.lenient_secrets,
            missing: Default::default(),
        };
        let api_key = secrets.get(&raw.ortto.api_key_env);
        let mut config = Self::from_raw(raw, api_key, &secrets)?;
        config.missing_secrets = secrets.missing.into_inner();
        Ok(config)
    }

    fn from_raw(
        raw: RawSettings,
        ortto_api_key: Option<SecretString>,
        secrets: &SecretSource<'_>,
    ) -> anyhow::Result<Self> {
        raw.check_settings()?;
        let site_lang = crate::pages::for_lang(&raw.pages.lang).ok_or_else(|| {
            anyhow::anyhow!(
                "pages.lang: `{}` is not a built-in language (en, de)",
                raw.pages.lang
            )
        })?;
        let (max_message_chars, dry_run) = (raw.limits.max_message_chars, ortto_api_key.is_none());
        let forms = raw
            .forms
            .into_iter()
            .map(|(name, form)| {
                let checked = check_form(&name, form, max_message_chars, site_lang, secrets, dry_run)?;
                Ok((name, checked))
            })
            .collect::<anyhow::Result<_>>()?;
        let akismet_key = match raw.spam_filter.akismet_key_env.trim() {
            "" => None,
            var => {
                anyhow::ensure!(
                    url::Url::parse(&raw.spam_filter.akismet_site).is_ok(),
                    "spam_filter.akismet_site: Akismet needs the site's address (https://www.example.com)"
                );
                Some(secrets.require(var, "spam_filter.akismet_key_env")?)
            }
        };
        let public_url = raw.server.public_url();
        let hooks = raw
            .hooks
            .into_iter()
            .map(|(name, hook)| {
                let checked = check_hook(&name, hook, max_message_chars, secrets, public_url.as_ref())?;
                Ok((name, checked))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            missing_secrets: Vec::new(),
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
            pages: raw.pages,
            retention: raw.retention,
            spam_filter: raw.spam_filter,
            alerts_url: match raw.alerts.webhook_url_env.trim() {
                "" => None,
                var => Some(secrets.require(var, "alerts.webhook_url_env")?),
            },
            alerts: raw.alerts,
            files: raw.files,
            admin_token: check_admin_token(&raw.admin.token_env, secrets.get(&raw.admin.token_env))?,
            admin_token_env: raw.admin.token_env,
            ortto_api_key,
            akismet_key,
        })
    }

    /// `pages.dir`, when set.
    pub fn pages_dir(&self) -> Option<&Path> {
        (!self.pages.dir.trim().is_empty()).then(|| Path::new(self.pages.dir.trim()))
    }

    pub fn form(&self, name: &str) -> Option<&FormConfig> {
        self.forms.get(name)
    }

    pub fn hook(&self, name: &str) -> Option<&HookConfig> {
        self.hooks.get(name)
    }
}

/// Where secrets come from: the process environment, or (tests) explicit values.
pub(crate) struct SecretSource<'a> {
    read_env: bool,
    overrides: &'a BTreeMap<String, String>,
    lenient: bool,
    missing: std::cell::RefCell<Vec<String>>,
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

    /// A secret the config needs: an error naming `key` when it is missing, or (for a
    /// command that never serves) a note and a random stand-in that matches nothing.
    pub(crate) fn require(&self, var: &str, key: &str) -> anyhow::Result<SecretString> {
        if let Some(secret) = self.get(var) {
            return Ok(secret);
        }
        let problem = format!(
            "{key}: the environment variable `{var}` is not set (the relay reads its environment \
             at start: a new secret needs a restart)"
        );
        anyhow::ensure!(self.lenient, "{problem}");
        self.missing.borrow_mut().push(problem);
        let stand_in: String = rand::Rng::sample_iter(rand::rng(), rand::distr::Alphanumeric)
            .take(48)
            .map(char::from)
            .collect();
        Ok(SecretString::from(stand_in))
    }
}

/// The admin token guards every row's personal data: at least [`MIN_ADMIN_TOKEN_CHARS`].
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;

fn check_admin_token(var: &str, token: Option<SecretString>) -> anyhow::Result<Option<SecretString>> {
    use secrecy::ExposeSecret;
    if let Some(token) = &token {
        let chars = token.expose_secret().chars().count();
        anyhow::ensure!(
            chars >= MIN_ADMIN_TOKEN_CHARS,
            "admin.token_env: the admin token in `{var}` is {chars} characters; use at least \
             {MIN_ADMIN_TOKEN_CHARS} (for example `openssl rand -hex 32`)"
        );
    }
    Ok(token)
}

pub(crate) fn check_positive(key: &str, value: u64) -> anyhow::Result<()> {
    anyhow::ensure!(value > 0, "{key} must be greater than 0");
    Ok(())
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
            lenient_secrets: false,
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
