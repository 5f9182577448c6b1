//! Login brute-force guard: after 5 failures within 15 minutes for a username
//! or for a client IP, further attempts are refused until the oldest failure
//! ages out. Unknown usernames count like known ones.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bound on tracked names/IPs; the oldest entries go first when exceeded.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct LoginGuard {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginGuard {
    fn keys(username: &str, ip: &str) -> [String; 2] {
        [
            format!("user:{}", username.to_lowercase()),
            format!("ip:{ip}"),
        ]
    }

    /// Seconds to wait when locked out, else `None`.
    pub fn locked(&self, username: &str, ip: &str) -> Option<u64> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        Self::keys(username, ip)
            .iter()
            .filter_map(|k| map.get(k))
            .filter_map(|times| {
                let recent: Vec<&Instant> = times
                    .iter()
                    .filter(|t| now.duration_since(**t) < WINDOW)
                    .collect();
                (recent.len() >= MAX_FAILURES).then(|| {
                    let oldest = recent[recent.len() - MAX_FAILURES];
                    WINDOW
                        .saturating_sub(now.duration_since(*oldest))
                        .as_secs()
                        .max(1)
                })
            })
            .max()
    }

    pub fn record_failure(&self, username: &str, ip: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < WINDOW)
            });
        }
        for key in Self::keys(username, ip) {
            let times = map.entry(key).or_default();
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= WINDOW)
            {
                times.pop_front();
            }
            times.push_back(now);
            while times.len() > MAX_FAILURES {
                times.pop_front();
            }
        }
    }

    /// A successful login clears the username's failures (not the IP's).
    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{}", username.to_lowercase()));
    }

    /// Drops entries whose failures all aged out.
    pub fn evict(&self) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.duration_since(*t) < WINDOW)
        });
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_name_and_the_ip() {
        let guard = LoginGuard::default();
        for _ in 0..4 {
            guard.record_failure("alice", "10.0.0.1");
        }
        assert!(guard.locked("alice", "10.0.0.2").is_none());
        guard.record_failure("alice", "10.0.0.1");
        assert!(
            guard.locked("alice", "10.0.0.9").is_some(),
            "name locked from any IP"
        );
        assert!(
            guard.locked("bob", "10.0.0.1").is_some(),
            "IP locked for any name"
        );
        assert!(guard.locked("bob", "10.0.0.2").is_none());
        guard.record_success("alice");
        assert!(guard.locked("alice", "10.0.0.2").is_none());
    }
}
