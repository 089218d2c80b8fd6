//! A multipart form post, read as it streams in (docs/files.md, "Limits"): text parts become
//! fields under the input limits; file parts are written to the spool as they arrive, hashed
//! and typed on the way, and never held whole in memory. Every limit is checked while the
//! body streams, so the first one crossed stops the read and answers at once.

use super::{FileError, StoredFile};
use crate::config::{Config, FormFiles};
use crate::domain::SubmittedFields;
use crate::http::body::BodyError;
use crate::http::parse::LimitedFields;
use actix_web::web::{Bytes, Payload};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How many of a file's first bytes its type is judged by (enough for office documents,
/// whose type shows in the first entries of their zip).
const HEAD_BYTES: usize = 16 * 1024;
/// What a part's headers and boundary may add to a file's size in the body.
const PART_OVERHEAD: u64 = 1024;

/// What a multipart post brought: its text fields and its spooled files.
#[derive(Debug, Default)]
pub struct Upload {
    pub fields: SubmittedFields,
    pub files: Vec<Spooled>,
}

/// A file written to the spool and fsynced; removed again if it is never placed.
#[derive(Debug)]
pub struct Spooled {
    pub file: StoredFile,
    pub path: PathBuf,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        // Placed files were renamed or uploaded away; what is left here was refused.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads a multipart form post under the input limits and, for a form with a
/// `[forms.NAME.files]` section, its file limits, within `files.upload_timeout_ms` in all
/// and `server.body_timeout_ms` between two pieces. A form without that section refuses
/// any file part, as for a body that is not multipart.
pub async fn receive_multipart(
    req: &actix_web::HttpRequest,
    payload: Payload,
    config: &Config,
    rules: Option<&FormFiles>,
    spool: PathBuf,
    free_bytes: Option<u64>,
) -> Result<Upload, FileError> {
    let content_type = req.headers().get("content-type").and_then(|v| v.to_str().ok());
    let boundary = multer::parse_boundary(content_type.unwrap_or(""))
        .map_err(|_| BodyError::Malformed("multipart body without a boundary".to_owned()))?;
    let limit = body_limit(config, rules);
    let declared: Option<u64> = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit, rules));
    }
    let stopped = Rc::new(RefCell::new(None));
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    let pump = pump(
        payload,
        sender,
        limit,
        config.server.body_timeout_ms,
        stopped.clone(),
    );
    let reader = Reader {
        config,
        rules,
        spool,
        free_bytes,
        stopped: stopped.clone(),
        limit,
    };
    let chunks = tokio_stream_of(receiver);
    let parse = reader.read(multer::Multipart::new(chunks, boundary));
    let timed = async {
        tokio::pin!(parse, pump);
        tokio::select! {
            read = &mut parse => read,
            () = &mut pump => parse.await,
        }
    };
    let total = Duration::from_millis(config.files.upload_timeout_ms);
    tokio::time::timeout(total, timed).await.map_err(|_| {
        FileError::Body(BodyError::TimedOut {
            secs: config.files.upload_timeout_ms.div_ceil(1000),
        })
    })?
}

/// The most a multipart body may hold: the text limit, and for a form with files the files'
/// total and their parts' headers.
fn body_limit(config: &Config, rules: Option<&FormFiles>) -> u64 {
    let text = config.server.max_body_bytes as u64;
    rules.map_or(text, |r| {
        text + r.max_total_bytes + r.max_files as u64 * PART_OVERHEAD
    })
}

fn too_large(limit: u64, rules: Option<&FormFiles>) -> FileError {
    match rules {
        Some(rules) => FileError::TotalTooLarge {
            limit: rules.max_total_bytes,
        },
        None => FileError::Body(BodyError::TooLarge {
            limit: limit as usize,
        }),
    }
}

fn tokio_stream_of(
    mut receiver: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// Why the body stopped arriving, when it was the relay that stopped it.
type Stopped = Rc<RefCell<Option<FileError>>>;

/// Moves the body's pieces to the parser (actix's payload is bound to its thread; the
/// parser wants a stream it could send), counting bytes against `limit` and waiting at most
/// `idle_ms` for each piece.
async fn pump(
    mut payload: Payload,
    sender: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    limit: u64,
    idle_ms: u64,
    stopped: Stopped,
) {
    let mut seen = 0u64;
    loop {
        let piece = tokio::time::timeout(Duration::from_millis(idle_ms), payload.next()).await;
        let problem = match piece {
            Ok(None) => return,
            Ok(Some(Ok(chunk))) => {
                seen += chunk.len() as u64;
                if seen <= limit {
                    if sender.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                    continue;
                }
                FileError::Body(BodyError::TooLarge {
                    limit: limit as usize,
                })
            }
            Ok(Some(Err(_))) => FileError::Body(BodyError::Interrupted),
            Err(_) => FileError::Body(BodyError::TimedOut {
                secs: idle_ms.div_ceil(1000),
            }),
        };
        *stopped.borrow_mut() = Some(problem);
        let _ = sender.send(Err(std::io::Error::other("stopped"))).await;
        return;
    }
}

/// The parser's side: parts in order, each under its limits.
struct Reader<'a> {
    config: &'a Config,
    rules: Option<&'a FormFiles>,
    spool: PathBuf,
    free_bytes: Option<u64>,
    stopped: Stopped,
    limit: u64,
}

impl Reader<'_> {
    async fn read(self, mut multipart: multer::Multipart<'static>) -> Result<Upload, FileError> {
        let limits = &self.config.limits;
        let mut fields = LimitedFields::new(limits);
        let mut files = Vec::new();
        let (mut parts, mut text_bytes, mut file_bytes) = (0usize, 0u64, 0u64);
        while let Some(mut part) = multipart.next_field().await.map_err(|e| self.broken(e))? {
            parts += 1;
            if parts > limits.max_fields {
                return Err(BodyError::TooManyFields {
                    limit: limits.max_fields,
                }
                .into());
            }
            let name = match part.name() {
                Some(name) if !name.is_empty() => name.to_owned(),
                _ => return Err(BodyError::Malformed("a part has no name".to_owned()).into()),
            };
            let Some(file_name) = part.file_name().map(str::to_owned) else {
                let value = self.text(&mut part, &name, &mut text_bytes).await?;
                fields.push(name, value)?;
                continue;
            };
            // A file input left empty sends an empty part: no file.
            let Some(first) = self.first_piece(&mut part).await? else {
                continue;
            };
            let Some(rules) = self.rules else {
                return Err(BodyError::FileUpload { field: name }.into());
            };
            let kept = files.len();
            let file = self
                .file(
                    &mut part,
                    first,
                    rules,
                    (&name, &file_name, kept),
                    &mut file_bytes,
                )
                .await?;
            files.push(file);
        }
        Ok(Upload {
            fields: fields.finish(),
            files,
        })
    }

    /// The parser's error, or the reason the relay stopped the body under it.
    fn broken(&self, error: multer::Error) -> FileError {
        if let Some(stopped) = self.stopped.borrow_mut().take() {
            return stopped;
        }
        match error {
            multer::Error::StreamReadFailed(_) => FileError::Body(BodyError::Interrupted),
            other => FileError::Body(BodyError::Malformed(format!("bad multipart body ({other})"))),
        }
    }

    /// A part's first bytes; `None` when it has none.
    async fn first_piece(&self, part: &mut multer::Field<'static>) -> Result<Option<Bytes>, FileError> {
        while let Some(piece) = part.chunk().await.map_err(|e| self.broken(e))? {
            if !piece.is_empty() {
                return Ok(Some(piece));
            }
        }
        Ok(None)
    }

    async fn text(
        &self,
        part: &mut multer::Field<'static>,
        name: &str,
        text_bytes: &mut u64,
    ) -> Result<String, FileError> {
        let max = self.config.server.max_body_bytes as u64;
        let mut value = Vec::new();
        while let Some(chunk) = part.chunk().await.map_err(|e| self.broken(e))? {
            *text_bytes += chunk.len() as u64;
            if *text_bytes > max {
                return Err(BodyError::TooLarge { limit: max as usize }.into());
            }
            value.extend_from_slice(&chunk);
        }
        String::from_utf8(value).map_err(|_| {
            BodyError::InvalidUtf8 {
                field: name.to_owned(),
            }
            .into()
        })
    }

    /// Whether a file part may come in at all, before a byte of it is stored: the count, the
    /// field, the name (answered cleaned), and room on the disk.
    fn admit(
        &self,
        rules: &FormFiles,
        field: &str,
        raw_name: &str,
        kept: usize,
    ) -> Result<String, FileError> {
        if kept == rules.max_files {
            return Err(FileError::TooMany {
                limit: rules.max_files,
            });
        }
        if !rules.allows_field(field) {
            return Err(FileError::FieldNotAllowed {
                field: field.to_owned(),
            });
        }
        let name = super::clean_name(raw_name).map_err(|why| FileError::BadName {
            field: field.to_owned(),
            why,
        })?;
        let min_free = self.config.database.min_free_bytes();
        if self
            .free_bytes
            .is_some_and(|free| free < min_free.saturating_add(rules.max_file_bytes))
        {
            return Err(FileError::Unavailable(anyhow::anyhow!(
                "the file store's filesystem is nearly full (database.min_free_mb)"
            )));
        }
        Ok(name)
    }

    /// One file part to the spool, from its first piece on.
    async fn file(
        &self,
        part: &mut multer::Field<'static>,
        first: Bytes,
        rules: &FormFiles,
        (field, raw_name, kept): (&str, &str, usize),
        total: &mut u64,
    ) -> Result<Spooled, FileError> {
        let name = self.admit(rules, field, raw_name, kept)?;
        let path = self.spool.join(uuid::Uuid::now_v7().to_string());
        let mut spooled = Spooled {
            file: StoredFile {
                field: field.to_owned(),
                name,
                size: 0,
                content_type: String::new(),
                sha256: String::new(),
                infected: None,
            },
            path,
        };
        let mut sink = Sink::create(&spooled.path).await?;
        let mut chunk = Some(first);
        while let Some(piece) = chunk {
            spooled.file.size += piece.len() as u64;
            *total += piece.len() as u64;
            if spooled.file.size > rules.max_file_bytes {
                return Err(FileError::TooLarge {
                    field: field.to_owned(),
                    limit: rules.max_file_bytes,
                });
            }
            if *total > rules.max_total_bytes {
                return Err(too_large(self.limit, Some(rules)));
            }
            sink.write(&piece).await?;
            chunk = part.chunk().await.map_err(|e| self.broken(e))?;
        }
        let (sha256, head) = sink.finish().await?;
        let (detected, group) = super::detect_type(&head, spooled.file.size <= HEAD_BYTES as u64);
        if !rules.allows_type(&detected, group) {
            return Err(FileError::TypeNotAllowed {
                field: field.to_owned(),
                detected,
            });
        }
        spooled.file.sha256 = sha256;
        spooled.file.content_type = detected;
        Ok(spooled)
    }
}

/// A spool file being written: its hash and its first bytes are taken on the way.
struct Sink {
    file: tokio::fs::File,
    hash: Sha256,
    head: Vec<u8>,
}

impl Sink {
    async fn create(path: &std::path::Path) -> Result<Self, FileError> {
        let file = tokio::fs::File::create(path).await.map_err(unavailable)?;
        Ok(Self {
            file,
            hash: Sha256::new(),
            head: Vec::new(),
        })
    }

    async fn write(&mut self, piece: &[u8]) -> Result<(), FileError> {
        self.hash.update(piece);
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        self.head.extend_from_slice(&piece[..room.min(piece.len())]);
        self.file.write_all(piece).await.map_err(unavailable)
    }

    /// Flushed and fsynced: the file is on disk before anything refers to it.
    async fn finish(mut self) -> Result<(String, Vec<u8>), FileError> {
        self.file.flush().await.map_err(unavailable)?;
        self.file.sync_all().await.map_err(unavailable)?;
        Ok((hex::encode(self.hash.finalize()), self.head))
    }
}

fn unavailable(error: std::io::Error) -> FileError {
    FileError::Unavailable(anyhow::Error::new(error).context("writing an uploaded file"))
}
