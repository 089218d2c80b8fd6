//! `GET` and `HEAD /files/{id}/{name}` (docs/files.md, "Links"): an attachment, for the holder
//! of its signed, unexpired link (and the admin login when `files.link_auth = "admin"`).
//! Anything else is 404, so a link someone guessed or changed tells nothing. The file goes out
//! as a download of the type its content showed, never rendered in the relay's origin.

use crate::config::LinkAuth;
use crate::files::{self, link, StoredFile};
use crate::state::AppState;
use actix_web::http::header::{self, ByteRangeSpec, HeaderValue, Range};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

/// The query of a file link.
#[derive(Debug, serde::Deserialize)]
pub struct LinkQuery {
    exp: Option<i64>,
    sig: Option<String>,
}

/// `GET`/`HEAD /files/{id}/{name}`.
pub async fn download(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<LinkQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let config = state.config();
    if config.files.link_auth == LinkAuth::Admin {
        if let Some(refusal) = super::access::refusal(&req, &state) {
            return refusal;
        }
    }
    let (id, _name) = path.into_inner();
    let now = (state.clock)().timestamp();
    let signed = match (query.exp, query.sig.as_deref()) {
        (Some(exp), Some(sig)) => link::verify(&state.link_key, &id, exp, sig, now),
        _ => false,
    };
    let Some((submission, index)) = link::parse_file_id(&id).filter(|_| signed) else {
        return not_found();
    };
    let file = match state.store.submission(submission).await {
        Ok(row) => row.and_then(|row| files::files_of(row.files.as_deref()).into_iter().nth(index)),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "reading a file's row failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    match file.filter(|f| f.infected.is_none()) {
        Some(file) => send(&req, &state, submission, &file).await,
        None => not_found(),
    }
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body("There is no such file, or its link has expired.\n")
}

/// The file, whole or the one range asked for, with the headers that keep a browser from
/// running it: a download (`Content-Disposition: attachment`), no type sniffing, and a
/// sandbox should it be opened anyway.
async fn send(req: &HttpRequest, state: &AppState, submission: &str, file: &StoredFile) -> HttpResponse {
    let range = match wanted_range(req, file.size) {
        Ok(range) => range,
        Err(()) => {
            return HttpResponse::build(StatusCode::RANGE_NOT_SATISFIABLE)
                .insert_header((header::CONTENT_RANGE, format!("bytes */{}", file.size)))
                .finish();
        }
    };
    let bytes = match state.files.read(&file.key(submission), range.clone()).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return not_found(),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "reading a stored file failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let mut response = match &range {
        Some(range) => {
            let mut partial = HttpResponse::PartialContent();
            partial.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", range.start, range.end - 1, file.size),
            ));
            partial
        }
        None => HttpResponse::Ok(),
    };
    let length = range.map_or(file.size, |r| r.end - r.start);
    let disposition = header::ContentDisposition {
        disposition: header::DispositionType::Attachment,
        parameters: vec![header::DispositionParam::FilenameExt(header::ExtendedValue {
            charset: header::Charset::Ext("UTF-8".to_owned()),
            language_tag: None,
            value: file.name.as_bytes().to_vec(),
        })],
    };
    response
        .insert_header((header::CONTENT_TYPE, file.content_type.as_str()))
        .insert_header(disposition)
        .insert_header((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; sandbox"),
        ))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(actix_web::body::SizedStream::new(length, bytes))
}

/// The one byte range a `Range` header asks for, `None` for the whole file; `Err` when it
/// cannot be served (past the end, or several ranges).
fn wanted_range(req: &HttpRequest, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(raw) = req.headers().get(header::RANGE) else {
        return Ok(None);
    };
    let Ok(Range::Bytes(specs)) = raw.to_str().unwrap_or("").parse::<Range>() else {
        return Ok(None);
    };
    match specs.as_slice() {
        [spec] => spec_range(spec, size).map(Some).ok_or(()),
        _ => Err(()),
    }
}

fn spec_range(spec: &ByteRangeSpec, size: u64) -> Option<std::ops::Range<u64>> {
    let (start, end) = spec.to_satisfiable_range(size)?;
    Some(start..end + 1)
}
