//! What every request handler shares, built once by `startup` (docs/architecture.md). The
//! configuration, the pages and the rate limiters are swapped whole on reload (docs/operations.md,
//! "Reload"): a request keeps the set it started with.

use crate::clean::HtmlCleaner;
use crate::config::{Config, ConfigSources};
use crate::delivery::{DeliveryState, OutboundBudget};
use crate::guard::RateLimits;
use crate::metrics::Metrics;
use crate::pages::Pages;
use crate::refusals::Refusals;
use crate::store::health::StorageHealth;
use crate::store::{LogWriter, Store};
use arc_swap::ArcSwap;
use std::sync::Arc;

/// What every request handler shares.
pub struct AppState {
    config: ArcSwap<Config>,
    pages: ArcSwap<Pages>,
    rate_limits: ArcSwap<RateLimits>,
    /// Where the configuration came from, to read it again; `None`: reload is off.
    sources: Option<ConfigSources>,
    /// The configuration the process started with: what the sections a reload cannot
    /// change really run on, so a reload compares with it, not with the last reload.
    started: Arc<Config>,
    pub store: Store,
    pub writer: LogWriter,
    /// Where attachments are kept (docs/files.md).
    pub files: crate::files::FileStore,
    pub cleaner: HtmlCleaner,
    pub deliveries: Arc<DeliveryState>,
    pub outbound: Option<Arc<dyn OutboundBudget>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<StorageHealth>,
    pub refusals: Refusals,
    /// Signs the thank-you page's back link; made at start.
    pub link_key: secrecy::SecretString,
    /// Now, for signature tolerances (tests fix it).
    pub clock: Clock,
    /// Which process this is (host, pid, start time): relays on one PostgreSQL share the log
    /// but each keeps its own refusals, so the status page says whose it shows.
    pub instance: String,
    /// Failed admin logins per client (`/admin` answers 429 past the limit).
    pub login_throttle: crate::guard::LoginThrottle,
    /// What intake logs while it cannot record: one line, then summaries.
    pub outage_log: crate::refusals::OutageLog,
}

/// `host pid N, started T`: this process, for the status page.
fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned());
    format!(
        "{host} pid {}, started {}",
        std::process::id(),
        crate::domain::now_timestamp()
    )
}

/// What a handler needs that never changes while the relay runs.
pub struct Services {
    pub store: Store,
    pub writer: LogWriter,
    pub deliveries: Arc<DeliveryState>,
    pub outbound: Option<Arc<dyn OutboundBudget>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<StorageHealth>,
    pub clock: Clock,
    /// The fleet's key for thank-you links, if the store shares one.
    pub link_key: Option<String>,
    /// Where attachments are kept (docs/files.md).
    pub files: crate::files::FileStore,
}

/// What a reload changed, for its answer and the log.
#[derive(Debug, serde::Serialize)]
pub struct Reloaded {
    pub forms: Vec<String>,
    pub hooks: Vec<String>,
    /// Sections that changed but only take effect after a restart.
    pub restart_needed: Vec<&'static str>,
}

impl AppState {
    pub fn new(config: Config, pages: Pages, sources: Option<ConfigSources>, services: Services) -> Self {
        Self {
            rate_limits: ArcSwap::from_pointee(RateLimits::from_settings(&config.rate_limits)),
            started: Arc::new(config.clone()),
            config: ArcSwap::from_pointee(config),
            pages: ArcSwap::from_pointee(pages),
            sources,
            store: services.store,
            writer: services.writer,
            files: services.files,
            cleaner: HtmlCleaner::new(),
            deliveries: services.deliveries,
            outbound: services.outbound,
            metrics: services.metrics,
            health: services.health,
            refusals: Refusals::new(crate::refusals::KEPT),
            link_key: secrecy::SecretString::from(
                services
                    .link_key
                    .unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>())),
            ),
            clock: services.clock,
            instance: instance_name(),
            login_throttle: Default::default(),
            outage_log: Default::default(),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn pages(&self) -> Arc<Pages> {
        self.pages.load_full()
    }

    pub fn rate_limits(&self) -> Arc<RateLimits> {
        self.rate_limits.load_full()
    }

    /// Reads the configuration again, validates it and its templates, and swaps forms,
    /// hooks, limits and pages in. Anything wrong keeps the running set and says why.
    /// Rate-limit counters survive unless `[rate_limits]` itself changed.
    pub fn reload(&self) -> anyhow::Result<Reloaded> {
        let Some(sources) = &self.sources else {
            anyhow::bail!("this relay was started without a configuration to read again");
        };
        let new = Config::load(sources)?;
        let pages = crate::pages::Pages::load(new.pages_dir())?;
        let old = &self.started;
        let changed = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
        let restart_needed = [
            (
                "server",
                changed(&old.server.port, &new.server.port)
                    || changed(&old.server.host, &new.server.host)
                    || changed(&old.server.workers, &new.server.workers),
            ),
            ("database", changed(&old.database, &new.database)),
            (
                "ortto",
                changed(&old.ortto, &new.ortto)
                    || changed(&old.ortto_api_key.is_some(), &new.ortto_api_key.is_some()),
            ),
            ("delivery", changed(&old.delivery, &new.delivery)),
            ("log", changed(&old.log, &new.log)),
        ]
        .into_iter()
        .filter_map(|(section, changed)| changed.then_some(section))
        .collect();
        if changed(&self.config().rate_limits, &new.rate_limits) {
            self.rate_limits
                .store(Arc::new(RateLimits::from_settings(&new.rate_limits)));
        }
        let reloaded = Reloaded {
            forms: new.forms.keys().cloned().collect(),
            hooks: new.hooks.keys().cloned().collect(),
            restart_needed,
        };
        self.pages.store(Arc::new(pages));
        self.config.store(Arc::new(new));
        Ok(reloaded)
    }
}

/// A source of the current time.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}
