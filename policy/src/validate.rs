//! Structural validation of a policy document. Every error names the field
//! path so that the author (or the operator's status) points at the mistake.

use std::collections::HashMap;
use std::path::Path;

use globset::Glob;

use crate::command::ALWAYS_REFUSED;
use crate::cors::OriginPattern;
use crate::document::{CommandRule, POLICY_VERSION, PolicyDocument, RateLimit};
use crate::error::ValidationErrors;
use crate::paths::path_glob;
use crate::profiles;
use crate::rate::parse_period;
use crate::shell;

/// Checks every rule that does not need the compiled policy; examples are
/// checked separately, once the document compiles.
pub(crate) fn validate(doc: &PolicyDocument) -> ValidationErrors {
    let mut errors = ValidationErrors::default();
    if doc.version != POLICY_VERSION {
        errors.push(
            "version",
            format!("must be {POLICY_VERSION} (got {})", doc.version),
        );
    }
    commands(doc, &mut errors);
    paths(doc, &mut errors);
    cors(doc, &mut errors);
    rate_limits(doc, &mut errors);
    crate::sandbox::validate(&doc.sandbox, &mut errors, absolute_paths);
    errors
}

fn positive(errors: &mut ValidationErrors, path: &str, value: Option<u64>) {
    if value == Some(0) {
        errors.push(path, "must be greater than 0");
    }
}

fn absolute_paths(errors: &mut ValidationErrors, path: &str, list: &[String]) {
    for (i, p) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if p.is_empty() {
            errors.push(at, "empty");
        } else if p.contains('\0') {
            errors.push(at, "contains a NUL byte");
        } else if !Path::new(p).is_absolute() {
            errors.push(at, format!("`{p}` must be an absolute path"));
        }
    }
}

fn program_name(errors: &mut ValidationErrors, path: &str, name: &str) {
    if name.is_empty() {
        errors.push(path, "empty");
    } else if name.contains('/') {
        errors.push(
            path,
            format!("`{name}` must be a program name without a directory"),
        );
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(
            path,
            format!("`{}` contains whitespace", name.escape_debug()),
        );
    }
}

fn flags(errors: &mut ValidationErrors, path: &str, list: &[String]) {
    for (i, f) in list.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if f.is_empty() {
            errors.push(at, "empty");
        } else if !f.starts_with('-') || f == "-" || f == "--" || f.contains(char::is_whitespace) {
            errors.push(
                at,
                format!("`{f}` must be a flag such as `-r` or `--recursive`"),
            );
        }
    }
}

fn commands(doc: &PolicyDocument, errors: &mut ValidationErrors) {
    let c = &doc.commands;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, rule) in c.allow.iter().enumerate() {
        let at = format!("commands.allow[{i}]");
        program_name(errors, &format!("{at}.program"), &rule.program);
        if ALWAYS_REFUSED.contains(&rule.program.as_str()) {
            errors.push(
                format!("{at}.program"),
                format!("`{}` is always refused and cannot be allowed", rule.program),
            );
        }
        if !rule.program.is_empty() {
            match seen.get(rule.program.as_str()) {
                Some(first) => errors.push(
                    format!("{at}.program"),
                    format!(
                        "`{}` is already allowed by commands.allow[{first}]",
                        rule.program
                    ),
                ),
                None => {
                    seen.insert(rule.program.as_str(), i);
                }
            }
        }
        command_rule(errors, &at, rule);
    }
    for (i, name) in c.deny.iter().enumerate() {
        program_name(errors, &format!("commands.deny[{i}]"), name);
    }
    if let Some(dirs) = &c.trusted_bin_dirs {
        absolute_paths(errors, "commands.trustedBinDirs", dirs);
    }
    if let Some(dirs) = &c.protected_paths {
        absolute_paths(errors, "commands.protectedPaths", dirs);
    }
    positive(errors, "commands.maxRuntimeSeconds", c.max_runtime_seconds);
    positive(errors, "commands.maxOutputBytes", c.max_output_bytes);
}

fn command_rule(errors: &mut ValidationErrors, at: &str, rule: &CommandRule) {
    if let Some(subs) = &rule.subcommands {
        if subs.is_empty() {
            errors.push(
                format!("{at}.subcommands"),
                "empty list (omit it to allow every subcommand)",
            );
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (j, sub) in subs.iter().enumerate() {
            let sat = format!("{at}.subcommands[{j}]");
            if sub.name.is_empty() {
                errors.push(format!("{sat}.name"), "empty");
            } else if sub.name.starts_with('-') || sub.name.contains(char::is_whitespace) {
                errors.push(
                    format!("{sat}.name"),
                    format!("`{}` is not a subcommand name", sub.name),
                );
            } else if let Some(first) = names.insert(sub.name.as_str(), j) {
                errors.push(
                    format!("{sat}.name"),
                    format!(
                        "`{}` is already listed at {at}.subcommands[{first}]",
                        sub.name
                    ),
                );
            }
            if let Some(targets) = &sub.targets {
                if targets.is_empty() {
                    errors.push(
                        format!("{sat}.targets"),
                        "empty list (omit it to allow every target)",
                    );
                }
                for (k, t) in targets.iter().enumerate() {
                    if t.is_empty() {
                        errors.push(format!("{sat}.targets[{k}]"), "empty");
                    } else if t.starts_with('-') || t.contains(char::is_whitespace) {
                        errors.push(
                            format!("{sat}.targets[{k}]"),
                            format!("`{t}` is not a target name"),
                        );
                    }
                }
            }
        }
    }
    for (k, pattern) in rule.deny_args.iter().enumerate() {
        let kat = format!("{at}.denyArgs[{k}]");
        if pattern.is_empty() {
            errors.push(kat, "empty");
        } else if let Err(e) = Glob::new(pattern) {
            errors.push(kat, format!("malformed glob `{pattern}`: {}", e.kind()));
        }
    }
    flags(
        errors,
        &format!("{at}.recursiveFlags"),
        &rule.recursive_flags,
    );
    flags(errors, &format!("{at}.writeFlags"), &rule.write_flags);
    let options: Vec<String> = rule
        .allow_options
        .iter()
        .map(|o| o.trim_end_matches('=').to_owned())
        .collect();
    let before = errors.len();
    flags(errors, &format!("{at}.allowOptions"), &options);
    if errors.len() == before {
        for (k, option) in rule.allow_options.iter().enumerate() {
            if let Err(message) = profiles::widenable(&rule.program, option) {
                errors.push(format!("{at}.allowOptions[{k}]"), message);
            }
        }
    }
    for (k, line) in rule.allow_inline.iter().enumerate() {
        let kat = format!("{at}.allowInline[{k}]");
        match shell::split(line) {
            Err(e) => errors.push(kat, e.to_string()),
            Ok(stages) if stages.len() != 1 => {
                errors.push(kat, "must be one command, not a pipeline")
            }
            Ok(stages) => {
                if stages[0].first() != Some(&rule.program) {
                    errors.push(
                        kat,
                        format!("must start with the program `{}`", rule.program),
                    );
                }
            }
        }
    }
    positive(
        errors,
        &format!("{at}.maxRuntimeSeconds"),
        rule.max_runtime_seconds,
    );
    positive(
        errors,
        &format!("{at}.maxOutputBytes"),
        rule.max_output_bytes,
    );
}

fn paths(doc: &PolicyDocument, errors: &mut ValidationErrors) {
    let p = &doc.paths;
    absolute_paths(errors, "paths.read", &p.read);
    absolute_paths(errors, "paths.write", &p.write);
    for (i, pattern) in p.deny.iter().enumerate() {
        let at = format!("paths.deny[{i}]");
        if pattern.is_empty() {
            errors.push(at, "empty");
        } else if !pattern.starts_with('/') && !pattern.starts_with("**") {
            errors.push(
                at,
                format!(
                    "`{pattern}` must start with `/` or `**` (it is matched against absolute paths)"
                ),
            );
        } else if let Err(e) = path_glob(pattern) {
            errors.push(at, format!("malformed glob `{pattern}`: {}", e.kind()));
        }
    }
    positive(errors, "paths.maxReadBytes", p.max_read_bytes);
    positive(errors, "paths.maxWriteBytes", p.max_write_bytes);
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn cors(doc: &PolicyDocument, errors: &mut ValidationErrors) {
    let c = &doc.cors;
    let credentials = c.allow_credentials.unwrap_or(false);
    for (i, origin) in c.allowed_origins.iter().enumerate() {
        let at = format!("cors.allowedOrigins[{i}]");
        match OriginPattern::parse(origin) {
            Err(e) => errors.push(at, format!("malformed origin `{origin}`: {e}")),
            Ok(OriginPattern::Any) if credentials => {
                errors.push(
                    at,
                    "the wildcard origin `*` cannot be combined with allowCredentials: true",
                );
            }
            Ok(_) => {}
        }
    }
    for (i, m) in c.allowed_methods.iter().enumerate() {
        if !is_token(m) || m.chars().any(|c| c.is_ascii_lowercase()) {
            errors.push(
                format!("cors.allowedMethods[{i}]"),
                format!("`{m}` is not an upper-case HTTP method"),
            );
        }
    }
    for (i, h) in c.allowed_headers.iter().enumerate() {
        if !is_token(h) {
            errors.push(
                format!("cors.allowedHeaders[{i}]"),
                format!("`{h}` is not a header name"),
            );
        }
    }
}

fn rate_limit(errors: &mut ValidationErrors, at: &str, limit: &RateLimit) {
    if limit.requests == 0 {
        errors.push(format!("{at}.requests"), "must be greater than 0");
    }
    if let Err(e) = parse_period(&limit.per) {
        errors.push(format!("{at}.per"), e);
    }
}

fn rate_limits(doc: &PolicyDocument, errors: &mut ValidationErrors) {
    let r = &doc.rate_limits;
    if let Some(default) = &r.default {
        rate_limit(errors, "rateLimits.default", default);
    }
    for (route, limit) in &r.routes {
        let at = format!("rateLimits.routes[\"{route}\"]");
        if !route.starts_with('/') {
            errors.push(at.clone(), "a route must start with `/`");
        }
        rate_limit(errors, &at, limit);
    }
    for (i, cidr) in r.trusted_proxies.iter().enumerate() {
        if crate::policy::parse_proxy(cidr).is_none() {
            errors.push(
                format!("rateLimits.trustedProxies[{i}]"),
                format!("`{cidr}` is not a CIDR (e.g. 10.0.0.0/8) or IP address"),
            );
        }
    }
}
