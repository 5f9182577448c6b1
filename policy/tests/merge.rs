//! Merging policies: order independence, denies win, most restrictive limits.

use std::path::Path;

use policy::{
    CommandPolicy, CommandRule, CorsPolicy, PathPolicy, Policy, PolicyDocument, RateLimit,
    RateLimitPolicy, SubcommandRule, WriteTargets, merge, to_yaml,
};

fn rule(program: &str) -> CommandRule {
    CommandRule {
        program: program.into(),
        ..CommandRule::default()
    }
}

fn subs(names: &[&str]) -> Option<Vec<SubcommandRule>> {
    Some(
        names
            .iter()
            .map(|n| SubcommandRule {
                name: n.to_string(),
                ..SubcommandRule::default()
            })
            .collect(),
    )
}

fn limit(requests: u32, per: &str) -> RateLimit {
    RateLimit {
        requests,
        per: per.into(),
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn team_a() -> PolicyDocument {
    PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            allow: vec![
                CommandRule {
                    subcommands: subs(&["status", "log"]),
                    deny_args: strings(&["--force"]),
                    max_runtime_seconds: Some(60),
                    ..rule("git")
                },
                rule("curl"),
                rule("ls"),
            ],
            allow_pipelines: Some(true),
            max_runtime_seconds: Some(120),
            ..CommandPolicy::default()
        },
        paths: PathPolicy {
            read: strings(&["/data", "/srv"]),
            deny: strings(&["**/.env"]),
            max_read_bytes: Some(4096),
            ..PathPolicy::default()
        },
        cors: CorsPolicy {
            allowed_origins: strings(&["https://a.example.com"]),
            allow_credentials: Some(true),
            ..CorsPolicy::default()
        },
        rate_limits: RateLimitPolicy {
            default: Some(limit(100, "1m")),
            routes: [("/api/chat".to_string(), limit(20, "1m"))]
                .into_iter()
                .collect(),
            trusted_proxies: strings(&["10.0.0.0/8"]),
            ..RateLimitPolicy::default()
        },
        ..PolicyDocument::default()
    }
}

fn team_b() -> PolicyDocument {
    PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            allow: vec![
                CommandRule {
                    subcommands: subs(&["diff", "status"]),
                    deny_args: strings(&["-f"]),
                    max_runtime_seconds: Some(10),
                    ..rule("git")
                },
                CommandRule {
                    writes: WriteTargets::Last,
                    ..rule("cp")
                },
            ],
            deny: strings(&["curl"]),
            allow_pipelines: Some(false),
            ..CommandPolicy::default()
        },
        paths: PathPolicy {
            read: strings(&["/data"]),
            write: strings(&["/data/out"]),
            deny: strings(&["**/.ssh/**"]),
            max_read_bytes: Some(1024),
            ..PathPolicy::default()
        },
        cors: CorsPolicy {
            allowed_origins: strings(&["https://b.example.com"]),
            ..CorsPolicy::default()
        },
        rate_limits: RateLimitPolicy {
            default: Some(limit(30, "30s")),
            routes: [
                ("/api/chat".to_string(), limit(5, "30s")),
                ("/api/models".to_string(), limit(50, "1m")),
            ]
            .into_iter()
            .collect(),
            ..RateLimitPolicy::default()
        },
        ..PolicyDocument::default()
    }
}

fn team_c() -> PolicyDocument {
    PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            allow: vec![
                CommandRule {
                    writes: WriteTargets::All,
                    ..rule("cp")
                },
                rule("ls"),
            ],
            max_output_bytes: Some(2048),
            ..CommandPolicy::default()
        },
        cors: CorsPolicy {
            allowed_origins: strings(&["https://a.example.com", "https://*.c.example.com"]),
            ..CorsPolicy::default()
        },
        ..PolicyDocument::default()
    }
}

#[test]
fn any_input_order_gives_identical_yaml() {
    let docs = [team_a(), team_b(), team_c()];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let outputs: Vec<String> = orders
        .iter()
        .map(|o| {
            to_yaml(&merge(&[
                docs[o[0]].clone(),
                docs[o[1]].clone(),
                docs[o[2]].clone(),
            ]))
        })
        .collect();
    for out in &outputs {
        assert_eq!(out, &outputs[0]);
    }
    // Merging is idempotent: the merged document merges to itself.
    let merged = merge(&docs);
    assert_eq!(
        to_yaml(&merge(std::slice::from_ref(&merged))),
        to_yaml(&merged)
    );
}

#[test]
fn allowlists_union_and_denies_win() {
    let merged = merge(&[team_a(), team_b(), team_c()]);
    let programs: Vec<&str> = merged
        .commands
        .allow
        .iter()
        .map(|r| r.program.as_str())
        .collect();
    assert_eq!(programs, ["cp", "curl", "git", "ls"]);
    let git = &merged.commands.allow[2];
    let names: Vec<&str> = git
        .subcommands
        .iter()
        .flatten()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["diff", "log", "status"]);
    assert_eq!(git.deny_args, ["--force", "-f"]);
    assert_eq!(git.max_runtime_seconds, Some(10));
    assert_eq!(merged.commands.allow[0].writes, WriteTargets::All);
    assert_eq!(merged.commands.deny, ["curl"]);

    let p = Policy::compile(merged).unwrap_or_else(|e| panic!("{e}"));
    let cwd = Path::new("/");
    let curl = p.check_command("curl http://example.com", cwd);
    assert!(!curl.allowed);
    assert_eq!(curl.rule, "commands.deny[0] (curl)");
    assert!(p.check_command("git diff", cwd).allowed);
    assert!(!p.check_command("git push", cwd).allowed);
    assert!(!p.check_command("git status -f", cwd).allowed);
}

#[test]
fn limits_take_the_most_restrictive_value() {
    let merged = merge(&[team_a(), team_b(), team_c()]);
    assert_eq!(merged.commands.max_runtime_seconds, Some(120));
    assert_eq!(merged.commands.max_output_bytes, Some(2048));
    assert_eq!(merged.paths.max_read_bytes, Some(1024));
    // 30 per 30s (60/min) is stricter than 100 per minute.
    assert_eq!(merged.rate_limits.default, Some(limit(30, "30s")));
    // 5 per 30s (10/min) is stricter than 20 per minute.
    assert_eq!(
        merged.rate_limits.routes.get("/api/chat"),
        Some(&limit(5, "30s"))
    );
    assert_eq!(
        merged.rate_limits.routes.get("/api/models"),
        Some(&limit(50, "1m"))
    );
    // A grant needs every input that sets it to agree.
    assert_eq!(merged.commands.allow_pipelines, Some(false));
    assert_eq!(merged.cors.allow_credentials, Some(true));
}

#[test]
fn paths_and_origins_union() {
    let merged = merge(&[team_c(), team_b(), team_a()]);
    assert_eq!(merged.paths.read, ["/data", "/srv"]);
    assert_eq!(merged.paths.write, ["/data/out"]);
    assert_eq!(merged.paths.deny, ["**/.env", "**/.ssh/**"]);
    assert_eq!(
        merged.cors.allowed_origins,
        [
            "https://*.c.example.com",
            "https://a.example.com",
            "https://b.example.com"
        ]
    );
    assert_eq!(merged.rate_limits.trusted_proxies, ["10.0.0.0/8"]);
}

#[test]
fn unrestricted_subcommands_win_the_union() {
    let a = PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            allow: vec![CommandRule {
                subcommands: subs(&["status"]),
                ..rule("git")
            }],
            ..CommandPolicy::default()
        },
        ..PolicyDocument::default()
    };
    let b = PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            allow: vec![rule("git")],
            ..CommandPolicy::default()
        },
        ..PolicyDocument::default()
    };
    assert_eq!(
        merge(&[a.clone(), b.clone()]).commands.allow[0].subcommands,
        None
    );
    assert_eq!(merge(&[b, a]).commands.allow[0].subcommands, None);
}

#[test]
fn unset_lists_with_defaults_keep_their_defaults_in_a_union() {
    let a = PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            protected_paths: Some(strings(&["/data"])),
            ..CommandPolicy::default()
        },
        ..PolicyDocument::default()
    };
    let b = PolicyDocument {
        version: 1,
        ..PolicyDocument::default()
    };
    let merged = merge(&[a, b.clone()]);
    let protected = merged.commands.protected_paths.unwrap_or_default();
    assert!(protected.contains(&"/data".to_string()));
    assert!(protected.contains(&"/etc".to_string()));
    assert_eq!(merge(&[b.clone(), b]).commands.protected_paths, None);
}

#[test]
fn merge_of_nothing_is_an_empty_valid_policy() {
    let merged = merge(&[]);
    assert_eq!(merged.version, 1);
    assert!(Policy::compile(merged).is_ok());
}

#[test]
fn allow_options_union_per_program() {
    let doc = |options: &[&str]| PolicyDocument {
        version: 1,
        commands: CommandPolicy {
            allow: vec![CommandRule {
                allow_options: strings(options),
                ..rule("tail")
            }],
            ..CommandPolicy::default()
        },
        ..PolicyDocument::default()
    };
    let merged = merge(&[doc(&["--retry"]), doc(&["--follow", "--retry"])]);
    assert_eq!(
        merged.commands.allow[0].allow_options,
        ["--follow", "--retry"]
    );
    let p = Policy::compile(merged).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.check_command("tail -f", Path::new("/")).allowed);
    assert!(!p.check_command("tail -F", Path::new("/")).allowed);
}
