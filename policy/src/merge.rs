//! Merging several policies into one (an `Orchestrator` selects several
//! `AccessPolicy` objects). Allowlists are unioned, denies are unioned and
//! win at decision time, limits take the most restrictive value set, and
//! every list is sorted and de-duplicated so that the result (and its YAML)
//! does not depend on the order of the inputs.

use std::collections::BTreeMap;

use crate::command::{DEFAULT_PROTECTED_PATHS, DEFAULT_TRUSTED_BIN_DIRS};
use crate::cors::{DEFAULT_HEADERS, DEFAULT_METHODS};
use crate::document::{
    CommandPolicy, CommandRule, CorsPolicy, POLICY_VERSION, PathPolicy, PolicyDocument,
    PolicyExamples, RateLimit, RateLimitPolicy, SubcommandRule, WriteTargets,
};
use crate::rate::stricter;

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list.dedup();
    list
}

fn union<'a>(lists: impl IntoIterator<Item = &'a Vec<String>>) -> Vec<String> {
    sorted(lists.into_iter().flatten().cloned().collect())
}

/// The smallest of the values set.
fn min_set(values: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    values.into_iter().flatten().min()
}

/// A boolean that grants something: true only if some input says true and none says false.
fn grant(values: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let set: Vec<bool> = values.into_iter().flatten().collect();
    if set.is_empty() {
        None
    } else {
        Some(set.iter().all(|v| *v))
    }
}

/// A boolean that restricts something: true if any input says true.
fn restrict(values: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    values.into_iter().flatten().reduce(|a, b| a || b)
}

/// A list where "not set" means a built-in default: unioned, with the
/// default standing in for inputs that leave it unset.
fn union_with_default<'a>(
    lists: impl IntoIterator<Item = &'a Option<Vec<String>>>,
    default: &[&str],
) -> Option<Vec<String>> {
    let lists: Vec<&Option<Vec<String>>> = lists.into_iter().collect();
    if lists.iter().all(|l| l.is_none()) {
        return None;
    }
    let mut out = Vec::new();
    for list in lists {
        match list {
            Some(l) => out.extend(l.iter().cloned()),
            None => out.extend(default.iter().map(|s| s.to_string())),
        }
    }
    Some(sorted(out))
}

/// Like `union_with_default` for lists where empty means the default.
fn union_nonempty_with_default<'a>(
    lists: impl IntoIterator<Item = &'a Vec<String>>,
    default: &[&str],
) -> Vec<String> {
    let lists: Vec<&Vec<String>> = lists.into_iter().collect();
    if lists.iter().all(|l| l.is_empty()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for list in lists {
        if list.is_empty() {
            out.extend(default.iter().map(|s| s.to_string()));
        } else {
            out.extend(list.iter().cloned());
        }
    }
    sorted(out)
}

fn strictness(w: WriteTargets) -> u8 {
    match w {
        WriteTargets::None => 0,
        WriteTargets::Last => 1,
        WriteTargets::All => 2,
    }
}

/// Subcommand lists: `None` (every subcommand) wins the union.
fn merge_subcommands(rules: &[&CommandRule]) -> Option<Vec<SubcommandRule>> {
    if rules.iter().any(|r| r.subcommands.is_none()) {
        return None;
    }
    let mut by_name: BTreeMap<String, Vec<&SubcommandRule>> = BTreeMap::new();
    for sub in rules
        .iter()
        .filter_map(|r| r.subcommands.as_ref())
        .flatten()
    {
        by_name.entry(sub.name.clone()).or_default().push(sub);
    }
    Some(
        by_name
            .into_iter()
            .map(|(name, subs)| SubcommandRule {
                name,
                targets: if subs.iter().any(|s| s.targets.is_none()) {
                    None
                } else {
                    Some(union(subs.iter().filter_map(|s| s.targets.as_ref())))
                },
                every_arg_is_target: restrict(subs.iter().map(|s| s.every_arg_is_target)),
            })
            .collect(),
    )
}

fn merge_rule(program: String, rules: &[&CommandRule]) -> CommandRule {
    CommandRule {
        program,
        subcommands: merge_subcommands(rules),
        deny_args: union(rules.iter().map(|r| &r.deny_args)),
        recursive_flags: union(rules.iter().map(|r| &r.recursive_flags)),
        writes: rules
            .iter()
            .map(|r| r.writes)
            .max_by_key(|w| strictness(*w))
            .unwrap_or_default(),
        write_flags: union(rules.iter().map(|r| &r.write_flags)),
        allow_inline: union(rules.iter().map(|r| &r.allow_inline)),
        allow_options: union(rules.iter().map(|r| &r.allow_options)),
        max_runtime_seconds: min_set(rules.iter().map(|r| r.max_runtime_seconds)),
        max_output_bytes: min_set(rules.iter().map(|r| r.max_output_bytes)),
    }
}

fn merge_commands(docs: &[PolicyDocument]) -> CommandPolicy {
    let mut by_program: BTreeMap<String, Vec<&CommandRule>> = BTreeMap::new();
    for rule in docs.iter().flat_map(|d| &d.commands.allow) {
        by_program
            .entry(rule.program.clone())
            .or_default()
            .push(rule);
    }
    let c = || docs.iter().map(|d| &d.commands);
    CommandPolicy {
        allow: by_program
            .into_iter()
            .map(|(program, rules)| merge_rule(program, &rules))
            .collect(),
        deny: union(c().map(|c| &c.deny)),
        trusted_bin_dirs: union_with_default(
            c().map(|c| &c.trusted_bin_dirs),
            DEFAULT_TRUSTED_BIN_DIRS,
        ),
        allow_pipelines: grant(c().map(|c| c.allow_pipelines)),
        max_runtime_seconds: min_set(c().map(|c| c.max_runtime_seconds)),
        max_output_bytes: min_set(c().map(|c| c.max_output_bytes)),
        protected_paths: union_with_default(
            c().map(|c| &c.protected_paths),
            DEFAULT_PROTECTED_PATHS,
        ),
    }
}

fn strictest(limits: impl IntoIterator<Item = RateLimit>) -> Option<RateLimit> {
    limits
        .into_iter()
        .reduce(|a, b| if stricter(&b, &a) { b } else { a })
}

fn merge_rate_limits(docs: &[PolicyDocument]) -> RateLimitPolicy {
    let r = || docs.iter().map(|d| &d.rate_limits);
    let mut routes: BTreeMap<String, Vec<RateLimit>> = BTreeMap::new();
    for (route, limit) in r().flat_map(|r| &r.routes) {
        routes.entry(route.clone()).or_default().push(limit.clone());
    }
    // Disabling limits grants something, so it needs every input that says anything to agree.
    let enabled = grant(r().map(|r| r.enabled.map(|e| !e))).map(|disabled| !disabled);
    RateLimitPolicy {
        enabled,
        default: strictest(r().filter_map(|r| r.default.clone())),
        routes: routes
            .into_iter()
            .filter_map(|(route, limits)| strictest(limits).map(|l| (route, l)))
            .collect(),
        trusted_proxies: union(r().map(|r| &r.trusted_proxies)),
    }
}

/// Merges policies: allowlists union, denies union (and win), the most
/// restrictive limits, CORS origins union. Any input order gives the same result.
pub fn merge(docs: &[PolicyDocument]) -> PolicyDocument {
    let p = || docs.iter().map(|d| &d.paths);
    let c = || docs.iter().map(|d| &d.cors);
    PolicyDocument {
        version: POLICY_VERSION,
        commands: merge_commands(docs),
        paths: PathPolicy {
            read: union(p().map(|p| &p.read)),
            write: union(p().map(|p| &p.write)),
            deny: union(p().map(|p| &p.deny)),
            max_read_bytes: min_set(p().map(|p| p.max_read_bytes)),
            max_write_bytes: min_set(p().map(|p| p.max_write_bytes)),
        },
        cors: CorsPolicy {
            allowed_origins: union(c().map(|c| &c.allowed_origins)),
            allow_credentials: grant(c().map(|c| c.allow_credentials)),
            allowed_methods: union_nonempty_with_default(
                c().map(|c| &c.allowed_methods),
                DEFAULT_METHODS,
            ),
            allowed_headers: union_nonempty_with_default(
                c().map(|c| &c.allowed_headers),
                DEFAULT_HEADERS,
            ),
            max_age_seconds: min_set(c().map(|c| c.max_age_seconds)),
        },
        rate_limits: merge_rate_limits(docs),
        sandbox: crate::sandbox::merge(&docs.iter().map(|d| &d.sandbox).collect::<Vec<_>>()),
        examples: PolicyExamples {
            allow: union(docs.iter().map(|d| &d.examples.allow)),
            deny: union(docs.iter().map(|d| &d.examples.deny)),
        },
    }
}
