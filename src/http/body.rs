//! Reading a request body under the size and time limits, and telling its format.

use actix_web::web::{Bytes, BytesMut, Payload};
use futures_util::StreamExt;

/// Why a body could not become fields. Each names what a sender can fix.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("The request body is larger than {limit} bytes.")]
    TooLarge { limit: usize },
    #[error("The request body could not be read.")]
    Interrupted,
    #[error("The request body did not arrive within {secs} seconds.")]
    TimedOut { secs: u64 },
    #[error("Content type `{0}` is not accepted: send application/x-www-form-urlencoded, multipart/form-data or application/json.")]
    UnsupportedMediaType(String),
    #[error("Field `{field}` is not valid UTF-8.")]
    InvalidUtf8 { field: String },
    #[error("Field `{field}` is a file upload; file uploads are not supported yet.")]
    FileUpload { field: String },
    #[error("The request body is malformed: {0}.")]
    Malformed(String),
    #[error("The request has more than {limit} fields (limits.max_fields).")]
    TooManyFields { limit: usize },
    #[error("The batch has more than {limit} events; send at most {limit} in one call.")]
    TooManyEvents { limit: usize },
    #[error("A field name is longer than {limit} characters (limits.max_field_name_chars).")]
    FieldNameTooLong { limit: usize },
    #[error("Field `{field}` is longer than {limit} characters (limits.max_value_chars).")]
    ValueTooLong { field: String, limit: usize },
    #[error("The JSON body is nested deeper than {limit} levels (limits.max_json_depth).")]
    TooDeep { limit: usize },
}

impl crate::http::problem::Problem for BodyError {
    /// One status per body problem, on every endpoint.
    fn answer(&self) -> crate::http::problem::Answer {
        use actix_web::http::StatusCode;
        let (status, code) = match self {
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            Self::TimedOut { .. } => (StatusCode::REQUEST_TIMEOUT, "REQUEST_TIMEOUT"),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE"),
            Self::FileUpload { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "FILE_NOT_SUPPORTED"),
            Self::InvalidUtf8 { .. } => (StatusCode::BAD_REQUEST, "INVALID_ENCODING"),
            Self::Malformed(_) | Self::Interrupted => (StatusCode::BAD_REQUEST, "MALFORMED_BODY"),
            Self::TooManyFields { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "TOO_MANY_FIELDS"),
            Self::TooManyEvents { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "TOO_MANY_EVENTS"),
            Self::FieldNameTooLong { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "FIELD_NAME_TOO_LONG"),
            Self::ValueTooLong { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "FIELD_TOO_LONG"),
            Self::TooDeep { .. } => (StatusCode::BAD_REQUEST, "JSON_TOO_DEEP"),
        };
        crate::http::problem::Answer::new(status, code, crate::metrics::Outcome::Refused)
    }

    /// A problem in one field names it.
    fn entries(&self) -> Vec<crate::http::problem::ErrorEntry> {
        let field = match self {
            Self::InvalidUtf8 { field } | Self::FileUpload { field } | Self::ValueTooLong { field, .. } => {
                Some(field.clone())
            }
            _ => None,
        };
        vec![crate::http::problem::ErrorEntry {
            field,
            ..crate::http::problem::ErrorEntry::general(self)
        }]
    }
}

/// Reads a request's body under `server.max_body_bytes` and `server.body_timeout_ms`: a
/// declared or streamed size over the limit stops reading at once (chunked bodies included),
/// and a body that trickles in too slowly is abandoned, freeing its connection.
pub async fn read_request_body(
    req: &actix_web::HttpRequest,
    payload: Payload,
    server: &crate::config::ServerSettings,
) -> Result<Bytes, BodyError> {
    let declared_len = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let deadline = std::time::Duration::from_millis(server.body_timeout_ms);
    tokio::time::timeout(
        deadline,
        read_limited(payload, declared_len, server.max_body_bytes),
    )
    .await
    .map_err(|_| BodyError::TimedOut {
        secs: server.body_timeout_ms.div_ceil(1000),
    })?
}

async fn read_limited(
    mut payload: Payload,
    declared_len: Option<usize>,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if declared_len.is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared_len.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| BodyError::Interrupted)?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The body's media type, as far as intake cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    UrlEncoded,
    Multipart,
    Json,
}

impl BodyFormat {
    pub fn detect(content_type: Option<&str>) -> Result<Self, BodyError> {
        let raw = content_type.unwrap_or("").trim();
        let parsed: mime::Mime = raw
            .parse()
            .map_err(|_| BodyError::UnsupportedMediaType(raw.to_owned()))?;
        match (
            parsed.type_().as_str(),
            parsed.subtype().as_str(),
            parsed.suffix(),
        ) {
            ("application", "x-www-form-urlencoded", _) => Ok(Self::UrlEncoded),
            ("multipart", "form-data", _) => Ok(Self::Multipart),
            ("application", "json", _) | ("application", _, Some(mime::JSON)) => Ok(Self::Json),
            _ => Err(BodyError::UnsupportedMediaType(parsed.essence_str().to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(
            BodyFormat::detect(Some("application/json; charset=utf-8")).unwrap(),
            BodyFormat::Json
        );
        assert_eq!(
            BodyFormat::detect(Some("application/vnd.api+json")).unwrap(),
            BodyFormat::Json
        );
        assert!(matches!(
            BodyFormat::detect(Some("text/xml")),
            Err(BodyError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            BodyFormat::detect(None),
            Err(BodyError::UnsupportedMediaType(_))
        ));
    }
}
