//! What every test shares: starting the relay in-process on a bound port with a fresh
//! database, the test secrets and client, and reading the log back.

use awc::Client;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use talk_relay::config::{Config, ConfigSources};
use talk_relay::startup::Application;
use talk_relay::store::{SqliteStore, SubmissionRow};

pub use crate::call::{Answer, Call, Expect};
pub use crate::commands::{
    check_config, closed_port, relay_cli, relay_with_config, run_command, sqlite3_json,
};
pub use actix_web::http::Method;

pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
pub const URLENCODED: &str = "application/x-www-form-urlencoded";
pub const TEST_ORTTO_KEY: &str = "test-ortto-key-not-real";
pub const TEST_ADMIN_TOKEN: &str = "admin-token-not-real-32-characters-or-more";
/// Turns the admin API on with [`TEST_ADMIN_TOKEN`].
pub const ADMIN: &str = "[admin]\ntoken_env = \"TEST_ADMIN_TOKEN\"\n";

/// The shipped `demo` form taking posts although an Ortto key is set.
pub const DEMO_ON: &str = "[forms.demo]\nenabled = true\n";

/// Delivery settings that make retries and pauses take milliseconds, not minutes.
pub const FAST_DELIVERY: &str =
    "[delivery]\nbackoff_base_ms = 20\nbackoff_cap_ms = 100\npoll_interval_ms = 50\n\
     lease_ms = 3000\nauth_pause_ms = 600\nshutdown_grace_ms = 2000\n\
     [ortto]\ntimeout_ms = 1000\nconnect_timeout_ms = 500\n";

pub struct TestApp {
    pub address: String,
    pub db_path: PathBuf,
    /// `Some`: the log is this PostgreSQL database, not the file at `db_path`.
    pub db_url: Option<String>,
    /// The PostgreSQL log, opened once.
    pg_log: tokio::sync::OnceCell<talk_relay::store::Store>,
    pub client: Client,
    server: Option<actix_web::dev::ServerHandle>,
    running: Option<actix_web::rt::task::JoinHandle<anyhow::Result<()>>>,
    /// Layers under each start's own overlay (delivery speed-ups, the fake Ortto).
    base_layers: Vec<String>,
    api_key: Option<&'static str>,
    clock: Option<talk_relay::startup::Clock>,
    _dir: tempfile::TempDir,
}

/// Starts the relay on a free port with a fresh database file, the shipped defaults,
/// and `overlay` TOML layered on top. No Ortto key: dry run.
pub async fn spawn_app(overlay: &str) -> TestApp {
    spawn(Vec::new(), None, None, overlay).await
}

/// Starts the relay delivering to `ortto` with a test key; retries are fast and the
/// outbound limiter is off unless the overlay turns it on.
pub async fn spawn_app_with_ortto(ortto: &crate::fake_ortto::FakeOrtto, overlay: &str) -> TestApp {
    spawn(ortto_layers(ortto), Some(TEST_ORTTO_KEY), None, overlay).await
}

/// As [`spawn_app_with_ortto`], with the log in the PostgreSQL database at `url` if given.
pub async fn spawn_app_on(
    db_url: Option<&str>,
    ortto: &crate::fake_ortto::FakeOrtto,
    overlay: &str,
) -> TestApp {
    let mut layers = ortto_layers(ortto);
    if let Some(url) = db_url {
        layers.push(format!("[database]\nurl = '{url}'\n"));
    }
    let mut app = spawn_unstarted(layers, Some(TEST_ORTTO_KEY), None);
    app.db_url = db_url.map(str::to_owned);
    app.start(overlay).await;
    app
}

fn ortto_layers(ortto: &crate::fake_ortto::FakeOrtto) -> Vec<String> {
    vec![
        FAST_DELIVERY.to_owned(),
        // With a key the shipped `demo` form is off; these tests turn it on, as a user would.
        DEMO_ON.to_owned(),
        format!(
            "[ortto]\nbase_url = '{}'\nlimit_outbound = false\n",
            ortto.base_url
        ),
    ]
}

/// Starts the relay with the clock `clock` (a test may move it).
pub async fn spawn_app_with_clock(overlay: &str, clock: talk_relay::startup::Clock) -> TestApp {
    spawn(Vec::new(), None, Some(clock), overlay).await
}

/// Starts the relay with a fixed clock (webhook timestamp tolerances).
pub async fn spawn_app_at(overlay: &str, now: chrono::DateTime<chrono::Utc>) -> TestApp {
    spawn(Vec::new(), None, Some(std::sync::Arc::new(move || now)), overlay).await
}

async fn spawn(
    base_layers: Vec<String>,
    api_key: Option<&'static str>,
    clock: Option<talk_relay::startup::Clock>,
    overlay: &str,
) -> TestApp {
    let mut app = spawn_unstarted(base_layers, api_key, clock);
    app.start(overlay).await;
    app
}

fn spawn_unstarted(
    base_layers: Vec<String>,
    api_key: Option<&'static str>,
    clock: Option<talk_relay::startup::Clock>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("relay.db");
    TestApp {
        address: String::new(),
        db_path,
        db_url: None,
        pg_log: tokio::sync::OnceCell::new(),
        client: test_client(),
        server: None,
        running: None,
        base_layers,
        api_key,
        clock,
        _dir: dir,
    }
}

/// The shipped defaults with a port-0 listener and a test database, then `overlays`.
pub fn test_config(db_path: &std::path::Path, overlays: &[&str], api_key: Option<&str>) -> Config {
    // Tests post many times from 127.0.0.1: form rate limits are off unless a test turns them on.
    let base = format!(
        "[server]\nport = 0\nworkers = 1\n[database]\npath = '{}'\n\
         [rate_limits.form_per_ip]\nenabled = false\n[rate_limits.form]\nenabled = false\n\
         [files]\ndir = '{}'\n",
        db_path.display(),
        db_path.with_file_name("files").display()
    );
    let mut all = vec![base];
    all.extend(overlays.iter().map(|o| o.to_string()));
    let mut secrets = test_secrets();
    // The key comes in as the environment would hold it, so the load sees it (dry run or not).
    if let Some(key) = api_key {
        secrets.insert("ORTTO_API_KEY".to_owned(), key.to_owned());
    }
    Config::load(&ConfigSources {
        file: None,
        overlays: all,
        read_env: false,
        secrets,
        lenient_secrets: false,
    })
    .expect("test config is valid")
}

/// The shipped defaults with `overlay`, loaded as `serve` would: the error a bad key gives.
pub fn test_config_result(overlay: &str) -> anyhow::Result<Config> {
    Config::load(&ConfigSources {
        file: None,
        overlays: vec![overlay.to_owned()],
        read_env: false,
        secrets: test_secrets(),
        lenient_secrets: false,
    })
}

/// Secrets the tests configure by name, as the environment would hold them.
pub fn test_secrets() -> std::collections::BTreeMap<String, String> {
    [
        ("TEST_CAPTCHA_SECRET", "captcha-secret-not-real"),
        ("TEST_HOOK_SECRET", "whsec_test_only_not_a_real_secret"),
        ("TEST_HOOK_TOKEN", "hook-token-not-real"),
        // The Standard Webhooks specification's own example secret (`whsec_` + base64).
        ("TEST_WHSEC", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("TEST_SITE_KEY_A", "site-key-a-not-real"),
        ("TEST_SITE_KEY_B", "site-key-b-not-real"),
        ("TEST_SESSION_SIGNING", "session-signing-not-real"),
        ("TEST_ADMIN_TOKEN", TEST_ADMIN_TOKEN),
        ("TEST_AKISMET_KEY", "akismet-key-not-real"),
        // The notification receiver of `tests/api/ops/alerts.rs`.
        ("TEST_ALERT_URL", crate::ops::alerts::RECEIVER),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub fn test_client() -> Client {
    Client::builder()
        .disable_redirects()
        .timeout(Duration::from_secs(20))
        .finish()
}

impl TestApp {
    async fn start(&mut self, overlay: &str) {
        let config = self.config(overlay);
        let clock = self
            .clock
            .clone()
            .unwrap_or_else(talk_relay::startup::system_clock);
        let app = Application::build_with_clock(config, clock)
            .await
            .expect("app builds");
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.server = Some(app.server_handle());
        self.running = Some(actix_web::rt::spawn(app.run_until_stopped()));
    }

    /// The configuration this app runs with (its layers and `overlay`), for tests that build
    /// a part of the relay (a log writer, a delivery worker) on the same log.
    pub fn config(&self, overlay: &str) -> Config {
        let mut overlays: Vec<&str> = self.base_layers.iter().map(String::as_str).collect();
        overlays.push(overlay);
        test_config(&self.db_path, &overlays, self.api_key)
    }

    /// Stops the server gracefully and waits until its background work (delivery worker,
    /// timers) has ended too, so nothing of it holds the database.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop(true).await;
        }
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }

    /// From the next (re)start on, deliver to `ortto` with the test key.
    pub fn connect_ortto(&mut self, ortto: &crate::fake_ortto::FakeOrtto) {
        self.base_layers = ortto_layers(ortto);
        self.api_key = Some(TEST_ORTTO_KEY);
    }

    /// Stops the server and starts a new one on the same database file.
    pub async fn restart(&mut self, overlay: &str) {
        self.stop().await;
        self.start(overlay).await;
    }

    /// The local file store's directory (`files.dir`).
    pub fn files_dir(&self) -> PathBuf {
        self.db_path.with_file_name("files")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A request to this relay (see `call.rs`).
    pub fn call(&self, method: Method, path: &str) -> Call {
        Call::new(&self.client, method, &self.url(path))
    }

    pub fn get(&self, path: &str) -> Call {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.call(Method::POST, path)
    }

    /// A script's post to the `demo` form with this content type (it accepts JSON).
    pub async fn post_as(
        &self,
        content_type: &str,
        body: impl Into<actix_web::web::Bytes>,
        expect: impl Into<Expect>,
    ) -> Answer {
        self.post("/f/demo")
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .body(body, expect)
            .await
    }

    /// A browser-style urlencoded post to a form; the caller checks the answer.
    pub async fn post_form(&self, form: &str, body: &str) -> Answer {
        self.post(&format!("/f/{form}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", BROWSER_ACCEPT)
            .body(body.to_owned(), Expect::Any)
            .await
    }

    /// A `fetch()`-style JSON post to a form; the caller checks the status.
    pub async fn post_json(&self, form: &str, body: &Value) -> (u16, Value) {
        let answer = self
            .post(&format!("/f/{form}"))
            .header("Accept", "application/json")
            .json(body, Expect::Any)
            .await;
        (answer.status, answer.json())
    }

    /// An admin request with the test token (`[admin] token_env = "TEST_ADMIN_TOKEN"`).
    pub fn admin(&self, method: Method, path: &str) -> Call {
        self.call(method, path).bearer(TEST_ADMIN_TOKEN)
    }

    /// The ids the log lists (newest first), through the storage contract.
    pub async fn listed_ids(&self) -> Vec<String> {
        let listed = self.log().await.list_submissions(&Default::default()).await;
        listed.unwrap().into_iter().map(|s| s.id).collect()
    }

    /// The log through the storage contract, whichever backend holds it.
    pub async fn log(&self) -> talk_relay::store::Store {
        let open = || async {
            let overlays: Vec<&str> = self.base_layers.iter().map(String::as_str).collect();
            let config = test_config(&self.db_path, &overlays, None);
            talk_relay::store::open(&config.database)
                .await
                .expect("the log opens")
        };
        match self.db_url {
            Some(_) => self.pg_log.get_or_init(open).await.clone(),
            // A file is opened afresh each time (tests replace and delete it).
            None => open().await,
        }
    }

    pub async fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.db_path).await.expect("database opens")
    }

    pub async fn submission(&self, id: &str) -> SubmissionRow {
        self.log()
            .await
            .submission(id)
            .await
            .expect("query")
            .expect("row exists")
    }

    /// Every row, oldest first, from whichever backend holds the log.
    pub async fn submissions(&self) -> Vec<SubmissionRow> {
        let log = self.log().await;
        let mut filter = talk_relay::store::SubmissionFilter {
            limit: Some(500),
            ..Default::default()
        };
        let mut ids = Vec::new();
        loop {
            let page = log.list_submissions(&filter).await.expect("query");
            ids.extend(page.iter().map(|s| s.id.clone()));
            match page.last() {
                Some(last) if page.len() == 500 => filter.before = Some(last.id.clone()),
                _ => break,
            }
        }
        let mut rows = Vec::new();
        for id in ids.iter().rev() {
            rows.push(log.submission(id).await.expect("query").expect("row"));
        }
        rows
    }

    /// Every row's status, oldest first.
    pub async fn statuses(&self) -> Vec<talk_relay::domain::Status> {
        self.submissions().await.iter().map(|r| r.status).collect()
    }

    /// Every row's id, oldest first.
    pub async fn ids(&self) -> Vec<String> {
        self.submissions()
            .await
            .into_iter()
            .map(|r| r.summary.id)
            .collect()
    }

    pub async fn latest(&self) -> SubmissionRow {
        self.submissions().await.pop().expect("at least one submission")
    }

    /// The compose payload of a row, parsed.
    pub fn payload(row: &SubmissionRow) -> Value {
        serde_json::from_str(row.payload.as_deref().expect("row has a payload")).expect("payload is JSON")
    }

    /// Waits until the row reaches one of `statuses` (or time runs out), and returns it.
    pub async fn wait_for_status(&self, id: &str, statuses: &[&str], within: Duration) -> SubmissionRow {
        let deadline = Instant::now() + within;
        loop {
            let row = self.submission(id).await;
            if statuses.contains(&row.status.as_str()) || Instant::now() > deadline {
                return row;
            }
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// `delivery_attempts` rows for a submission: (attempt, http_status, error_kind).
    pub async fn attempts(&self, id: &str) -> Vec<(i64, Option<i64>, Option<String>)> {
        sqlx::query_as(
            "SELECT attempt, http_status, error_kind FROM delivery_attempts WHERE submission_id = ? ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.store().await.pool())
        .await
        .expect("query")
    }

    pub async fn readyz(&self) -> (u16, Value) {
        let answer = self.get("/readyz").send(&[200, 503][..]).await;
        (answer.status, answer.json())
    }
}
