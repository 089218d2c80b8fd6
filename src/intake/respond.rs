//! Respond (README, "A plain HTML form" and "fetch()"): the same outcome, shaped for a browser (redirects, small HTML
//! pages) or for a script (JSON, never a redirect).

use super::error::IntakeError;
use super::kind::ResponseKind;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde_json::json;
use url::Url;

/// What the relay did with an accepted (or silently discarded) submission.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: String,
    pub duplicate: bool,
    /// Where a browser goes next; `None` means the built-in thank-you page.
    pub next: Option<Url>,
    /// The form's name, for the thank-you page.
    pub source: String,
    /// What it counts as in `/metrics`: `accepted` or `spam` (which answers the same).
    pub outcome: &'static str,
}

/// A submission taken. In dry run (no Ortto key) the API says so: `"status": "dry_run"`,
/// since nothing will be sent until a key is set and the rows are replayed.
pub fn accepted(kind: ResponseKind, receipt: &Receipt, dry_run: bool) -> HttpResponse {
    match kind {
        ResponseKind::Browser => {
            let location = receipt
                .next
                .as_ref()
                .map_or_else(|| format!("/thanks?form={}", receipt.source), Url::to_string);
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish()
        }
        ResponseKind::Api if receipt.duplicate => {
            HttpResponse::Ok().json(json!({ "ok": true, "id": receipt.id, "status": "duplicate" }))
        }
        ResponseKind::Api => {
            let status = if dry_run { "dry_run" } else { "queued" };
            let mut body = json!({ "ok": true, "id": receipt.id, "status": status });
            if let Some(next) = &receipt.next {
                body["next"] = json!(next.as_str());
            }
            HttpResponse::Accepted().json(body)
        }
    }
}

pub fn refused(kind: ResponseKind, error: &IntakeError, back_link: Option<&str>) -> HttpResponse {
    let status = error.status();
    let mut response = match kind {
        ResponseKind::Api => {
            HttpResponse::build(status).json(crate::http::error_body(&error.to_string(), error.entries()))
        }
        ResponseKind::Browser => html(status, &error_page(status, error, back_link)),
    };
    let retry_after = match error {
        IntakeError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
        _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
        _ => None,
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    close_if_timed_out(&mut response);
    response
}

/// A body that timed out leaves the connection mid-request: close it rather than reuse it.
pub fn close_if_timed_out(response: &mut HttpResponse) {
    if response.status() == StatusCode::REQUEST_TIMEOUT {
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
}

pub fn html(status: StatusCode, page: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page.to_owned())
}

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE_STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:2rem 1rem;color:#1f2328;background:#f6f8fa}\
main{max-width:36rem;margin:0 auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.5rem 2rem}\
h1{font-size:1.4rem;margin-top:0}li{margin:.3rem 0}.code{color:#656d76;font-size:.85rem}a{color:#0969da}";

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{PAGE_STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

fn error_page(status: StatusCode, error: &IntakeError, back_link: Option<&str>) -> String {
    let heading = match status {
        StatusCode::UNPROCESSABLE_ENTITY => "Please check the form",
        StatusCode::NOT_FOUND => "Form not found",
        StatusCode::PAYLOAD_TOO_LARGE => "That was too much to send",
        StatusCode::SERVICE_UNAVAILABLE => "Please try again",
        StatusCode::TOO_MANY_REQUESTS => "Please wait a moment",
        StatusCode::FORBIDDEN => "The form could not be accepted",
        _ => "The form could not be sent",
    };
    let items: String = error
        .entries()
        .iter()
        .map(|e| match &e.field {
            Some(field) => format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(field),
                escape(&e.message)
            ),
            None => format!("<li>{}</li>", escape(&e.message)),
        })
        .collect();
    let back = match back_link {
        Some(link) => format!("<p><a href=\"{}\">← Back to the form</a></p>", escape(link)),
        None => "<p>Use your browser's back button to return to the form.</p>".to_owned(),
    };
    let body = format!(
        "<h1>{heading}</h1><ul>{items}</ul>{back}<p class=\"code\">Error {}</p>",
        status.as_u16()
    );
    page(heading, &body)
}

pub fn thank_you_page(title: Option<&str>) -> String {
    let sent = match title {
        Some(title) => format!("Your message to <em>{}</em> has been sent.", escape(title)),
        None => "Your message has been sent.".to_owned(),
    };
    page(
        "Thank you",
        &format!("<h1>Thank you!</h1><p>{sent}</p><p>We'll get back to you soon.</p>"),
    )
}
