//! What the relay keeps about a request itself, beside its fields (docs/log.md, "The log":
//! `client_ip`, `user_agent`, `origin`, `page_url`, `idempotency_key`, `request_id`).

use crate::config::Config;
use crate::config::WebOrigin;
use crate::domain::{new_submission_id, utc_timestamp, SourceKind, Status};
use crate::guard;
use crate::store::NewSubmission;
use actix_web::{HttpMessage, HttpRequest};
use chrono::{DateTime, Utc};

const MAX_HEADER_CHARS: usize = 2048;

/// What the relay keeps about the request itself, beside the fields.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub received_at: DateTime<Utc>,
    /// The client as rate limits key it (unspecified when the socket has no IP).
    pub client_addr: std::net::IpAddr,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub origin: Option<WebOrigin>,
    pub page_url: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_id: Option<String>,
}

impl RequestMeta {
    /// The facts, read under `config`: the one snapshot the whole request uses (a reload
    /// meanwhile changes nothing for it).
    pub fn of(req: &HttpRequest, config: &Config) -> Self {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(MAX_HEADER_CHARS).collect::<String>())
                .filter(|v| !v.trim().is_empty())
        };
        let page_url = header("referer")
            .filter(|r| url::Url::parse(r).is_ok_and(|u| matches!(u.scheme(), "http" | "https")));
        let server = &config.server;
        let client = guard::client_ip(req, &server.trusted_proxies, &server.client_ip_header);
        Self {
            received_at: Utc::now(),
            client_addr: guard::limit_key(
                client.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
                config.rate_limits.ipv6_prefix,
            ),
            client_ip: client.map(|ip| ip.to_string()),
            user_agent: header("user-agent"),
            origin: guard::request_origin(req),
            page_url,
            idempotency_key: header("idempotency-key").map(|k| k.chars().take(255).collect()),
            request_id: req
                .extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(|id| id.to_string()),
        }
    }

    /// The same facts with the page the visitor posted from: `_page` where it passed the
    /// `_page` rules, else the `Referer` (docs/mapping.md, "Consent").
    pub fn on_page(&self, page: Option<&url::Url>) -> Self {
        Self {
            page_url: page.map(url::Url::to_string).or_else(|| self.page_url.clone()),
            ..self.clone()
        }
    }

    /// A row carrying this request's facts; intake fills in the rest.
    pub fn new_row(
        &self,
        source_kind: SourceKind,
        source: &str,
        status: Status,
        fields: String,
    ) -> NewSubmission {
        NewSubmission {
            id: new_submission_id(),
            received_at: utc_timestamp(self.received_at),
            source_kind,
            source: source.to_owned(),
            status,
            next_attempt_at: None,
            last_error: None,
            email: None,
            subject: None,
            consent: None,
            consent_note: None,
            client_ip: self.client_ip.clone(),
            user_agent: self.user_agent.clone(),
            origin: self.origin.as_ref().map(|o| o.as_str().to_owned()),
            page_url: self.page_url.clone(),
            idempotency_key: self.idempotency_key.clone(),
            payload: None,
            fields,
            request_id: self.request_id.clone(),
            captcha: None,
            spam_verdict: None,
            spam_score: None,
            spam_reasons: None,
            files: None,
            consent_proof: None,
            trace_parent: crate::traces::current_traceparent(),
        }
    }
}
