//! The plain settings tables: `[server]`, `[log]`, `[database]`, `[admin]`, `[ortto]`,
//! `[delivery]`, `[limits]` and `[rate_limits]`.

use serde::Deserialize;
use std::path::PathBuf;

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
    /// The relay's address as the world reaches it (`https://relay.example.com`), for links it
    /// hands out and for `{url}` in signatures; empty: worked out per request.
    pub public_url: String,
}

impl ServerSettings {
    /// `server.public_url`, parsed (checked at load), without a trailing slash's effect.
    pub fn public_url(&self) -> Option<url::Url> {
        let raw = self.public_url.trim();
        (!raw.is_empty()).then(|| url::Url::parse(raw).ok()).flatten()
    }

    pub(crate) fn check_public_url(&self) -> anyhow::Result<()> {
        let raw = self.public_url.trim();
        if raw.is_empty() {
            return Ok(());
        }
        let url = url::Url::parse(raw).map_err(|e| anyhow::anyhow!("server.public_url: not a URL ({e})"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.query().is_none()
                && url.fragment().is_none(),
            "server.public_url: an http(s) address such as https://relay.example.com, \
             without a query"
        );
        Ok(())
    }
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
    /// `sqlite://PATH` or `postgres://…`; empty: the SQLite file at `path`.
    pub url: String,
    /// The SQLite file, when `url` is empty (a shorthand for `sqlite://PATH`).
    pub path: PathBuf,
    /// PostgreSQL connections per relay for reads, claims' budget and housekeeping (the
    /// writer has one more of its own).
    pub pool_size: u32,
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

/// A megabyte in the `*_mb` keys: 2^20 bytes (MiB), for free space and the WAL alike.
pub const MB: u64 = 1 << 20;

impl DatabaseSettings {
    /// `min_free_mb` in bytes.
    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_mb.saturating_mul(MB)
    }

    /// `max_wal_mb` in bytes.
    pub fn max_wal_bytes(&self) -> u64 {
        self.max_wal_mb.saturating_mul(MB)
    }
}

/// Where the log lives, from `database.url` (or `database.path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite(PathBuf),
    /// The connection URL; it may hold a password, so it is never logged or printed.
    Postgres(String),
}

impl DatabaseSettings {
    pub fn target(&self) -> anyhow::Result<DatabaseTarget> {
        let url = self.url.trim();
        if url.is_empty() {
            return Ok(DatabaseTarget::Sqlite(self.path.clone()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            anyhow::ensure!(
                !path.is_empty(),
                "database.url: `sqlite://` needs a file path, as in sqlite://data/talk-relay.db"
            );
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url.to_owned()));
        }
        let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
        anyhow::bail!(
            "database.url: the scheme `{scheme}` is not supported; use sqlite://PATH or postgres://…"
        )
    }

    /// Where the log lives, for logs and pages: the file, or the PostgreSQL host and
    /// database without user or password.
    pub fn describe_target(&self) -> String {
        match self.target() {
            Ok(DatabaseTarget::Sqlite(path)) => format!("sqlite {}", path.display()),
            Ok(DatabaseTarget::Postgres(url)) => match url::Url::parse(&url) {
                Ok(parsed) => format!(
                    "postgres {}:{}{}",
                    parsed.host_str().unwrap_or("localhost"),
                    parsed.port().unwrap_or(5432),
                    parsed.path()
                ),
                Err(_) => "postgres (unparseable url)".to_owned(),
            },
            Err(error) => format!("{error}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Full,
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminSettings {
    pub(crate) token_env: String,
}

/// `[spam_filter]`: the local content filter every form's spam check may ask (docs/spam.md,
/// "A local content filter").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpamFilterSettings {
    /// `HOST:PORT` of SpamAssassin's `spamd`; empty: no filter.
    pub spamd_address: String,
    /// How long a post waits for the filter before it goes on without it.
    pub timeout_ms: u64,
    /// `accept`: go on with the reason `filter_unavailable`; `refuse`: 503, try again.
    pub on_unreachable: super::CaptchaUnreachable,
    /// The variable holding an Akismet API key; empty: no Akismet.
    pub akismet_key_env: String,
    /// The site Akismet's key belongs to (its `blog`).
    pub akismet_site: String,
    /// Akismet's REST base URL (tests point it at a fake).
    pub akismet_url: String,
}

impl SpamFilterSettings {
    pub fn is_on(&self) -> bool {
        !self.spamd_address.trim().is_empty() || !self.akismet_key_env.trim().is_empty()
    }
}

/// `[alerts]`: notifications without Prometheus (docs/alerts.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// The variable holding the webhook URL (Slack, Discord, Teams); empty: no notifications.
    pub webhook_url_env: String,
    /// How often the watcher looks.
    pub check_interval_ms: u64,
    /// How long after one notification of a kind the next of that kind may go.
    pub cooldown_s: u64,
    /// The oldest queued row's age past which a notification goes.
    pub queue_age_s: u64,
    /// Tries per notification.
    pub retries: u32,
}

/// `[retention]`: how long the quarantine keeps what it holds (docs/spam.md, "The quarantine").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Days to keep quarantined (`spam`) rows; 0 keeps them (until `database.retention_days`).
    pub spam_days: u32,
}

/// `[pages]`: the visitor pages' templates and language (docs/pages.md, "Pages").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagesSettings {
    /// A directory of templates that replace the built-in ones; empty: built-in only.
    pub dir: String,
    /// `en` or `de`: the built-in pages' words (per form: `forms.NAME.lang`).
    pub lang: String,
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

impl OrttoSettings {
    /// `ortto.base_url`, when set, is an http(s) URL.
    pub(crate) fn check_base_url(&self) -> anyhow::Result<()> {
        if self.base_url.is_empty() {
            return Ok(());
        }
        let url = url::Url::parse(&self.base_url)
            .map_err(|e| anyhow::anyhow!("ortto.base_url: not a URL ({e})"))?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https"),
            "ortto.base_url: must be an http or https URL"
        );
        Ok(())
    }
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
    /// The outbound windows: (requests, window), the explicit quotas over the plan's.
    pub fn windows(&self) -> [(u32, std::time::Duration); 2] {
        let (plan_10s, plan_60s) = self.plan.quotas();
        let pick = |explicit: u32, plan: u32| if explicit > 0 { explicit } else { plan };
        [
            (
                pick(self.requests_per_10s, plan_10s),
                std::time::Duration::from_secs(10),
            ),
            (
                pick(self.requests_per_60s, plan_60s),
                std::time::Duration::from_secs(60),
            ),
        ]
    }

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
