//! CORS origin matching. Origins are compared as (scheme, host, port), case
//! insensitively, with default ports made explicit-free, so that
//! `HTTPS://App.Example.com:443` equals `https://app.example.com`. Anything
//! that is not exactly an origin (a path, a query, user info) never matches.

use serde::Serialize;

/// Methods allowed when the policy lists none.
pub const DEFAULT_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// Request headers allowed when the policy lists none.
pub const DEFAULT_HEADERS: &[&str] =
    &["Authorization", "Content-Type", "X-API-Key", "X-Request-Id"];
/// Preflight cache time when the policy sets none.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 600;

/// The CORS settings with defaults applied, as the server configures its layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectiveCors {
    /// Origins as written in the policy (exact or `https://*.example.com`).
    pub allowed_origins: Vec<String>,
    /// `*` is listed: any origin is allowed (never together with credentials).
    pub allow_any_origin: bool,
    pub allow_credentials: bool,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub max_age_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    /// `None` for the scheme's default port.
    port: Option<u16>,
}

/// One compiled entry of `cors.allowedOrigins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OriginPattern {
    Any,
    Exact(Origin),
    /// `scheme://*.suffix[:port]`: one or more labels before `suffix`.
    Subdomain {
        scheme: String,
        suffix: String,
        port: Option<u16>,
    },
}

impl OriginPattern {
    pub(crate) fn parse(text: &str) -> Result<OriginPattern, String> {
        if text == "*" {
            return Ok(OriginPattern::Any);
        }
        let (scheme, authority) = split_scheme(text)?;
        if let Some(rest) = authority.strip_prefix("*.") {
            let (host, port) = split_port(&scheme, rest)?;
            check_host(&host)?;
            if host.starts_with('[') {
                return Err("a wildcard cannot precede an IP address".into());
            }
            return Ok(OriginPattern::Subdomain {
                scheme,
                suffix: format!(".{host}"),
                port,
            });
        }
        if authority.contains('*') {
            return Err(
                "a wildcard is only allowed as the first label (`https://*.example.com`)".into(),
            );
        }
        parse_origin(text).map(OriginPattern::Exact)
    }

    fn matches(&self, origin: &Origin) -> bool {
        match self {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o == origin,
            OriginPattern::Subdomain {
                scheme,
                suffix,
                port,
            } => {
                *scheme == origin.scheme
                    && *port == origin.port
                    && origin.host.len() > suffix.len()
                    && origin.host.ends_with(suffix.as_str())
            }
        }
    }
}

/// Whether a request's `Origin` header matches any pattern.
pub(crate) fn origin_matches(patterns: &[OriginPattern], origin: &str) -> bool {
    match parse_origin(origin) {
        Ok(o) => patterns.iter().any(|p| p.matches(&o)),
        Err(_) => false,
    }
}

fn parse_origin(text: &str) -> Result<Origin, String> {
    let (scheme, authority) = split_scheme(text)?;
    let (host, port) = split_port(&scheme, &authority)?;
    check_host(&host)?;
    Ok(Origin { scheme, host, port })
}

fn split_scheme(text: &str) -> Result<(String, String), String> {
    let Some((scheme, authority)) = text.split_once("://") else {
        return Err("expected `scheme://host[:port]`".into());
    };
    let scheme = scheme.to_ascii_lowercase();
    let mut chars = scheme.chars();
    let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return Err(format!("invalid scheme `{scheme}`"));
    }
    if authority.is_empty() {
        return Err("missing host".into());
    }
    if let Some(bad) = authority
        .chars()
        .find(|c| "/?#@\\".contains(*c) || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "an origin has no path, query, fragment or user info (found `{bad}`)"
        ));
    }
    Ok((scheme, authority.to_ascii_lowercase()))
}

fn split_port(scheme: &str, authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(end) = authority.find(']') {
        let (host, rest) = authority.split_at(end + 1);
        match rest {
            "" => (host, None),
            _ => match rest.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err("unexpected text after the IPv6 address".into()),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            let n: u16 = p
                .parse()
                .ok()
                .filter(|n| *n > 0 && p.chars().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| format!("invalid port `{p}`"))?;
            let default = match scheme {
                "http" | "ws" => Some(80),
                "https" | "wss" => Some(443),
                _ => None,
            };
            (Some(n) != default).then_some(n)
        }
    };
    Ok((host.to_owned(), port))
}

fn check_host(host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("invalid IPv6 address `{host}`"));
    }
    let valid = !host.is_empty() && host.len() <= 253 && host.split('.').all(valid_label);
    if valid {
        Ok(())
    } else {
        Err(format!("invalid host `{host}`"))
    }
}

/// A DNS host label (RFC 1123): 1–63 letters, digits or hyphens, not starting or ending with a
/// hyphen, so that `*.example.org` never matches `-.example.org`.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], origin: &str) -> bool {
        let compiled: Vec<_> = patterns
            .iter()
            .filter_map(|p| OriginPattern::parse(p).ok())
            .collect();
        assert_eq!(compiled.len(), patterns.len());
        origin_matches(&compiled, origin)
    }

    #[test]
    fn matches_exact_and_subdomains() {
        assert!(allowed(
            &["https://app.example.com"],
            "https://app.example.com"
        ));
        assert!(allowed(
            &["https://app.example.com"],
            "HTTPS://APP.example.com:443"
        ));
        assert!(!allowed(
            &["https://app.example.com"],
            "http://app.example.com"
        ));
        assert!(!allowed(
            &["https://app.example.com"],
            "https://app.example.com:8443"
        ));
        assert!(allowed(&["http://localhost:5173"], "http://localhost:5173"));
        assert!(allowed(&["https://*.example.com"], "https://a.example.com"));
        assert!(allowed(
            &["https://*.example.com"],
            "https://a.b.example.com"
        ));
        assert!(!allowed(&["https://*.example.com"], "https://example.com"));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://evilexample.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://evil.com?x.example.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://evil.com/.example.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://x.example.com.evil.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://user@x.example.com"
        ));
        assert!(!allowed(&["https://*.example.com"], "null"));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://-.example.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://a-.example.com"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://-a.b.example.com"
        ));
        let long = format!("https://{}.example.com", "a".repeat(64));
        assert!(!allowed(&["https://*.example.com"], &long));
        assert!(allowed(
            &["https://*.example.com"],
            "https://a-b.example.com"
        ));
        assert!(allowed(&["*"], "https://anything.test"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in [
            "example.com",
            "https://",
            "https://a.com/",
            "https://*",
            "https://a.*.com",
            "https://a.com:0",
            "ftp:/x",
            "https://*.-example.com",
            "https://bad-.example.com",
        ] {
            assert!(OriginPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
