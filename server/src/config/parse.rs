//! Parsers for the `AI_*` values whose v3.0 forms need care: log levels in
//! Python's or Rust's spelling, CIDR lists, CORS origin lists as bash leaves
//! them after `set -a; . ./.env`, and `N/unit` rate limits. Pure; each error
//! shows the value it could not use (callers never pass secrets here).

use anyhow::bail;

/// The tracing level for an `AI_LOG_LEVEL` value: Python's names (`CRITICAL`,
/// `ERROR`, `WARNING`, `INFO`, `DEBUG`, `NOTSET`) and Rust's (`error`, `warn`,
/// `info`, `debug`, `trace`), case-insensitive.
pub fn log_level(value: &str) -> anyhow::Result<&'static str> {
    Ok(match value.trim().to_ascii_lowercase().as_str() {
        "critical" | "fatal" | "error" => "error",
        "warning" | "warn" => "warn",
        "info" => "info",
        "debug" => "debug",
        "trace" | "notset" => "trace",
        _ => bail!(
            "AI_LOG_LEVEL={value:?} is not a log level: use one of CRITICAL, ERROR, WARNING, INFO, DEBUG \
             (Python's names) or error, warn, info, debug, trace (any case)"
        ),
    })
}

/// A list as v3's pydantic read it (a JSON list), a comma-separated list, or the
/// JSON list bash leaves after stripping its quotes (`[https://a.example,https://b.example]`).
pub fn list(value: &str, name: &str) -> anyhow::Result<Vec<String>> {
    let trimmed = value.trim();
    if let Some(inner) = trimmed.strip_prefix('[') {
        if let Ok(items) = serde_json::from_str::<Vec<String>>(trimmed) {
            return Ok(items);
        }
        let Some(inner) = inner.strip_suffix(']') else {
            bail!("{name}={value:?} starts a list with [ but does not end it with ]");
        };
        return Ok(split(inner));
    }
    Ok(split(trimmed))
}

fn split(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| {
            s.trim()
                .trim_matches(|c: char| c == '"' || c == '\'')
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Browser origins: `*`, or `scheme://host[:port]` with no path.
pub fn origins(value: &str) -> anyhow::Result<Vec<String>> {
    let items = list(value, "AI_CORS_ORIGINS")?;
    for item in &items {
        let ok = item == "*"
            || item.split_once("://").is_some_and(|(scheme, rest)| {
                !scheme.is_empty()
                    && scheme
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'+')
                    && !rest.is_empty()
                    && !rest.contains('/')
                    && !rest.contains(char::is_whitespace)
            });
        if !ok {
            bail!(
                "AI_CORS_ORIGINS={value:?}: {item:?} is not an origin (scheme://host[:port], or *); \
                 write a JSON list such as [\"https://ai.example.org\"] or a comma-separated list"
            );
        }
    }
    Ok(items)
}

/// CIDRs (or single addresses) for `AI_TRUSTED_PROXIES`, as a JSON or comma list.
pub fn cidrs(value: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for item in list(value, "AI_TRUSTED_PROXIES")? {
        let net = match item.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => match item.parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => bail!(
                    "AI_TRUSTED_PROXIES={value:?}: {item:?} is not an address or CIDR (such as 10.0.0.0/8 or 172.18.0.2)"
                ),
            },
        };
        out.push(net.to_string());
    }
    Ok(out)
}

/// `AI_RATE_LIMIT_DEFAULT`: `60` (per minute), or v3's `N/second|minute|hour|day`.
pub fn rate(value: &str) -> anyhow::Result<(u32, &'static str)> {
    let (number, unit) = match value.trim().split_once('/') {
        Some((n, u)) => (n.trim(), u.trim().to_ascii_lowercase()),
        None => (value.trim(), "minute".to_string()),
    };
    let per = match unit.as_str() {
        "s" | "sec" | "second" | "seconds" => "1s",
        "m" | "min" | "minute" | "minutes" => "1m",
        "h" | "hour" | "hours" => "1h",
        "d" | "day" | "days" => "24h",
        _ => bail!(
            "AI_RATE_LIMIT_DEFAULT={value:?}: the unit must be second, minute, hour or day (as in 100/minute)"
        ),
    };
    match number.parse::<u32>() {
        Ok(n) if n > 0 => Ok((n, per)),
        _ => bail!(
            "AI_RATE_LIMIT_DEFAULT={value:?} is not a positive number of requests (such as 60 or 100/minute)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_in_either_language_and_any_case() {
        for (given, level) in [
            ("WARNING", "warn"),
            ("warning", "warn"),
            ("Warn", "warn"),
            ("CRITICAL", "error"),
            ("ERROR", "error"),
            ("INFO", "info"),
            ("debug", "debug"),
            ("TRACE", "trace"),
        ] {
            assert_eq!(log_level(given).unwrap(), level, "{given}");
        }
        let err = log_level("verbose").unwrap_err().to_string();
        assert!(
            err.contains("\"verbose\"") && err.contains("WARNING"),
            "{err}"
        );
        assert!(log_level("info,hyper=off").is_err());
    }

    #[test]
    fn origins_as_json_comma_or_bash_stripped_lists() {
        let want = vec![
            "https://a.example".to_string(),
            "https://b.example:8443".into(),
        ];
        assert_eq!(
            origins(r#"["https://a.example","https://b.example:8443"]"#).unwrap(),
            want
        );
        assert_eq!(
            origins("[https://a.example,https://b.example:8443]").unwrap(),
            want
        );
        assert_eq!(
            origins("https://a.example, https://b.example:8443").unwrap(),
            want
        );
        assert_eq!(origins("*").unwrap(), ["*"]);
        let err = origins("[https://a.example").unwrap_err().to_string();
        assert!(err.contains("[https://a.example"), "{err}");
        let err = origins("https://a.example/app").unwrap_err().to_string();
        assert!(err.contains("https://a.example/app"), "{err}");
    }

    #[test]
    fn proxies_and_rates() {
        assert_eq!(
            cidrs("10.0.0.0/8, 172.18.0.2").unwrap(),
            ["10.0.0.0/8", "172.18.0.2/32"]
        );
        assert_eq!(cidrs(r#"["::1/128"]"#).unwrap(), ["::1/128"]);
        let err = cidrs("10.0.0.0/8,traefik").unwrap_err().to_string();
        assert!(err.contains("traefik"), "{err}");
        assert_eq!(rate("60").unwrap(), (60, "1m"));
        assert_eq!(rate("100/minute").unwrap(), (100, "1m"));
        assert_eq!(rate("1000/hour").unwrap(), (1000, "1h"));
        assert!(rate("0").is_err());
        assert!(
            rate("10/fortnight")
                .unwrap_err()
                .to_string()
                .contains("fortnight")
        );
    }
}
