//! The HTTP client for Ortto: one per thread (awc is single-threaded), the API key held
//! as a secret and exposed only where the header is built.

use crate::config::OrttoSettings;
use actix_web::web::Bytes;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What came back from Ortto, before anyone decided what it means.
#[derive(Debug)]
pub struct OrttoReply {
    pub status: u16,
    pub body: Bytes,
    /// `Retry-After` in seconds, when given.
    pub retry_after: Option<u64>,
}

/// Why no reply came back.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("the connection failed: {0}")]
    Io(String),
}

impl TransportError {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connect",
            Self::Io(_) => "network",
        }
    }
}

pub struct OrttoClient {
    http: awc::Client,
    base_url: String,
    api_key: SecretString,
    timeout: Duration,
}

impl OrttoClient {
    pub fn new(settings: &OrttoSettings, api_key: SecretString) -> Self {
        let timeout = Duration::from_millis(settings.timeout_ms);
        let connector = awc::Connector::new().timeout(Duration::from_millis(settings.connect_timeout_ms));
        let http = awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .disable_redirects()
            .add_default_header(("User-Agent", concat!("talk-relay/", env!("CARGO_PKG_VERSION"))))
            .finish();
        Self {
            http,
            base_url: settings.base_url(),
            api_key,
            timeout,
        }
    }

    /// `POST {base}/v1/talk/compose` with the recorded payload, byte for byte.
    pub async fn compose(&self, payload: &str) -> Result<OrttoReply, TransportError> {
        self.post("/v1/talk/compose", Bytes::copy_from_slice(payload.as_bytes()))
            .await
    }

    /// `POST {base}/v1/talk/session`.
    pub async fn session(&self, body: &serde_json::Value) -> Result<OrttoReply, TransportError> {
        self.post("/v1/talk/session", Bytes::from(body.to_string())).await
    }

    async fn post(&self, path: &str, body: Bytes) -> Result<OrttoReply, TransportError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .insert_header(("X-Api-Key", self.api_key.expose_secret()))
            .insert_header(("Content-Type", "application/json"));
        let exchange = async {
            let mut response = request.send_body(body).await.map_err(classify_send_error)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let body = response
                .body()
                .limit(MAX_RESPONSE_BYTES)
                .await
                .map_err(|e| TransportError::Io(format!("reading the response: {e}")))?;
            Ok(OrttoReply {
                status,
                body,
                retry_after,
            })
        };
        // awc's timeout covers the headers; this bounds the body too.
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(TransportError::Timeout(self.timeout)))
    }
}

fn classify_send_error(error: awc::error::SendRequestError) -> TransportError {
    use awc::error::SendRequestError as E;
    match error {
        E::Timeout => TransportError::Timeout(Duration::ZERO),
        E::Connect(e) => TransportError::Connect(e.to_string()),
        other => TransportError::Io(other.to_string()),
    }
}
