//! The application: opens the log, binds the listener, wires routes and background work.

use crate::config::DatabaseTarget;
use crate::config::{Config, ConfigSources};
use crate::delivery::OutboundBudget;
use crate::delivery::{DeliveryState, DeliveryWorker, OutboundLimiter, WorkerSettings};
use crate::metrics::Metrics;
use crate::ortto::OrttoClient;
use crate::state::Services;
pub use crate::state::{system_clock, AppState, Clock};
use crate::store::health::{HealthSettings, StorageHealth};
use crate::store::{LogWriter, Store};
use crate::talk_session::SessionClient;
use crate::{intake, ops};
use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

pub struct Application {
    port: u16,
    server: Server,
    store: Store,
    health: Arc<StorageHealth>,
    worker: DeliveryWorker,
    state: web::Data<AppState>,
    prune_every: Duration,
    /// Days to keep rows (0 = forever), and how often to purge.
    retention: Retention,
}

impl Application {
    /// Opens and migrates the database, starts the log writer and binds the address
    /// (port 0 picks a free one; [`Application::port`] tells which).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, system_clock()).await
    }

    /// As [`Application::build`], with the clock that checks webhook timestamps.
    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        Self::build_with(config, clock, None).await
    }

    /// As [`Application::build`], able to reload: SIGHUP and `POST /admin/reload` read
    /// `sources` again.
    pub async fn build_reloadable(config: Config, sources: ConfigSources) -> anyhow::Result<Self> {
        Self::build_with(config, system_clock(), Some(sources)).await
    }

    async fn build_with(
        config: Config,
        clock: Clock,
        sources: Option<ConfigSources>,
    ) -> anyhow::Result<Self> {
        let pages = crate::pages::Pages::load(config.pages_dir())?;
        warn_at_start(&config, &pages);
        let database = &config.database;
        let store = crate::store::open_migrated(database).await?;
        tracing::info!(database = %database.describe_target(), "log opened");
        let health = storage_health(database)?;
        let wake = Arc::new(Notify::new());
        let metrics = metrics_for(database);
        let writer = LogWriter::start(&store, wake.clone(), metrics.clone(), health.clone()).await?;
        let deliveries = Arc::new(DeliveryState::new(config.ortto_api_key.is_none()));
        let outbound = outbound_budget(&config, &store);
        let prune_every = Duration::from_millis(config.rate_limits.prune_interval_ms);
        let retention = Retention {
            days: config.database.retention_days,
            spam_days: config.retention.spam_days,
            every: Duration::from_millis(config.database.purge_interval_ms),
        };
        let worker = DeliveryWorker {
            writer: writer.clone(),
            log: store.clone(),
            settings: WorkerSettings::of(&config),
            state: deliveries.clone(),
            budget: outbound.clone(),
            wake,
            metrics: metrics.clone(),
        };
        let (listener, port) = bind(&config.server)?;
        let workers = config.server.workers;
        let session_client = config
            .ortto_api_key
            .clone()
            .map(|key| (config.ortto.clone(), key));
        let link_key = store.shared_link_key().await?;
        let files = crate::files::FileStore::open(&config.files)?;
        let state = web::Data::new(AppState::new(
            config,
            pages,
            sources,
            Services {
                store: store.clone(),
                writer: writer.clone(),
                deliveries,
                outbound,
                metrics,
                health: health.clone(),
                clock,
                link_key,
                files,
            },
        ));
        let server = http_server(listener, state.clone(), session_client, workers)?;
        Ok(Self {
            port,
            server,
            store,
            health,
            worker,
            state,
            prune_every,
            retention,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests, signal handlers).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGTERM/SIGINT or a handle), then stops the
    /// background work: the delivery worker finishes or releases its in-flight rows.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let worker = actix_web::rt::spawn(self.worker.run_until_stopped(stop.clone()));
        let pruner = actix_web::rt::spawn(prune_rate_limits(
            self.state.clone(),
            self.prune_every,
            stop.clone(),
        ));
        let reloader = actix_web::rt::spawn(reload_on_hangup(self.state.clone(), stop.clone()));
        let retention =
            actix_web::rt::spawn(purge_old_rows(self.store.clone(), self.retention, stop.clone()));
        let upkeep = actix_web::rt::spawn(watch_storage(self.store.clone(), self.health, stop.clone()));
        let sweeper = actix_web::rt::spawn(sweep_files(self.state.clone(), stop.clone()));
        // Listening, and the log open and migrated: ready, for a `Type=notify` unit.
        notify_systemd(&[sd_notify::NotifyState::Ready]);
        if let Some(every) = sd_notify::watchdog_enabled() {
            actix_web::rt::spawn(keep_watchdog(every, stop.clone()));
        }
        actix_web::rt::spawn(sample_queue(self.state.clone(), stop.clone()));
        if let Some(url) = self.state.config().alerts_url.clone() {
            actix_web::rt::spawn(crate::alerts::watch(self.state.clone(), url, stop.clone()));
        }
        let served = self.server.await.context("running the HTTP server");
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        stop.cancel();
        if let Err(error) = worker.await {
            tracing::error!(%error, "the delivery worker ended abnormally");
        }
        let _ = pruner.await;
        let _ = reloader.await;
        let _ = retention.await;
        let _ = upkeep.await;
        let _ = sweeper.await;
        served
    }
}

async fn prune_rate_limits(state: web::Data<AppState>, every: Duration, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => state.rate_limits().prune(),
            _ = stop.cancelled() => return,
        }
    }
}

/// SIGHUP: read the configuration again (docs/operations.md, "Reload"); a bad one keeps the running set.
async fn reload_on_hangup(state: web::Data<AppState>, stop: CancellationToken) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload with POST /admin/reload");
        return;
    };
    loop {
        tokio::select! {
            Some(()) = hangups.recv() => {
                let _ = ops::admin::reload_and_log(&state);
            }
            _ = stop.cancelled() => return,
        }
    }
}

/// Every second: looks at free space and the database file (intake refuses before writing
/// when either is wrong), and checkpoints the WAL from a pool connection, so the writer
/// never stalls on a routine checkpoint. While the WAL is past a quarter of its bound the
/// checkpoint runs every 100 ms, so that when the writer truncates at the bound, little is
/// left for it to copy.
async fn watch_storage(store: Store, health: Arc<StorageHealth>, stop: CancellationToken) {
    let mut last_watch = std::time::Instant::now();
    // The WAL file's size and modification time when a checkpoint last left nothing to copy:
    // while they stay so, nothing was written since, and not taking the checkpoint lock lets
    // the idle writer truncate the WAL.
    let mut settled_at = None;
    loop {
        let stamp = health.wal_stamp();
        let busy = stamp.0 > health.settings().max_wal_bytes / 4;
        let pause = if busy {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {
                if last_watch.elapsed() >= Duration::from_secs(1) {
                    health.watch_once();
                    last_watch = std::time::Instant::now();
                }
                if stamp.1.is_none() || settled_at != Some(stamp) {
                    match store.checkpoint().await {
                        Ok(Some(behind)) => {
                            health.set_checkpoint_backlog(behind);
                            settled_at = (behind == 0).then_some(stamp);
                        }
                        Ok(None) => settled_at = Some(stamp),
                        Err(error) => tracing::warn!(error = %format!("{error:#}"), "WAL checkpoint failed"),
                    }
                }
            }
            _ = stop.cancelled() => return,
        }
    }
}

/// How long rows are kept, and how often the purge runs.
#[derive(Debug, Clone, Copy)]
struct Retention {
    days: u32,
    spam_days: u32,
    every: Duration,
}

/// Deletes rows older than `database.retention_days`, and quarantined rows older than
/// `retention.spam_days`, on a timer, in small batches.
async fn purge_old_rows(store: Store, retention: Retention, stop: CancellationToken) {
    let Retention {
        days,
        spam_days,
        every,
    } = retention;
    if days == 0 && spam_days == 0 {
        return;
    }
    let before = |days: u32| {
        crate::domain::utc_timestamp(chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        if spam_days > 0 {
            match store.purge_spam_before(&before(spam_days), 500).await {
                Ok(removed) => tracing::info!(submissions = removed, "quarantine retention purge"),
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "quarantine retention purge failed")
                }
            }
        }
        if days == 0 {
            continue;
        }
        match store.purge_before(&before(days), 500).await {
            Ok(removed) => tracing::info!(
                submissions = removed.submissions,
                attempts = removed.delivery_attempts,
                sessions = removed.talk_sessions,
                "retention purge"
            ),
            Err(error) => tracing::error!(error = %format!("{error:#}"), "retention purge failed"),
        }
    }
}

/// The process's metrics, with the bounds alert rules compare against (docs/alerts.md).
fn metrics_for(database: &crate::config::DatabaseSettings) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::new());
    metrics.wal_limit_bytes.set(database.max_wal_bytes() as i64);
    metrics
        .database_min_free_bytes
        .set(database.min_free_bytes() as i64);
    metrics
}

/// Tells systemd (`NOTIFY_SOCKET`, a `Type=notify` unit) how the relay is; nothing without it.
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(error) = sd_notify::notify(state) {
        tracing::warn!(%error, "could not tell systemd");
    }
}

/// Pings systemd's watchdog at half its interval while the runtime runs: a relay whose
/// runtime stalls stops pinging, and systemd restarts it.
async fn keep_watchdog(every: Duration, stop: CancellationToken) {
    loop {
        notify_systemd(&[sd_notify::NotifyState::Watchdog]);
        tokio::select! {
            _ = tokio::time::sleep(every / 2) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Samples the queue for the status page's chart: at start, then every five minutes.
async fn sample_queue(state: web::Data<AppState>, stop: CancellationToken) {
    loop {
        if let Ok(queue) = state.store.queue_stats().await {
            state.metrics.sample_queue(crate::metrics::QueueSample {
                at: chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
                depth: queue.depth,
                oldest_due_seconds: queue.oldest_due_age_seconds,
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Removes files no row names (docs/files.md, "Durability"): at start, then every hour.
async fn sweep_files(state: web::Data<AppState>, stop: CancellationToken) {
    loop {
        match crate::files::sweep::sweep(&state.files, &state.store, crate::files::sweep::ORPHAN_AGE).await {
            Ok(swept) if swept == Default::default() => {}
            Ok(swept) => tracing::info!(files = swept.files, spooled = swept.spooled, "file sweep"),
            Err(error) => tracing::error!(error = %format!("{error:#}"), "file sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(crate::files::sweep::ORPHAN_AGE) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// What an operator should hear at start: page templates that render nothing of their own,
/// forms that are off, and a relay without an Ortto key (dry run).
fn warn_at_start(config: &Config, pages: &crate::pages::Pages) {
    for warning in pages.warnings() {
        tracing::warn!("{warning}");
    }
    for form in config.forms.values().filter(|f| !f.switch.is_on()) {
        tracing::warn!(form = %form.name, "form {}: {}", form.name, form.switch.describe());
    }
    if config.ortto_api_key.is_none() {
        tracing::warn!(
            "dry run: ${} is not set, so submissions are recorded and their payloads built but \
             nothing is sent to Ortto; send them later with `talk-relay replay --status dry_run`",
            config.ortto.api_key_env
        );
    }
}

/// The listener on `server.host:server.port` (port 0 picks a free one), and its port.
fn bind(server: &crate::config::ServerSettings) -> anyhow::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind((server.host.as_str(), server.port))
        .with_context(|| format!("binding {}:{}", server.host, server.port))?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// The outbound budget, unless the limiter is off: a database shared by a fleet keeps one
/// budget for all of it; otherwise the process does.
fn outbound_budget(config: &Config, store: &Store) -> Option<Arc<dyn OutboundBudget>> {
    config.ortto.limit_outbound.then(|| {
        store
            .shared_budget(&config.ortto.windows())
            .unwrap_or_else(|| Arc::new(OutboundLimiter::for_settings(&config.ortto)))
    })
}

/// The storage watch (free space, the file, the WAL; SQLite only for the disk), looked at once.
fn storage_health(database: &crate::config::DatabaseSettings) -> anyhow::Result<Arc<StorageHealth>> {
    let health = Arc::new(StorageHealth::new(HealthSettings {
        path: match database.target()? {
            DatabaseTarget::Sqlite(path) => Some(path),
            DatabaseTarget::Postgres(_) => None,
        },
        min_free_bytes: database.min_free_bytes(),
        max_wal_bytes: database.max_wal_bytes(),
        probe_every: Duration::from_millis(database.readiness_probe_ms),
    }));
    health.watch_once();
    Ok(health)
}

/// The HTTP server on `listener`: every route, the state, and per worker thread an HTTP client
/// (awc is single-threaded) and the session client when the relay has an Ortto key.
fn http_server(
    listener: TcpListener,
    state: web::Data<AppState>,
    session_client: Option<(crate::config::OrttoSettings, secrecy::SecretString)>,
    workers: usize,
) -> anyhow::Result<actix_web::dev::Server> {
    let mut server = HttpServer::new(move || {
        let http = awc::Client::builder().disable_redirects().finish();
        let mut app = App::new()
            .wrap(TracingLogger::<crate::telemetry::RelayRootSpan>::new())
            .app_data(state.clone())
            .app_data(http);
        if let Some((ortto, key)) = &session_client {
            app = app.app_data(SessionClient(OrttoClient::new(ortto, key.clone())));
        }
        app.configure(routes)
    })
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// Every route, each module's own: intake (forms, hooks, the thank-you page), verified
/// sessions, and operations (health, metrics, admin).
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(intake::configure)
        .configure(crate::talk_session::configure)
        .configure(ops::configure);
}
