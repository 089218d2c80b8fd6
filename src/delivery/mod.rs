//! Deliver (README, "Delivery guarantees"): a background worker sends recorded submissions to Ortto's compose
//! endpoint, at least once, through outages, rate limits, a wrong key and restarts.

mod attempt;
mod budget;
mod pause;
mod schedule;
mod worker;

pub use budget::{take_under, Gcra, Grant, OutboundBudget, OutboundLimiter};
pub use pause::{DeliveryState, PauseReason};
pub use schedule::RetrySchedule;
pub use worker::{DeliveryWorker, WorkerSettings};
