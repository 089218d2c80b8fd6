//! The outbound budget and the reasons deliveries pause: shared by the delivery worker, the
//! session endpoint and the stores that keep a fleet's budget (a leaf: it needs only config).
//!
//! Ortto's two documented windows (docs/delivery.md, "Delivery guarantees"). A
//! GCRA per window with burst `b` and interval `T` lets through at most `b + W/T` requests in
//! any window `W`, so `T` keeps that sum at the limit, with a 5% margin for clock skew.
//!
//! One interface, two keepers: [`OutboundLimiter`] in the process (SQLite: one relay per
//! file), and a row per window in PostgreSQL updated with the database's clock, so a fleet
//! of relays shares one budget and one pause (docs/scale-out.md, "Running more than one relay").
//! Delivery takes tokens before it claims rows and gives back what it could not use; nobody
//! waits on the budget (a wait inside a lease could outlast it).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a take got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grant {
    /// Tokens taken (at most what was asked for).
    pub granted: usize,
    /// With nothing granted: how long until a token may be free.
    pub next_slot: Option<Duration>,
    /// Deliveries are paused fleet-wide (another relay's 429 or 401/403): for how much
    /// longer (by the database's clock), and why. Nothing is granted while paused.
    pub paused: Option<(Duration, PauseReason)>,
}

#[async_trait::async_trait]
pub trait OutboundBudget: Send + Sync {
    /// Takes up to `want` tokens now, never waiting.
    async fn take(&self, want: usize) -> anyhow::Result<Grant>;
    /// Gives back tokens taken but not used (a claim found fewer rows).
    async fn refund(&self, unused: usize) -> anyhow::Result<()>;
    /// Pauses every relay sharing this budget for `wait`: a longer pause already in force stays.
    async fn pause_all(&self, wait: Duration, reason: PauseReason) -> anyhow::Result<()>;
}

/// One window's GCRA parameters, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gcra {
    /// The window's length, which keys its state.
    pub window: Duration,
    pub interval: f64,
    pub burst: f64,
}

impl Gcra {
    pub fn for_window(limit: u32, window: Duration) -> Self {
        let limit = limit.max(1);
        let burst = (limit / 10).max(1);
        let steady = (limit - burst).max(1);
        Self {
            window,
            interval: window.as_secs_f64() * 1.05 / f64::from(steady),
            burst: f64::from(burst),
        }
    }

    /// The state of a window first seen at `now`: its burst already spent, so a relay
    /// restarted right after a burst (a crash loop) cannot add a second one.
    pub fn fresh_tat(&self, now: f64) -> f64 {
        now + self.burst * self.interval
    }

    /// How many tokens fit now under a window whose theoretical arrival time is `tat`.
    pub fn room(&self, tat: f64, now: f64) -> usize {
        let free = (now + self.burst * self.interval - tat.max(now)) / self.interval;
        // A hair of tolerance for float error at exact slot boundaries.
        (free + 1e-9).floor().max(0.0) as usize
    }

    /// The state after taking `n` tokens (which fit).
    pub fn after(&self, tat: f64, now: f64, n: usize) -> f64 {
        tat.max(now) + n as f64 * self.interval
    }

    /// How long until one token fits.
    pub fn wait(&self, tat: f64, now: f64) -> Duration {
        Duration::from_secs_f64((tat - now - (self.burst - 1.0) * self.interval).max(0.001))
    }
}

/// Takes up to `want` under every window: the fewest any window allows. Answers the grant
/// and each window's new state.
pub fn take_under(windows: &[Gcra], tats: &[f64], now: f64, want: usize) -> (Grant, Vec<f64>) {
    let granted = windows
        .iter()
        .zip(tats)
        .map(|(gcra, tat)| gcra.room(*tat, now))
        .min()
        .unwrap_or(want)
        .min(want);
    if granted == 0 {
        let wait = windows
            .iter()
            .zip(tats)
            .map(|(gcra, tat)| gcra.wait(*tat, now))
            .max();
        return (
            Grant {
                next_slot: wait,
                ..Grant::default()
            },
            tats.to_vec(),
        );
    }
    let next = windows
        .iter()
        .zip(tats)
        .map(|(gcra, tat)| gcra.after(*tat, now, granted))
        .collect();
    (
        Grant {
            granted,
            ..Grant::default()
        },
        next,
    )
}

/// The budget kept in this process.
pub struct OutboundLimiter {
    windows: Vec<Gcra>,
    started: Instant,
    tats: Mutex<Vec<f64>>,
}

impl OutboundLimiter {
    pub fn for_settings(settings: &crate::config::OrttoSettings) -> Self {
        Self::new(&settings.windows())
    }

    pub fn new(windows: &[(u32, Duration)]) -> Self {
        let windows: Vec<Gcra> = windows
            .iter()
            .map(|&(limit, window)| Gcra::for_window(limit, window))
            .collect();
        let tats = windows.iter().map(|gcra| gcra.fresh_tat(0.0)).collect();
        Self {
            windows,
            started: Instant::now(),
            tats: Mutex::new(tats),
        }
    }

    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn tats(&self) -> std::sync::MutexGuard<'_, Vec<f64>> {
        self.tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes up to `want` tokens now.
    pub fn take_now(&self, want: usize) -> Grant {
        let mut tats = self.tats();
        let (grant, next) = take_under(&self.windows, &tats, self.now(), want);
        *tats = next;
        grant
    }
}

#[async_trait::async_trait]
impl OutboundBudget for OutboundLimiter {
    async fn take(&self, want: usize) -> anyhow::Result<Grant> {
        Ok(self.take_now(want))
    }

    async fn refund(&self, unused: usize) -> anyhow::Result<()> {
        let mut tats = self.tats();
        for (tat, gcra) in tats.iter_mut().zip(&self.windows) {
            *tat -= unused as f64 * gcra.interval;
        }
        Ok(())
    }

    /// One process: the delivery state already holds the pause.
    async fn pause_all(&self, _wait: Duration, _reason: PauseReason) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Ortto bans an IP for 15 s after 15 bad requests in 15 s. The relay stops well short:
/// this many refusals within the window pause every delivery for the window.
pub const REFUSALS_BEFORE_PAUSE: usize = 3;
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseReason {
    /// Ortto answered 429; it said when to come back.
    RateLimited,
    /// Ortto answered 401/403: the key is wrong (or the account expired) for every row.
    KeyRejected { status: u16 },
    /// Ortto refused several payloads in a row: stop before its bad-request ban.
    Refusals,
}

impl PauseReason {
    /// As the shared pause row stores it.
    pub fn code(self) -> String {
        match self {
            Self::RateLimited => "rate_limited".to_owned(),
            Self::KeyRejected { status } => format!("key_rejected:{status}"),
            Self::Refusals => "refusals".to_owned(),
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "rate_limited" => Some(Self::RateLimited),
            "refusals" => Some(Self::Refusals),
            _ => code
                .strip_prefix("key_rejected:")
                .and_then(|status| status.parse().ok())
                .map(|status| Self::KeyRejected { status }),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Self::RateLimited => "rate limited by Ortto".to_owned(),
            Self::KeyRejected { status } => {
                format!("Ortto rejected the API key (HTTP {status}); check the key and the account")
            }
            Self::Refusals => format!(
                "Ortto refused {REFUSALS_BEFORE_PAUSE} payloads within {} s; paused before it bans the relay's IP",
                REFUSAL_WINDOW.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_limiter_lets_nothing_through_at_once() {
        // Free plan's 10-second window: even the burst is spent at start, so a crash loop
        // cannot send a burst per restart.
        let limiter = OutboundLimiter::new(&[(20, Duration::from_secs(10))]);
        assert_eq!(limiter.take_now(100).granted, 0);
    }

    /// Any schedule of takes and refunds keeps every window at or under its limit.
    #[test]
    fn no_window_ever_holds_more_than_its_limit() {
        let gcra = Gcra::for_window(100, Duration::from_secs(10));
        let mut tat = gcra.fresh_tat(0.0);
        let mut sent: Vec<f64> = Vec::new();
        let mut now = 0.0;
        let mut seed = 7u64;
        while now < 120.0 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let want = (seed >> 60) as usize + 1;
            let (grant, next) = take_under(&[gcra], &[tat], now, want);
            tat = next[0];
            let unused = (seed >> 40) as usize % (grant.granted + 1);
            tat -= unused as f64 * gcra.interval;
            sent.extend(std::iter::repeat_n(now, grant.granted - unused));
            now += ((seed >> 20) % 400) as f64 / 1000.0;
        }
        for (i, start) in sent.iter().enumerate() {
            let within = sent[i..].iter().take_while(|t| **t < start + 10.0).count();
            assert!(within <= 100, "{within} sends in the 10 s from {start}");
        }
        assert!(
            sent.len() > 1000,
            "the budget let too little through: {}",
            sent.len()
        );
    }
}
