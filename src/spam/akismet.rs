//! Akismet's `comment-check` (docs/spam.md, "Akismet"), bring your own key. `true` is spam;
//! with the `X-akismet-pro-tip: discard` hint it is blatant spam, held all the same (a
//! quarantine never drops a post). Anything else is `filter_unavailable`.

use super::Reason;
use crate::config::SpamFilterSettings;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// What Akismet is told about a post.
pub struct Comment<'a> {
    pub user_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub referrer: Option<&'a str>,
    pub author: Option<&'a str>,
    pub email: Option<&'a str>,
    pub content: &'a str,
}

/// Asks Akismet about `comment` within `spam_filter.timeout_ms`; `None` when it says ham.
pub async fn check(
    http: &awc::Client,
    settings: &SpamFilterSettings,
    key: &SecretString,
    comment: &Comment<'_>,
) -> Option<Reason> {
    let url = format!("{}/1.1/comment-check", settings.akismet_url.trim_end_matches('/'));
    let form = [
        ("api_key", Some(key.expose_secret())),
        ("blog", Some(settings.akismet_site.as_str())),
        ("user_ip", comment.user_ip),
        ("user_agent", comment.user_agent),
        ("referrer", comment.referrer),
        ("comment_type", Some("contact-form")),
        ("comment_author", comment.author),
        ("comment_author_email", comment.email),
        ("comment_content", Some(comment.content)),
    ];
    let form: Vec<(&str, &str)> = form.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
    let unavailable = |why: String| Some(Reason::new("filter_unavailable", 0, format!("akismet: {why}")));
    let sent = http
        .post(&url)
        .timeout(Duration::from_millis(settings.timeout_ms))
        .send_form(&form)
        .await;
    let mut answer = match sent {
        Ok(answer) => answer,
        Err(error) => return unavailable(error.to_string()),
    };
    let discard = answer
        .headers()
        .get("x-akismet-pro-tip")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"discard"));
    let help = answer
        .headers()
        .get("x-akismet-debug-help")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match answer.body().limit(4096).await {
        Ok(body) => body,
        Err(error) => return unavailable(error.to_string()),
    };
    match (answer.status().as_u16(), body.trim_ascii()) {
        (200, b"true") if discard => Some(Reason::new("akismet", 100, "spam; discard")),
        (200, b"true") => Some(Reason::new("akismet", 10, "spam")),
        (200, b"false") => None,
        (status, said) => unavailable(format!(
            "HTTP {status}: {}{}",
            String::from_utf8_lossy(&said[..said.len().min(80)]),
            help.map(|h| format!(" ({h})")).unwrap_or_default()
        )),
    }
}
