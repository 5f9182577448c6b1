//! Rate limits: one GCRA limiter (governor) per route, with the budget the
//! policy gives that route, keyed by the caller's identity (user or API key)
//! or, for anonymous requests, by client IP. Limiters are rebuilt only for
//! routes whose budget changed on reload, so a reload does not reset counts.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use policy::RateSpec;
use serde::Serialize;

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The pseudo-route of requests that match no route.
pub const UNMATCHED: &str = "*";

pub struct RouteLimiter {
    pub spec: RateSpec,
    limiter: Keyed,
    allowed: AtomicU64,
    limited: AtomicU64,
}

impl RouteLimiter {
    fn new(spec: RateSpec) -> RouteLimiter {
        let requests = NonZeroU32::new(spec.requests.max(1)).unwrap_or(NonZeroU32::MIN);
        let interval = (spec.period / requests.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(requests))
            .allow_burst(requests);
        RouteLimiter {
            spec,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            allowed: AtomicU64::new(0),
            limited: AtomicU64::new(0),
        }
    }

    fn interval(&self) -> Duration {
        self.spec.period / self.spec.requests.max(1)
    }
}

/// The verdict for one request, with what the `X-RateLimit-*` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        limit: u32,
        remaining: u32,
        reset: u64,
    },
    Limited {
        limit: u32,
        retry_after: u64,
        reset: u64,
    },
    Disabled,
}

#[derive(Serialize)]
pub struct RouteStats {
    pub route: String,
    pub requests: u32,
    pub period_seconds: u64,
    pub tracked_keys: usize,
    pub allowed: u64,
    pub limited: u64,
}

#[derive(Serialize)]
pub struct Stats {
    pub enabled: bool,
    pub routes: Vec<RouteStats>,
}

pub struct RateLimits {
    routes: ArcSwap<HashMap<String, Arc<RouteLimiter>>>,
    enabled: AtomicBool,
    clock: DefaultClock,
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl RateLimits {
    pub fn new(policy: &policy::Policy) -> RateLimits {
        let limits = RateLimits {
            routes: ArcSwap::from_pointee(HashMap::new()),
            enabled: AtomicBool::new(true),
            clock: DefaultClock::default(),
        };
        limits.update(policy);
        limits
    }

    /// Applies a policy, keeping the state of routes whose budget is unchanged.
    pub fn update(&self, policy: &policy::Policy) {
        self.enabled
            .store(policy.rate_limits_enabled(), Ordering::Relaxed);
        let old = self.routes.load();
        let mut next = HashMap::new();
        let routes = crate::http::scopes::ROUTES
            .iter()
            .map(|r| r.path)
            .chain(std::iter::once(UNMATCHED));
        for route in routes {
            if next.contains_key(route) {
                continue;
            }
            let spec = policy.rate_limit_for(route);
            let limiter = match old.get(route) {
                Some(existing) if existing.spec == spec => existing.clone(),
                _ => Arc::new(RouteLimiter::new(spec)),
            };
            next.insert(route.to_string(), limiter);
        }
        self.routes.store(Arc::new(next));
    }

    /// Takes one request from `key`'s budget on `route`.
    pub fn check(&self, route: &str, key: &str) -> Decision {
        if !self.enabled.load(Ordering::Relaxed) {
            return Decision::Disabled;
        }
        let routes = self.routes.load();
        let Some(limiter) = routes.get(route).or_else(|| routes.get(UNMATCHED)) else {
            return Decision::Disabled;
        };
        let limit = limiter.spec.requests;
        match limiter.limiter.check_key(&key.to_string()) {
            Ok(snapshot) => {
                limiter.allowed.fetch_add(1, Ordering::Relaxed);
                let remaining = snapshot.remaining_burst_capacity();
                let reset = ceil_secs(limiter.interval() * limit.saturating_sub(remaining));
                Decision::Allowed {
                    limit,
                    remaining,
                    reset,
                }
            }
            Err(not_until) => {
                limiter.limited.fetch_add(1, Ordering::Relaxed);
                let wait = not_until.wait_time_from(self.clock.now());
                let retry_after = ceil_secs(wait).max(1);
                let reset =
                    ceil_secs(wait + limiter.interval() * limit.saturating_sub(1)).max(retry_after);
                Decision::Limited {
                    limit,
                    retry_after,
                    reset,
                }
            }
        }
    }

    /// Forgets keys whose budget is full again; bounds memory under many keys.
    pub fn evict(&self) {
        for limiter in self.routes.load().values() {
            limiter.limiter.retain_recent();
            limiter.limiter.shrink_to_fit();
        }
    }

    pub fn stats(&self) -> Stats {
        let routes = self.routes.load();
        let mut out: Vec<RouteStats> = routes
            .iter()
            .map(|(route, l)| RouteStats {
                route: route.clone(),
                requests: l.spec.requests,
                period_seconds: l.spec.period.as_secs(),
                tracked_keys: l.limiter.len(),
                allowed: l.allowed.load(Ordering::Relaxed),
                limited: l.limited.load(Ordering::Relaxed),
            })
            .collect();
        out.sort_by(|a, b| a.route.cmp(&b.route));
        Stats {
            enabled: self.enabled.load(Ordering::Relaxed),
            routes: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> policy::Policy {
        policy::Policy::from_yaml(yaml).unwrap()
    }

    #[test]
    fn exactly_the_budget_is_allowed_then_refused() {
        let limits = RateLimits::new(&policy(
            "version: 1\nrateLimits:\n  routes:\n    /api/auth/me: {requests: 3, per: 1m}\n",
        ));
        for expected_remaining in [2, 1, 0] {
            match limits.check("/api/auth/me", "user:a") {
                Decision::Allowed {
                    limit, remaining, ..
                } => {
                    assert_eq!((limit, remaining), (3, expected_remaining));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        match limits.check("/api/auth/me", "user:a") {
            Decision::Limited { retry_after, .. } => assert!((1..=20).contains(&retry_after)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            limits.check("/api/auth/me", "user:b"),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limits.check("/health", "user:a"),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn unchanged_budgets_survive_an_update_and_changed_ones_reset() {
        let p = policy(
            "version: 1\nrateLimits:\n  routes:\n    /api/auth/me: {requests: 1, per: 1m}\n",
        );
        let limits = RateLimits::new(&p);
        assert!(matches!(
            limits.check("/api/auth/me", "k"),
            Decision::Allowed { .. }
        ));
        limits.update(&p);
        assert!(matches!(
            limits.check("/api/auth/me", "k"),
            Decision::Limited { .. }
        ));
        limits.update(&policy(
            "version: 1\nrateLimits:\n  routes:\n    /api/auth/me: {requests: 2, per: 1m}\n",
        ));
        assert!(matches!(
            limits.check("/api/auth/me", "k"),
            Decision::Allowed { .. }
        ));
        limits.update(&policy("version: 1\nrateLimits:\n  enabled: false\n"));
        assert_eq!(limits.check("/api/auth/me", "k"), Decision::Disabled);
    }
}
