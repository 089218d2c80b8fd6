//! Attachments (docs/files.md): a visitor's files arrive in a multipart form post, are
//! streamed to a spool file under the form's limits, judged by their content, scanned when a
//! scanner is configured, stored durably (locally or in S3-compatible object storage) before
//! the row is committed, and reach the conversation as signed links only.

pub mod link;
mod names;
pub mod scan;
pub mod store;
pub mod sweep;
pub mod upload;

pub use names::clean_name;
pub use store::FileStore;
pub use upload::{receive_multipart, Spooled, Upload};

use crate::http::problem::{Answer, ErrorEntry, Problem};
use crate::metrics::Outcome;
use actix_web::http::StatusCode;

/// One attachment as its row keeps it (the `files` column's JSON array).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredFile {
    /// The form field it came in.
    pub field: String,
    /// The visitor's name for it, cleaned; shown, never used to store it.
    pub name: String,
    pub size: u64,
    /// The type its content was detected as.
    #[serde(rename = "type")]
    pub content_type: String,
    /// The SHA-256 of its content: the stored object is `{submission id}/{sha256}`.
    pub sha256: String,
    /// The virus the scanner found; such a file is not kept and has no link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infected: Option<String>,
}

impl StoredFile {
    /// The object's key in the store.
    pub fn key(&self, submission_id: &str) -> String {
        format!("{submission_id}/{}", self.sha256)
    }

    /// The size as a person reads it (`812 B`, `14.2 KB`, `3.1 MB`).
    pub fn size_text(&self) -> String {
        match self.size {
            n if n < 1024 => format!("{n} B"),
            n if n < 1024 * 1024 => format!("{:.1} KB", n as f64 / 1024.0),
            n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
        }
    }
}

/// A row's `files` column, read.
pub fn files_of(column: Option<&str>) -> Vec<StoredFile> {
    column
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The type a file's first bytes show, and its group in `[forms.NAME.files] types`: judged
/// by the content only, never by the name or the type the client claimed. Text is UTF-8
/// with no NUL that no other type claims.
pub fn detect_type(head: &[u8], complete: bool) -> (String, Option<&'static str>) {
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        let group = match kind.matcher_type() {
            _ if mime == "application/pdf" => Some("pdf"),
            infer::MatcherType::Image => Some("image"),
            infer::MatcherType::Doc => Some("office"),
            _ => None,
        };
        return (mime.to_owned(), group);
    }
    if !head.contains(&0) && utf8_prefix(head, complete) {
        return ("text/plain".to_owned(), Some("text"));
    }
    ("application/octet-stream".to_owned(), None)
}

/// Whether `head` is UTF-8, allowing a character cut at its end when more follows.
fn utf8_prefix(head: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => !complete && e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Why a file was refused. Nothing of the post is stored or acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Body(#[from] crate::http::body::BodyError),
    #[error("Field `{field}` may not carry a file on this form.")]
    FieldNotAllowed { field: String },
    #[error("At most {limit} files may be sent with this form.")]
    TooMany { limit: usize },
    #[error("The file in `{field}` is larger than {limit} bytes.")]
    TooLarge { field: String, limit: u64 },
    #[error("The files together are larger than {limit} bytes.")]
    TotalTooLarge { limit: u64 },
    #[error("The file in `{field}` is {detected}, which this form does not accept.")]
    TypeNotAllowed { field: String, detected: String },
    #[error("The file name in `{field}` is not allowed: {why}.")]
    BadName { field: String, why: &'static str },
    #[error("The file could not be checked for viruses right now; please try again in a moment.")]
    ScannerUnavailable,
    #[error("The file could not be stored. Nothing was kept; please try again in a moment.")]
    Unavailable(#[source] anyhow::Error),
}

impl Problem for FileError {
    fn answer(&self) -> Answer {
        let refused = |status, code| Answer::new(status, code, Outcome::Refused);
        match self {
            Self::Body(body) => body.answer(),
            Self::FieldNotAllowed { .. } => {
                refused(StatusCode::UNPROCESSABLE_ENTITY, "FILE_FIELD_NOT_ALLOWED")
            }
            Self::TooMany { .. } => refused(StatusCode::UNPROCESSABLE_ENTITY, "TOO_MANY_FILES"),
            Self::TooLarge { .. } => refused(StatusCode::PAYLOAD_TOO_LARGE, "FILE_TOO_LARGE"),
            Self::TotalTooLarge { .. } => refused(StatusCode::PAYLOAD_TOO_LARGE, "FILES_TOO_LARGE"),
            Self::TypeNotAllowed { .. } => {
                refused(StatusCode::UNSUPPORTED_MEDIA_TYPE, "FILE_TYPE_NOT_ALLOWED")
            }
            Self::BadName { .. } => refused(StatusCode::UNPROCESSABLE_ENTITY, "FILE_NAME_INVALID"),
            Self::ScannerUnavailable => Answer::unavailable("SCANNER_UNAVAILABLE"),
            Self::Unavailable(_) => Answer::unavailable("UNAVAILABLE"),
        }
    }

    fn entries(&self) -> Vec<ErrorEntry> {
        if let Self::Body(body) = self {
            return body.entries();
        }
        let field = match self {
            Self::FieldNotAllowed { field }
            | Self::TooLarge { field, .. }
            | Self::TypeNotAllowed { field, .. }
            | Self::BadName { field, .. } => Some(field.clone()),
            _ => None,
        };
        vec![ErrorEntry {
            field,
            ..ErrorEntry::general(self)
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_content() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(detect_type(png, true), ("image/png".to_owned(), Some("image")));
        assert_eq!(detect_type(b"%PDF-1.7\n", true).1, Some("pdf"));
        assert_eq!(detect_type(b"\x7fELF\x02\x01\x01\0", true).1, None);
        assert_eq!(detect_type("héllo".as_bytes(), true).1, Some("text"));
        assert_eq!(detect_type(&"é".as_bytes()[..1], false).1, Some("text"));
        assert_eq!(detect_type(&"é".as_bytes()[..1], true).1, None);
        assert_eq!(detect_type(b"a\0b", true).1, None);
    }
}
