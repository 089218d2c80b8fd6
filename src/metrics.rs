//! Prometheus metrics, one registry per application (no process-global state). A leaf:
//! every layer counts into it, and it imports nothing of the relay.

use prometheus_client::encoding::{text::encode, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Mutex;

/// The `outcome` label of the intake, delivery and session counters (docs/operations.md,
/// "Metrics"): one word per way a request or an attempt can end.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Outcome {
    // intake
    Accepted,
    Duplicate,
    Ignored,
    Invalid,
    Spam,
    RateLimited,
    BadSignature,
    Refused,
    Unavailable,
    // delivery
    Delivered,
    DryRun,
    Retry,
    KeyRejected,
    Rejected,
    PausedForRefusals,
    // sessions and admin
    Issued,
    Disabled,
    Unauthorized,
    NoKey,
    UpstreamUnavailable,
    UpstreamRejected,
    Failed,
    // consent
    Unrecognised,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
            Self::Invalid => "invalid",
            Self::Spam => "spam",
            Self::RateLimited => "rate_limited",
            Self::BadSignature => "bad_signature",
            Self::Refused => "refused",
            Self::Unavailable => "unavailable",
            Self::Delivered => "delivered",
            Self::DryRun => "dry_run",
            Self::Retry => "retry",
            Self::KeyRejected => "key_rejected",
            Self::Rejected => "rejected",
            Self::PausedForRefusals => "paused_for_refusals",
            Self::Issued => "issued",
            Self::Disabled => "disabled",
            Self::Unauthorized => "unauthorized",
            Self::NoKey => "no_key",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamRejected => "upstream_rejected",
            Self::Failed => "failed",
            Self::Unrecognised => "unrecognised",
        }
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntakeLabels {
    pub source_kind: String,
    pub source: String,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpamLabels {
    pub form: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    pub scope: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub intake: Family<IntakeLabels, Counter>,
    pub rate_limited: Family<ScopeLabels, Counter>,
    pub rate_limiter_keys: Family<ScopeLabels, Gauge>,
    pub deliveries: Family<OutcomeLabels, Counter>,
    pub attempt_seconds: Histogram,
    pub queue_depth: Gauge,
    pub oldest_due_seconds: Gauge,
    pub paused: Family<ReasonLabels, Gauge>,
    pub sessions: Family<OutcomeLabels, Counter>,
    pub writer_batches: Counter,
    pub writer_jobs: Counter,
    pub delivery_claims: Counter,
    pub due_checks: Counter,
    pub writer_busy_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    pub database_free_bytes: Gauge,
    pub wal_bytes: Gauge,
    pub wal_peak_bytes: Gauge,
    pub database_writable: Gauge,
    pub consent_unrecognised: Family<IntakeLabels, Counter>,
    pub spam: Family<SpamLabels, Counter>,
    pub spam_filter_unavailable: Counter,
    pub files_stored: Counter,
    pub file_bytes_stored: Counter,
    pub scanner_unavailable: Counter,
    pub dead_rows: Counter,
    pub wal_limit_bytes: Gauge,
    pub database_min_free_bytes: Gauge,
    /// The queue as this process sampled it (the status page's chart).
    pub queue_samples: Mutex<std::collections::VecDeque<QueueSample>>,
}

/// The queue at one moment: its depth and how long its oldest row has been due.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueSample {
    /// `YYYY-MM-DDTHH:MM` (UTC).
    pub at: String,
    pub depth: i64,
    pub oldest_due_seconds: i64,
}

/// Samples kept: 48 hours at one every five minutes.
pub const QUEUE_SAMPLES_KEPT: usize = 48 * 12;

impl Metrics {
    /// Keeps one queue sample, dropping the oldest past [`QUEUE_SAMPLES_KEPT`].
    pub fn sample_queue(&self, sample: QueueSample) {
        let mut samples = self.queue_samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == QUEUE_SAMPLES_KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("talk_relay");
        let metrics = Self {
            registry: Mutex::new(Registry::default()),
            intake: Family::default(),
            rate_limited: Family::default(),
            rate_limiter_keys: Family::default(),
            deliveries: Family::default(),
            attempt_seconds: Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            queue_depth: Gauge::default(),
            oldest_due_seconds: Gauge::default(),
            paused: Family::default(),
            sessions: Family::default(),
            writer_batches: Counter::default(),
            writer_jobs: Counter::default(),
            delivery_claims: Counter::default(),
            due_checks: Counter::default(),
            writer_busy_seconds: Counter::default(),
            database_free_bytes: Gauge::default(),
            wal_bytes: Gauge::default(),
            wal_peak_bytes: Gauge::default(),
            database_writable: Gauge::default(),
            consent_unrecognised: Family::default(),
            spam: Family::default(),
            spam_filter_unavailable: Counter::default(),
            files_stored: Counter::default(),
            file_bytes_stored: Counter::default(),
            scanner_unavailable: Counter::default(),
            dead_rows: Counter::default(),
            wal_limit_bytes: Gauge::default(),
            database_min_free_bytes: Gauge::default(),
            queue_samples: Mutex::default(),
        };
        // Every metric, its name (after the `talk_relay_` prefix) and its help text.
        macro_rules! register {
            ($($name:literal, $help:literal, $metric:ident;)*) => {
                $(registry.register($name, $help, metrics.$metric.clone());)*
            };
        }
        register! {
            "intake", "Intake requests by source and outcome (docs/operations.md, \"Metrics\")", intake;
            "rate_limited", "Requests refused by a rate limit, by limit", rate_limited;
            "rate_limiter_keys", "Keys a rate limiter tracks right now", rate_limiter_keys;
            "deliveries", "Delivery attempts by outcome", deliveries;
            "delivery_attempt_duration_seconds", "Time from sending a compose request to its answer", attempt_seconds;
            "queue_depth", "Submissions waiting for delivery", queue_depth;
            "oldest_due_age_seconds", "How long the oldest waiting submission has been due", oldest_due_seconds;
            "deliveries_paused", "1 while deliveries are paused, by reason", paused;
            "sessions", "Talk session-token requests by outcome", sessions;
            "log_writer_batches", "Transactions the log writer committed (or tried to)", writer_batches;
            "log_writer_jobs", "Writes the log writer applied: recorded submissions, delivery outcomes, session logs, and on SQLite delivery claims", writer_jobs;
            "delivery_claims", "Claims of due rows the delivery loop wrote (docs/delivery.md, \"The delivery loop\")", delivery_claims;
            "delivery_due_checks", "Reads of how many rows are due, made before a claim when the loop was idle or its last claim came back short", due_checks;
            "log_writer_busy_seconds", "Time the log writer spent applying and committing batches; its rate near 1 means the single writer is saturated", writer_busy_seconds;
            "database_free_bytes", "Free space on the database's filesystem (-1 when unknown); intake refuses below database.min_free_mb", database_free_bytes;
            "wal_bytes", "Size of the SQLite WAL file now", wal_bytes;
            "wal_peak_bytes", "Largest size of the SQLite WAL file since start (its high-water mark)", wal_peak_bytes;
            "spam", "Posts quarantined as spam, by form and by each reason that counted toward the verdict (docs/spam.md)", spam;
            "spam_filter_unavailable", "Form posts that went on without the content filter's verdict: spamd was down, slow or answered nonsense (reason filter_unavailable)", spam_filter_unavailable;
            "files_stored", "Attachments stored with a recorded submission (docs/files.md)", files_stored;
            "file_bytes_stored", "Bytes of the attachments stored with recorded submissions", file_bytes_stored;
            "scanner_unavailable", "Attachments that went on without a virus scan: clamd was down, slow or answered nonsense (files.on_unreachable = \"accept\")", scanner_unavailable;
            "dead_rows", "Submissions that went dead after an attempt (refused by Ortto, or out of attempts or time); docs/alerts.yml alerts on any increase", dead_rows;
            "wal_limit_bytes", "database.max_wal_mb in bytes: the WAL's bound, for alerting near it", wal_limit_bytes;
            "database_min_free_bytes", "database.min_free_mb in bytes: below it intake answers 503", database_min_free_bytes;
            "database_writable", "1 while the log takes writes and has disk to spare, 0 while intake answers 503", database_writable;
            "consent_unrecognised", "Submissions whose consent answer was neither a ticked nor an unticked word, so no permission was sent", consent_unrecognised;
        }
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);
        registry.register("build_info", "The running build", build);
        *metrics.registry.lock().expect("fresh mutex") = registry;
        metrics
    }

    pub fn count_intake(&self, source_kind: &str, source: &str, outcome: Outcome) {
        self.intake
            .get_or_create(&IntakeLabels {
                source_kind: source_kind.to_owned(),
                source: source.to_owned(),
                outcome,
            })
            .inc();
    }

    pub fn count_consent_unrecognised(&self, source_kind: &str, source: &str) {
        self.consent_unrecognised
            .get_or_create(&IntakeLabels {
                source_kind: source_kind.to_owned(),
                source: source.to_owned(),
                outcome: Outcome::Unrecognised,
            })
            .inc();
    }

    pub fn count_spam(&self, form: &str, reason: &str) {
        self.spam
            .get_or_create(&SpamLabels {
                form: form.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn count_rate_limited(&self, scope: &str) {
        self.rate_limited
            .get_or_create(&ScopeLabels {
                scope: scope.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

/// The Prometheus text format 0.0.4 from OpenMetrics text: a counter's `HELP` and `TYPE`
/// lines name its `_total` samples, and there is no `# EOF` or `# UNIT`.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| line.strip_prefix(prefix).map(|rest| (prefix, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) { "_total" } else { "" };
                out.push_str(&format!("{prefix}{name}{suffix} {tail}"));
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_named_by_their_samples_in_the_text_format() {
        let text = super::openmetrics_to_text(
            "# HELP a_x Things.\n# TYPE a_x counter\na_x_total 3\n# HELP a_g Now.\n# TYPE a_g gauge\na_g 1\n# EOF\n",
        );
        assert_eq!(
            text,
            "# HELP a_x_total Things.\n# TYPE a_x_total counter\na_x_total 3\n# HELP a_g Now.\n# TYPE a_g gauge\na_g 1\n"
        );
    }
}
