//! A form post's files between the body and the row (docs/files.md): read with the body,
//! scanned, linked in the messages, and stored durably just before the row is committed.

use super::IntakeError;
use crate::config::{CaptchaUnreachable, Config, FormConfig};
use crate::domain::SubmittedFields;
use crate::files::{self, scan::Scan, FileError, Spooled};
use crate::http::body;
use crate::mapping::AttachmentLine;
use crate::spam;
use crate::state::AppState;
use crate::store::{NewSubmission, Recorded};
use actix_web::{web, HttpRequest};

/// Reads a form post's body: a multipart one streams (with its files, for a form that takes
/// them); any other is read whole under `server.max_body_bytes`.
pub async fn read_fields(
    form: &FormConfig,
    config: &Config,
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
) -> Result<(SubmittedFields, Vec<Spooled>), IntakeError> {
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let format = body::BodyFormat::detect(content_type)?;
    if format == body::BodyFormat::Multipart {
        let (spool, free) = (state.files.spool_dir(), state.files.free_bytes());
        let upload = files::receive_multipart(req, body, config, form.files.as_ref(), spool, free).await?;
        return Ok((upload.fields, upload.files));
    }
    let bytes = body::read_request_body(req, body, &config.server).await?;
    let fields = crate::http::parse::parse_fields(format, content_type, bytes, &config.limits).await?;
    Ok((fields, Vec::new()))
}

/// A form post's files on their way to the row: the submission id they are stored under,
/// and their links' base and expiry.
pub struct Attachments {
    pub submission_id: String,
    pub spooled: Vec<Spooled>,
    base: String,
    expires: i64,
}

impl Attachments {
    pub fn new(spooled: Vec<Spooled>, config: &Config, state: &AppState, base: String) -> Option<Self> {
        if spooled.is_empty() {
            return None;
        }
        let ttl = i64::from(config.files.link_ttl_days) * 86_400;
        Some(Self {
            submission_id: crate::domain::new_submission_id(),
            spooled,
            base,
            expires: (state.clock)().timestamp() + ttl,
        })
    }

    /// Each file as the messages list it, with its signed link.
    pub fn lines(&self, state: &AppState) -> Vec<AttachmentLine> {
        self.spooled
            .iter()
            .enumerate()
            .map(|(index, spooled)| {
                let file = &spooled.file;
                let id = files::link::file_id(&self.submission_id, index);
                AttachmentLine {
                    name: file.name.clone(),
                    size: file.size_text(),
                    content_type: file.content_type.clone(),
                    link: file.infected.is_none().then(|| {
                        files::link::signed_link(&self.base, &state.link_key, &id, &file.name, self.expires)
                    }),
                }
            })
            .collect()
    }

    /// Stores every clean file under the submission (fsynced, or uploaded), and answers the
    /// row's `files` column. A file the scanner found infected is dropped here.
    pub async fn place(&self, state: &AppState) -> Result<String, IntakeError> {
        for spooled in self.spooled.iter().filter(|s| s.file.infected.is_none()) {
            let key = spooled.file.key(&self.submission_id);
            state
                .files
                .place(&spooled.path, &key)
                .await
                .map_err(FileError::Unavailable)?;
        }
        let kept: Vec<&files::StoredFile> = self.spooled.iter().map(|s| &s.file).collect();
        Ok(serde_json::to_string(&kept).expect("file lists serialise"))
    }
}

/// Records `row` with its files: they go to the store before the row is committed
/// (docs/files.md, "Durability"), under the row's id. An invalid post passes `None`: it keeps
/// no file.
pub async fn record_with_files(
    state: &AppState,
    mut row: NewSubmission,
    files: Option<&Attachments>,
) -> Result<Recorded, IntakeError> {
    let Some(files) = files else {
        return super::record(state, row).await;
    };
    row.files = Some(files.place(state).await?);
    row.id = files.submission_id.clone();
    let recorded = super::record(state, row).await?;
    if let Recorded::New(_) = &recorded {
        state.metrics.files_stored.inc_by(files.spooled.len() as u64);
        let bytes: u64 = files.spooled.iter().map(|s| s.file.size).sum();
        state.metrics.file_bytes_stored.inc_by(bytes);
    }
    Ok(recorded)
}

/// Scans each file with clamd when `files.clamd_address` is set: an infected file is marked
/// (and never stored), and quarantines the post with the reason `virus`. A scanner that is
/// down follows `files.on_unreachable`.
pub async fn scan(
    config: &Config,
    state: &AppState,
    form: &FormConfig,
    spooled: &mut [Spooled],
) -> Result<Vec<spam::Reason>, IntakeError> {
    let address = config.files.clamd_address.trim();
    if address.is_empty() {
        return Ok(Vec::new());
    }
    let timeout = std::time::Duration::from_millis(config.files.scan_timeout_ms);
    let mut reasons = Vec::new();
    for spooled in spooled.iter_mut() {
        match files::scan::scan(address, &spooled.path, timeout).await {
            Scan::Clean => {}
            Scan::Infected(name) => {
                tracing::warn!(form = %form.name, virus = %name, "an uploaded file is infected; the post is quarantined");
                reasons.push(spam::Reason::new(
                    "virus",
                    super::screen::QUARANTINED,
                    format!("{}: {name}", spooled.file.name),
                ));
                spooled.file.infected = Some(name);
            }
            Scan::Unreachable(why) => {
                tracing::warn!(form = %form.name, %why, "virus scanner unavailable");
                state.metrics.scanner_unavailable.inc();
                if config.files.on_unreachable == CaptchaUnreachable::Refuse {
                    return Err(FileError::ScannerUnavailable.into());
                }
            }
        }
    }
    Ok(reasons)
}
