//! What a compose attempt's result means for the row and for every other row.

use super::{OrttoReply, TransportError};
use std::time::Duration;

const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(10);
const EXCERPT_CHARS: usize = 500;

/// A compose answer that created the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub status: u16,
    pub conversation_id: Option<String>,
    pub person_id: Option<String>,
    pub person_status: Option<String>,
}

/// A 2xx answer's body, before an endpoint reads it: JSON (`Null` when it is not JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct SuccessBody {
    pub status: u16,
    pub json: serde_json::Value,
    pub excerpt: String,
}

/// What any answer from Ortto means. `S` is what a success carries: the raw body from
/// [`classify_reply`], or a [`Delivered`] conversation for compose.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyClass<S = SuccessBody> {
    Success(S),
    /// Worth trying again later: network errors, timeouts, 408, 425, 5xx, other statuses,
    /// and (compose) a 2xx that is not a compose answer: no conversation, so not delivered.
    Retry {
        status: Option<u16>,
        kind: &'static str,
        error: String,
    },
    /// 429: every delivery waits this long; attempts are not used up.
    RateLimited {
        wait: Duration,
    },
    /// 401/403: the key is wrong for every request; pause everything.
    KeyRejected {
        status: u16,
        error: String,
    },
    /// Any other 4xx: this request will never be accepted.
    Rejected {
        status: u16,
        error: String,
    },
}

/// A compose attempt's meaning: delivered only with a conversation.
pub type ComposeOutcome = ReplyClass<Delivered>;

/// Classifies one answer from Ortto (compose or session), the same way everywhere.
pub fn classify_reply(result: &Result<OrttoReply, TransportError>) -> ReplyClass {
    let reply = match result {
        Ok(reply) => reply,
        Err(error) => {
            return ReplyClass::Retry {
                status: None,
                kind: error.kind(),
                error: error.to_string(),
            }
        }
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
    let status = reply.status;
    match status {
        200..=299 => ReplyClass::Success(SuccessBody {
            status,
            json: json.unwrap_or(serde_json::Value::Null),
            excerpt: response_excerpt(&reply.body),
        }),
        429 => {
            let hinted = json
                .as_ref()
                .and_then(|j| j.pointer("/error/try-in-seconds"))
                .and_then(serde_json::Value::as_f64)
                .map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
                .or(reply.retry_after.map(|s| Duration::from_secs(s.min(3600))));
            ReplyClass::RateLimited {
                wait: hinted.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            }
        }
        401 | 403 => ReplyClass::KeyRejected {
            status,
            error: ortto_message(reply, json.as_ref()),
        },
        408 | 425 | 500..=599 => ReplyClass::Retry {
            status: Some(status),
            kind: "http",
            error: ortto_message(reply, json.as_ref()),
        },
        400..=499 => ReplyClass::Rejected {
            status,
            error: ortto_message(reply, json.as_ref()),
        },
        _ => ReplyClass::Retry {
            status: Some(status),
            kind: "http",
            error: format!("unexpected HTTP status {status}"),
        },
    }
}

/// Classifies one compose attempt: a success counts only with a conversation.
pub fn classify_compose(result: &Result<OrttoReply, TransportError>) -> ComposeOutcome {
    match classify_reply(result) {
        ReplyClass::Success(SuccessBody {
            status,
            json,
            excerpt,
        }) => {
            let text = |key: &str| json.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            match text("conversation_id").filter(|id| !id.trim().is_empty()) {
                Some(conversation_id) => ReplyClass::Success(Delivered {
                    status,
                    conversation_id: Some(conversation_id),
                    person_id: text("person_id"),
                    person_status: text("person_status"),
                }),
                None => ReplyClass::Retry {
                    status: Some(status),
                    kind: "unexpected_response",
                    error: format!("HTTP {status} without a compose answer (no conversation_id): {excerpt}"),
                },
            }
        }
        ReplyClass::Retry { status, kind, error } => ReplyClass::Retry { status, kind, error },
        ReplyClass::RateLimited { wait } => ReplyClass::RateLimited { wait },
        ReplyClass::KeyRejected { status, error } => ReplyClass::KeyRejected { status, error },
        ReplyClass::Rejected { status, error } => ReplyClass::Rejected { status, error },
    }
}

/// Ortto's own words when it gave some (`error.message`, `message`, `error`), else a body excerpt.
fn ortto_message(reply: &OrttoReply, json: Option<&serde_json::Value>) -> String {
    let from_json = json.and_then(|j| {
        j.pointer("/error/message")
            .or_else(|| j.get("message"))
            .or_else(|| j.get("error").filter(|e| e.is_string()))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    });
    let message = from_json.unwrap_or_else(|| response_excerpt(&reply.body));
    format!("HTTP {}: {}", reply.status, message)
}

pub fn response_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web::Bytes;

    fn reply(status: u16, body: &str) -> Result<OrttoReply, TransportError> {
        Ok(OrttoReply {
            status,
            body: Bytes::from(body.to_owned()),
            retry_after: None,
        })
    }

    #[test]
    fn rate_limit_hint_from_body_or_header() {
        let hinted = classify_compose(&reply(
            429,
            r#"{"error":{"code":"rate-limit","message":"rate limit","try-in-seconds":7}}"#,
        ));
        assert_eq!(
            hinted,
            ComposeOutcome::RateLimited {
                wait: Duration::from_secs(7)
            }
        );
        let header = Ok(OrttoReply {
            status: 429,
            body: Bytes::new(),
            retry_after: Some(3),
        });
        assert_eq!(
            classify_compose(&header),
            ComposeOutcome::RateLimited {
                wait: Duration::from_secs(3)
            }
        );
    }

    #[test]
    fn statuses_by_class() {
        assert!(matches!(
            classify_compose(&reply(503, "")),
            ComposeOutcome::Retry {
                status: Some(503),
                ..
            }
        ));
        assert!(matches!(
            classify_compose(&reply(408, "")),
            ComposeOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_compose(&reply(425, "")),
            ComposeOutcome::Retry { .. }
        ));
        assert!(matches!(
            classify_compose(&reply(403, "")),
            ComposeOutcome::KeyRejected { status: 403, .. }
        ));
        let rejected = classify_compose(&reply(400, r#"{"error":{"message":"invalid field"}}"#));
        assert_eq!(
            rejected,
            ComposeOutcome::Rejected {
                status: 400,
                error: "HTTP 400: invalid field".to_owned()
            }
        );
    }
}
