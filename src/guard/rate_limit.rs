//! Keyed rate limits for intake, sessions and hooks (governor), pruned periodically so
//! a flood from rotating IPs cannot grow memory without bound.

use crate::config::{RateLimit, RateLimitSettings};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// A refused request: which limit, and how long until it may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub scope: &'static str,
    pub retry_after_secs: u64,
}

struct Keyed<K: Hash + Eq + Clone> {
    scope: &'static str,
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(scope: &'static str, settings: &RateLimit) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        let per_minute = NonZeroU32::new(settings.per_minute)?;
        let burst = NonZeroU32::new(settings.burst)?;
        Some(Self {
            scope,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        })
    }

    fn check(&self, key: &K) -> Result<(), RateLimited> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Whole seconds, rounded up: a client that waits that long is let in.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            RateLimited {
                scope: self.scope,
                retry_after_secs: secs.max(1),
            }
        })
    }

    fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

pub struct RateLimits {
    form_per_ip: Option<Keyed<(IpAddr, String)>>,
    form: Option<Keyed<String>>,
    session_per_ip: Option<Keyed<IpAddr>>,
    hook_per_ip: Option<Keyed<IpAddr>>,
}

impl RateLimits {
    pub fn from_settings(settings: &RateLimitSettings) -> Self {
        Self {
            form_per_ip: Keyed::new("form_per_ip", &settings.form_per_ip),
            form: Keyed::new("form", &settings.form),
            session_per_ip: Keyed::new("session_per_ip", &settings.session_per_ip),
            hook_per_ip: Keyed::new("hook_per_ip", &settings.hook_per_ip),
        }
    }

    /// A form post: per client IP on this form, then the form overall.
    pub fn check_form(&self, ip: IpAddr, form: &str) -> Result<(), RateLimited> {
        if let Some(limit) = &self.form_per_ip {
            limit.check(&(ip, form.to_owned()))?;
        }
        if let Some(limit) = &self.form {
            limit.check(&form.to_owned())?;
        }
        Ok(())
    }

    pub fn check_session(&self, ip: IpAddr) -> Result<(), RateLimited> {
        self.session_per_ip
            .as_ref()
            .map_or(Ok(()), |limit| limit.check(&ip))
    }

    pub fn check_hook(&self, ip: IpAddr) -> Result<(), RateLimited> {
        self.hook_per_ip.as_ref().map_or(Ok(()), |limit| limit.check(&ip))
    }

    /// Drops keys whose state is back to fresh.
    pub fn prune(&self) {
        self.form_per_ip.as_ref().map(Keyed::prune);
        self.form.as_ref().map(Keyed::prune);
        self.session_per_ip.as_ref().map(Keyed::prune);
        self.hook_per_ip.as_ref().map(Keyed::prune);
    }

    /// Keys tracked per limit, for `/metrics`.
    pub fn tracked_keys(&self) -> Vec<(&'static str, usize)> {
        let mut out = Vec::new();
        if let Some(l) = &self.form_per_ip {
            out.push((l.scope, l.limiter.len()));
        }
        if let Some(l) = &self.form {
            out.push((l.scope, l.limiter.len()));
        }
        if let Some(l) = &self.session_per_ip {
            out.push((l.scope, l.limiter.len()));
        }
        if let Some(l) = &self.hook_per_ip {
            out.push((l.scope, l.limiter.len()));
        }
        out
    }
}
