//! CORS origin matching and rate-limit lookup through the compiled policy.

mod common;

use std::time::Duration;

use common::fixture;
use policy::Policy;

#[test]
fn origins_match_exactly_or_by_subdomain_wildcard() {
    let f = fixture();
    let p = &f.policy;
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("https://APP.EXAMPLE.COM", true),
        ("https://app.example.com:443", true),
        ("http://app.example.com", false),
        ("https://app.example.com:8443", false),
        ("https://app.example.com/", false),
        ("https://app.example.com.evil.com", false),
        ("https://x.example.org", true),
        ("https://a.b.example.org", true),
        ("https://example.org", false),
        ("https://evil.com?x.example.org", false),
        ("https://evil.com#.example.org", false),
        ("https://evil.com/.example.org", false),
        ("https://x.example.org@evil.com", false),
        ("https://evilexample.org", false),
        ("http://x.example.org", false),
        ("http://localhost:5173", true),
        ("http://localhost:5174", false),
        ("null", false),
        ("", false),
    ] {
        assert_eq!(p.origin_allowed(origin), allowed, "{origin}");
    }
    let cors = p.cors();
    assert!(cors.allow_credentials);
    assert!(!cors.allow_any_origin);
    assert_eq!(cors.allowed_methods, policy::DEFAULT_METHODS);
    assert_eq!(cors.max_age_seconds, 600);
}

#[test]
fn wildcard_origin_without_credentials_allows_any() {
    let p = Policy::from_yaml("version: 1\ncors:\n  allowedOrigins: [\"*\"]\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(p.origin_allowed("https://anything.test"));
    assert!(p.cors().allow_any_origin);
    assert!(!p.cors().allow_credentials);
}

#[test]
fn rate_limits_by_route_then_default() {
    let f = fixture();
    let p = &f.policy;
    assert!(p.rate_limits_enabled());
    let chat = p.rate_limit_for("/api/chat");
    assert_eq!((chat.requests, chat.period), (3, Duration::from_secs(10)));
    // A built-in route budget still applies when the policy does not override it.
    let login = p.rate_limit_for("/api/auth/login");
    assert_eq!(
        (login.requests, login.period),
        (5, Duration::from_secs(300))
    );
    let other = p.rate_limit_for("/api/models");
    assert_eq!(
        (other.requests, other.period),
        (100, Duration::from_secs(60))
    );
    let proxies: Vec<String> = p
        .trusted_proxies()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(proxies, ["10.0.0.0/8", "192.168.1.1/32"]);
}

#[test]
fn defaults_apply_when_the_policy_sets_no_limits() {
    let p = Policy::from_yaml("version: 1\nrateLimits:\n  enabled: false\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.rate_limits_enabled());
    let d = p.rate_limit_for("/anything");
    assert_eq!((d.requests, d.period), (60, Duration::from_secs(60)));
    let chat = p.rate_limit_for("/api/chat");
    assert_eq!((chat.requests, chat.period), (10, Duration::from_secs(60)));
    assert_eq!(p.max_read_bytes(), policy::DEFAULT_MAX_READ_BYTES);
    assert_eq!(p.max_write_bytes(), policy::DEFAULT_MAX_WRITE_BYTES);
}
