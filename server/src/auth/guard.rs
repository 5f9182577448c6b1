//! Login brute-force guard. Failures count within a window (15 minutes by default) under
//! three keys, each with its own threshold:
//!
//! - the username *and* the client IP (5): one source guessing one account;
//! - the client IP (20, any usernames): one source spraying many accounts;
//! - the username (100, all IPs together): a slow ceiling against guessing from many IPs.
//!
//! Reaching any threshold refuses further attempts of that key until its oldest counted
//! failure ages out. The per-username threshold is far above the per-(username, IP) one, so
//! failures from one address lock that address out, never the account's owner elsewhere.
//! Unknown usernames count like known ones.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::LockoutSettings;

/// Bound on tracked keys; the entries whose failures aged out go first when exceeded.
const MAX_ENTRIES: usize = 100_000;

pub struct LoginGuard {
    limits: LockoutSettings,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(LockoutSettings::default())
    }
}

impl LoginGuard {
    pub fn new(limits: LockoutSettings) -> Self {
        LoginGuard {
            limits,
            failures: Mutex::default(),
        }
    }

    /// The three keys of an attempt with their thresholds.
    fn keys(&self, username: &str, ip: &str) -> [(String, usize); 3] {
        let user = username.to_lowercase();
        [
            (format!("pair:{user}\n{ip}"), self.limits.per_user_and_ip),
            (format!("ip:{ip}"), self.limits.per_ip),
            (format!("user:{user}"), self.limits.per_user),
        ]
    }

    /// Seconds to wait when locked out, else `None`.
    pub fn locked(&self, username: &str, ip: &str) -> Option<u64> {
        let now = Instant::now();
        let window = self.limits.window;
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        self.keys(username, ip)
            .iter()
            .filter_map(|(key, max)| map.get(key).map(|times| (times, *max)))
            .filter_map(|(times, max)| {
                let recent: Vec<&Instant> = times
                    .iter()
                    .filter(|t| now.duration_since(**t) < window)
                    .collect();
                (recent.len() >= max).then(|| {
                    let oldest = recent[recent.len() - max];
                    window
                        .saturating_sub(now.duration_since(*oldest))
                        .as_secs()
                        .max(1)
                })
            })
            .max()
    }

    pub fn record_failure(&self, username: &str, ip: &str) {
        let now = Instant::now();
        let window = self.limits.window;
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        for (key, max) in self.keys(username, ip) {
            let times = map.entry(key).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= window)
            {
                times.pop_front();
            }
            times.push_back(now);
            while times.len() > max {
                times.pop_front();
            }
        }
    }

    /// A successful login clears the failures of this username from this IP. The IP's and
    /// the username's totals age out on their own: a correct password from one address
    /// says nothing about the guesses from others.
    pub fn record_success(&self, username: &str, ip: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let [(pair, _), ..] = self.keys(username, ip);
        map.remove(&pair);
    }

    /// Drops entries whose failures all aged out.
    pub fn evict(&self) {
        let now = Instant::now();
        let window = self.limits.window;
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < window)
        });
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn guard(per_user_and_ip: usize, per_ip: usize, per_user: usize) -> LoginGuard {
        LoginGuard::new(LockoutSettings {
            per_user_and_ip,
            per_ip,
            per_user,
            window: Duration::from_secs(900),
        })
    }

    #[test]
    fn failures_from_one_ip_lock_that_ip_not_the_account() {
        let guard = guard(5, 20, 100);
        for _ in 0..4 {
            guard.record_failure("alice", "10.0.0.1");
        }
        assert!(guard.locked("alice", "10.0.0.1").is_none());
        guard.record_failure("alice", "10.0.0.1");
        let wait = guard
            .locked("Alice", "10.0.0.1")
            .expect("the pair is locked");
        assert!((1..=900).contains(&wait));
        assert!(
            guard.locked("alice", "10.0.0.2").is_none(),
            "another IP still works"
        );
        assert!(
            guard.locked("bob", "10.0.0.1").is_none(),
            "other names from the IP still work"
        );
        guard.record_success("alice", "10.0.0.2");
        assert!(
            guard.locked("alice", "10.0.0.1").is_some(),
            "a success elsewhere does not unlock the attacker"
        );
        guard.record_success("alice", "10.0.0.1");
        assert!(guard.locked("alice", "10.0.0.1").is_none());
    }

    #[test]
    fn spraying_locks_the_ip_and_the_ceiling_locks_the_name() {
        let guard = guard(5, 3, 6);
        for name in ["u1", "u2", "u3"] {
            guard.record_failure(name, "10.0.0.9");
        }
        assert!(guard.locked("anyone", "10.0.0.9").is_some());
        assert!(guard.locked("anyone", "10.0.0.8").is_none());
        for i in 0..5 {
            guard.record_failure("carol", &format!("10.1.0.{i}"));
        }
        assert!(guard.locked("carol", "10.2.0.1").is_none());
        guard.record_failure("carol", "10.1.0.99");
        assert!(
            guard.locked("carol", "10.2.0.1").is_some(),
            "the per-name ceiling holds from every IP"
        );
    }
}
