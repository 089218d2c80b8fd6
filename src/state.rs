//! What every request handler shares, built once by `startup` (docs/architecture.md).

use crate::clean::HtmlCleaner;
use crate::config::Config;
use crate::delivery::{DeliveryState, OutboundLimiter};
use crate::guard::RateLimits;
use crate::metrics::Metrics;
use crate::store::health::StorageHealth;
use crate::store::{LogWriter, Store};
use std::sync::Arc;

/// What every request handler shares.
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub writer: LogWriter,
    pub cleaner: HtmlCleaner,
    pub deliveries: Arc<DeliveryState>,
    pub outbound: Option<Arc<OutboundLimiter>>,
    pub rate_limits: Arc<RateLimits>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<StorageHealth>,
    /// Now, for signature tolerances (tests fix it).
    pub clock: Clock,
}

/// A source of the current time.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(chrono::Utc::now)
}
