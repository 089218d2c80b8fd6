//! Deliver (docs/delivery.md, "Delivery guarantees"): a background worker sends recorded submissions to Ortto's compose
//! endpoint, at least once, through outages, rate limits, a wrong key and restarts.

mod attempt;
mod pause;
mod schedule;
mod worker;

pub use crate::outbound::{OutboundBudget, OutboundLimiter, PauseReason};
pub use pause::DeliveryState;
pub use schedule::RetrySchedule;
pub use worker::{DeliveryWorker, Next, WorkerSettings};
