//! Notifications without Prometheus (docs/alerts.md): a watcher looks at the relay every
//! `alerts.check_interval_ms` and posts a short message to `alerts.webhook_url_env`'s URL
//! when deliveries pause and resume, when a dead row appears, when the log stops taking
//! writes, and when the oldest queued row passes `alerts.queue_age_s`. Each kind has its own
//! cooldown. A message that fails is logged and retried a few times in the background; it
//! never holds up anything else.

use crate::state::AppState;
use actix_web::web;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a notification is about; each kind keeps its own cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Paused,
    Resumed,
    DeadRow,
    NotWritable,
    QueueAge,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::Resumed => "resumed",
            Self::DeadRow => "dead_row",
            Self::NotWritable => "not_writable",
            Self::QueueAge => "queue_age",
        }
    }
}

/// What the watcher saw last time, to tell a change from a state that goes on.
#[derive(Debug, Default)]
struct Seen {
    paused: bool,
    newest_dead: Option<String>,
    last_sent: HashMap<Kind, Instant>,
}

/// Watches the relay until `stop`, when `alerts.webhook_url_env` names a URL.
pub async fn watch(state: web::Data<AppState>, url: SecretString, stop: CancellationToken) {
    let mut seen = Seen {
        newest_dead: newest_dead(&state).await,
        ..Seen::default()
    };
    loop {
        let every = Duration::from_millis(state.config().alerts.check_interval_ms);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        for (kind, text) in look(&state, &mut seen).await {
            let cooldown = Duration::from_secs(state.config().alerts.cooldown_s);
            let cooling = seen
                .last_sent
                .get(&kind)
                .is_some_and(|at| at.elapsed() < cooldown);
            if cooling {
                continue;
            }
            seen.last_sent.insert(kind, Instant::now());
            let message = message(&state, &text);
            let (client, url, tries) = (awc::Client::default(), url.clone(), state.config().alerts.retries);
            actix_web::rt::spawn(async move { send(&client, &url, kind, &message, tries).await });
        }
    }
}

/// What is worth saying now.
async fn look(state: &AppState, seen: &mut Seen) -> Vec<(Kind, String)> {
    let mut said = Vec::new();
    let paused = state.deliveries.readiness();
    match (&paused, seen.paused) {
        (Ok(None), true) => said.push((Kind::Resumed, "Deliveries to Ortto have resumed.".to_owned())),
        (Ok(Some((reason, until))), false) => said.push((
            Kind::Paused,
            format!(
                "Deliveries to Ortto are paused until {until}: {}.",
                reason.describe()
            ),
        )),
        (Err(why), false) => said.push((Kind::Paused, format!("Deliveries to Ortto are paused: {why}."))),
        _ => {}
    }
    seen.paused = !matches!(paused, Ok(None));
    let dead = newest_dead(state).await;
    if dead.is_some() && dead != seen.newest_dead {
        said.push((
            Kind::DeadRow,
            "A submission went dead: it will not be retried until someone replays it.".to_owned(),
        ));
        seen.newest_dead = dead;
    }
    if let Some(reason) = state.health.intake_refusal() {
        said.push((
            Kind::NotWritable,
            format!("The log is not taking writes, so intake answers 503: {reason}."),
        ));
    }
    if let Some(text) = old_queue(state).await {
        said.push((Kind::QueueAge, text));
    }
    said
}

/// The queue's oldest waiting row, when it was received longer than `alerts.queue_age_s` ago.
async fn old_queue(state: &AppState) -> Option<String> {
    let limit = state.config().alerts.queue_age_s;
    // The queue's one index-served query, not a count of rows, every few seconds.
    let queue = state.store.queue_stats().await.ok()?;
    let oldest = chrono::DateTime::parse_from_rfc3339(queue.oldest_received_at.as_deref()?).ok()?;
    let waited = (chrono::Utc::now() - oldest.with_timezone(&chrono::Utc)).num_seconds();
    (waited > limit as i64).then(|| {
        format!(
            "The oldest queued submission has waited {waited} s (alerts.queue_age_s = {limit}); {} are waiting.",
            queue.depth
        )
    })
}

async fn newest_dead(state: &AppState) -> Option<String> {
    let dead = state.store.latest_dead(1).await.ok()?;
    dead.into_iter().next().map(|row| row.id)
}

/// The message's words: what happened, which relay, and where to look.
fn message(state: &AppState, text: &str) -> String {
    let config = state.config();
    let status = config
        .server
        .public_url()
        .map(|url| {
            format!(
                " Status: {}",
                url.join("admin/").map(String::from).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    format!("talk-relay ({}): {text}{status}", state.instance)
}

/// Posts `{"text", "content"}` (Slack and Teams read `text`, Discord `content`), trying up to
/// `tries` times with a growing wait. The URL is a secret: it is never logged.
async fn send(client: &awc::Client, url: &SecretString, kind: Kind, message: &str, tries: u32) {
    let body = serde_json::json!({ "text": message, "content": message });
    for attempt in 1..=tries.max(1) {
        let sent = client
            .post(url.expose_secret())
            .timeout(Duration::from_secs(10))
            .send_json(&body)
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                tracing::info!(kind = kind.as_str(), "notification sent");
                return;
            }
            Ok(response) => {
                tracing::warn!(
                    kind = kind.as_str(),
                    attempt,
                    status = response.status().as_u16(),
                    "notification refused"
                )
            }
            // The error is named by its kind only: its text could carry the URL.
            Err(error) => {
                let why = match error {
                    awc::error::SendRequestError::Timeout => "timed out",
                    awc::error::SendRequestError::Connect(_) => "could not connect",
                    _ => "could not send",
                };
                tracing::warn!(kind = kind.as_str(), attempt, why, "notification not sent")
            }
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt - 1))).await;
    }
    tracing::error!(kind = kind.as_str(), tries, "notification given up");
}
