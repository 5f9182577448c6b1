//! Rate-limit specs: `requests` per `per`, looked up by route.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::document::{RateLimit, RateLimitPolicy};

/// A budget: `requests` per `period` (also the burst size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RateSpec {
    pub requests: u32,
    #[serde(serialize_with = "as_seconds")]
    pub period: Duration,
}

fn as_seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// Built-in budget of a route without its own.
pub const DEFAULT_RATE: (u32, &str) = (60, "1m");
/// Built-in route budgets, overridden by the policy's own entries.
pub const DEFAULT_ROUTE_RATES: &[(&str, u32, &str)] =
    &[("/api/chat", 10, "1m"), ("/api/auth/login", 5, "5m")];

/// Parses `per`: a whole number greater than zero followed by `s`, `m` or `h`.
pub fn parse_period(per: &str) -> Result<Duration, String> {
    let syntax =
        || format!("`{per}` must be a whole number followed by s, m or h (e.g. 30s, 1m, 1h)");
    let unit = per.chars().last().ok_or_else(syntax)?;
    let digits = &per[..per.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(syntax());
    }
    let n: u64 = digits.parse().map_err(|_| syntax())?;
    let seconds = match unit {
        's' => Some(n),
        'm' => n.checked_mul(60),
        'h' => n.checked_mul(3600),
        _ => return Err(syntax()),
    }
    .ok_or_else(syntax)?;
    if seconds == 0 {
        return Err(format!("`{per}` must be greater than zero"));
    }
    Ok(Duration::from_secs(seconds))
}

fn spec(requests: u32, per: &str) -> Option<RateSpec> {
    parse_period(per)
        .ok()
        .map(|period| RateSpec { requests, period })
}

/// Compiled `rateLimits` section.
#[derive(Debug)]
pub(crate) struct RateRules {
    pub(crate) enabled: bool,
    pub(crate) default: RateSpec,
    pub(crate) routes: BTreeMap<String, RateSpec>,
}

impl RateRules {
    /// Compiles a validated section; built-in route budgets apply unless overridden.
    pub(crate) fn compile(doc: &RateLimitPolicy) -> RateRules {
        let builtin_default = RateSpec {
            requests: DEFAULT_RATE.0,
            period: Duration::from_secs(60),
        };
        let from = |r: &RateLimit| spec(r.requests, &r.per);
        let mut routes: BTreeMap<String, RateSpec> = DEFAULT_ROUTE_RATES
            .iter()
            .filter_map(|(route, n, per)| spec(*n, per).map(|s| (route.to_string(), s)))
            .collect();
        for (route, limit) in &doc.routes {
            if let Some(s) = from(limit) {
                routes.insert(route.clone(), s);
            }
        }
        RateRules {
            enabled: doc.enabled.unwrap_or(true),
            default: doc
                .default
                .as_ref()
                .and_then(from)
                .unwrap_or(builtin_default),
            routes,
        }
    }

    /// The route's own budget, else the default.
    pub(crate) fn for_route(&self, route: &str) -> RateSpec {
        self.routes.get(route).copied().unwrap_or(self.default)
    }
}

/// Whether `a` allows fewer requests over time than `b` (ties: smaller burst).
pub(crate) fn stricter(a: &RateLimit, b: &RateLimit) -> bool {
    let secs = |r: &RateLimit| {
        parse_period(&r.per)
            .map(|d| d.as_secs())
            .unwrap_or(u64::MAX)
    };
    let lhs = u128::from(a.requests) * u128::from(secs(b));
    let rhs = u128::from(b.requests) * u128::from(secs(a));
    (lhs, a.requests, &a.per) < (rhs, b.requests, &b.per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_periods() {
        assert_eq!(parse_period("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_period("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_period("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "0s", "1", "m", "1d", "-1m", "1.5m", " 1m", "1 m"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }
}
