use awc::{Client, ClientResponse};
use serde_json::Value;
use std::path::PathBuf;
use talk_relay::config::{Config, ConfigSources};
use talk_relay::startup::Application;
use talk_relay::store::{Store, SubmissionRow};

pub type Response = ClientResponse;

pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

pub struct TestApp {
    pub address: String,
    pub db_path: PathBuf,
    pub client: Client,
    server: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

/// Starts the relay on a free port with a fresh database file, the shipped defaults,
/// and `overlay` TOML layered on top.
pub async fn spawn_app(overlay: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("relay.db");
    let (address, server) = start(&db_path, overlay).await;
    TestApp {
        address,
        db_path,
        client: test_client(),
        server,
        _dir: dir,
    }
}

pub fn test_config(db_path: &std::path::Path, overlay: &str) -> Config {
    let base = format!(
        "[server]\nport = 0\nworkers = 1\n[database]\npath = '{}'\n",
        db_path.display()
    );
    Config::load(&ConfigSources {
        file: None,
        overlays: vec![base, overlay.to_owned()],
        read_env: false,
    })
    .expect("test config is valid")
}

async fn start(db_path: &std::path::Path, overlay: &str) -> (String, actix_web::dev::ServerHandle) {
    let app = Application::build(test_config(db_path, overlay))
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    (address, handle)
}

pub fn test_client() -> Client {
    Client::builder()
        .disable_redirects()
        .timeout(std::time::Duration::from_secs(20))
        .finish()
}

impl TestApp {
    /// Stops the server and starts a new one on the same database file.
    pub async fn restart(&mut self, overlay: &str) {
        self.server.stop(true).await;
        let (address, server) = start(&self.db_path, overlay).await;
        self.address = address;
        self.server = server;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A browser-style urlencoded post.
    pub async fn post_form(&self, form: &str, body: &str) -> Response {
        self.client
            .post(self.url(&format!("/f/{form}")))
            .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
            .insert_header(("Accept", BROWSER_ACCEPT))
            .send_body(body.to_owned())
            .await
            .expect("request sent")
    }

    /// A `fetch()`-style JSON post.
    pub async fn post_json(&self, form: &str, body: &Value) -> (u16, Value) {
        let mut response = self
            .client
            .post(self.url(&format!("/f/{form}")))
            .insert_header(("Accept", "application/json"))
            .send_json(body)
            .await
            .expect("request sent");
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.expect("JSON body");
        (status, json)
    }

    pub async fn store(&self) -> Store {
        Store::open(&self.db_path).await.expect("database opens")
    }

    pub async fn submission(&self, id: &str) -> SubmissionRow {
        self.store()
            .await
            .submission(id)
            .await
            .expect("query")
            .expect("row exists")
    }

    /// Every row, oldest first.
    pub async fn submissions(&self) -> Vec<SubmissionRow> {
        let store = self.store().await;
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM submissions ORDER BY id")
            .fetch_all(store.pool())
            .await
            .expect("query");
        let mut rows = Vec::new();
        for (id,) in ids {
            rows.push(store.submission(&id).await.expect("query").expect("row"));
        }
        rows
    }

    pub async fn latest(&self) -> SubmissionRow {
        self.submissions()
            .await
            .pop()
            .expect("at least one submission")
    }

    /// The compose payload of a row, parsed.
    pub fn payload(row: &SubmissionRow) -> Value {
        serde_json::from_str(row.payload.as_deref().expect("row has a payload"))
            .expect("payload is JSON")
    }
}

pub async fn body_text<S>(response: &mut ClientResponse<S>) -> String
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let bytes = response.body().limit(1 << 20).await.expect("body");
    String::from_utf8(bytes.to_vec()).expect("UTF-8 body")
}
