//! The last refused form and hook requests (docs/operations.md, "Recent refusals"): kept in memory only,
//! a fixed number, so a flood cannot fill anything. No bodies and no secrets: the time, the
//! source, the answer's status and code, why, and the client's IP. And what intake logs while
//! it cannot record at all (`OutageLog`): a line, then summaries.

mod outage;

pub use outage::OutageLog;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many refusals are kept.
pub const KEPT: usize = 200;
const MAX_REASON_CHARS: usize = 300;

#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub at: String,
    pub source_kind: &'static str,
    pub source: String,
    pub status: u16,
    pub code: String,
    pub reason: String,
    pub client_ip: Option<String>,
}

pub struct Refusals {
    kept: Mutex<VecDeque<Refusal>>,
    capacity: usize,
    /// Refusals per hour (`YYYY-MM-DDTHH`) and code, for the status page's chart: the last
    /// [`HOURS_KEPT`] hours.
    hourly: Mutex<std::collections::BTreeMap<(String, String), u64>>,
}

/// How many hours of refusal counts are kept.
pub const HOURS_KEPT: usize = 48;

impl Refusals {
    pub fn new(capacity: usize) -> Self {
        Self {
            kept: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            hourly: Mutex::default(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keeps one refusal, dropping the oldest when full. The reason is cut to a line.
    pub fn push(&self, mut refusal: Refusal) {
        refusal.reason = refusal.reason.chars().take(MAX_REASON_CHARS).collect();
        refusal.source = refusal.source.chars().take(100).collect();
        self.count(&refusal);
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() == self.capacity {
            kept.pop_front();
        }
        kept.push_back(refusal);
    }

    fn count(&self, refusal: &Refusal) {
        let hour = refusal.at.chars().take(13).collect::<String>();
        let mut hourly = self
            .hourly
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *hourly.entry((hour, refusal.code.clone())).or_default() += 1;
        loop {
            let hours: std::collections::BTreeSet<&String> = hourly.keys().map(|(h, _)| h).collect();
            let Some(oldest) = hours
                .first()
                .filter(|_| hours.len() > HOURS_KEPT)
                .map(|h| (*h).clone())
            else {
                break;
            };
            hourly.retain(|(h, _), _| *h != oldest);
        }
    }

    /// Refusals per hour and code, oldest hour first.
    pub fn per_hour(&self) -> Vec<(String, String, u64)> {
        let hourly = self
            .hourly
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        hourly
            .iter()
            .map(|((hour, code), n)| (hour.clone(), code.clone(), *n))
            .collect()
    }

    /// Newest first.
    pub fn latest(&self, limit: usize) -> Vec<Refusal> {
        let kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.iter().rev().take(limit).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_and_cuts_long_reasons() {
        let refusals = Refusals::new(3);
        for n in 0..5 {
            refusals.push(Refusal {
                at: format!("t{n}"),
                source_kind: "hook",
                source: "x".into(),
                status: 401,
                code: "BAD_SIGNATURE".into(),
                reason: "r".repeat(1000),
                client_ip: None,
            });
        }
        let latest = refusals.latest(10);
        let times: Vec<&str> = latest.iter().map(|r| r.at.as_str()).collect();
        assert_eq!(times, ["t4", "t3", "t2"]);
        assert_eq!(latest[0].reason.len(), MAX_REASON_CHARS);
        assert_eq!(
            refusals.per_hour(),
            [
                ("t0".into(), "BAD_SIGNATURE".into(), 1),
                ("t1".into(), "BAD_SIGNATURE".into(), 1),
                ("t2".into(), "BAD_SIGNATURE".into(), 1),
                ("t3".into(), "BAD_SIGNATURE".into(), 1),
                ("t4".into(), "BAD_SIGNATURE".into(), 1)
            ]
        );
    }
}
