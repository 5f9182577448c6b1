//! The built-in policy: read-only, a small allowlist of inspection commands,
//! no writes, secrets denied. Used when no `policy.yaml` is given. Every
//! program it allows has a profile, so `hostname NAME`, `date -s`, `ps e`
//! and `tail -f` stay refused however they are spelled.

use std::collections::BTreeMap;

use crate::document::{
    CommandPolicy, CommandRule, CorsPolicy, POLICY_VERSION, PathPolicy, PolicyDocument,
    PolicyExamples, RateLimit, RateLimitPolicy,
};

/// Programs the default policy allows: they only inspect.
pub const DEFAULT_PROGRAMS: &[&str] = &[
    "cat", "date", "df", "du", "free", "grep", "head", "hostname", "ls", "ps", "tail", "uname",
    "uptime", "wc", "whoami",
];

/// Globs of secrets no policy should expose; the default denies them all.
pub const DEFAULT_DENY_GLOBS: &[&str] = &[
    "**/*.key",
    "**/*.pem",
    "**/.aws/**",
    "**/.docker/config.json",
    "**/.env",
    "**/.env.*",
    "**/.git-credentials",
    "**/.gnupg/**",
    "**/.kube/config",
    "**/.netrc",
    "**/.pgpass",
    "**/.ssh/**",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/id_rsa*",
    "/etc/gshadow",
    "/etc/shadow",
    "/etc/sudoers",
    "/etc/sudoers.d/**",
    "/proc/**",
    "/root/**",
    "/var/run/secrets/**",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn rule(program: &str) -> CommandRule {
    CommandRule {
        program: program.into(),
        ..CommandRule::default()
    }
}

fn limit(requests: u32, per: &str) -> RateLimit {
    RateLimit {
        requests,
        per: per.into(),
    }
}

/// The built-in safe default policy document.
pub fn default_policy() -> PolicyDocument {
    let mut allow: Vec<CommandRule> = DEFAULT_PROGRAMS.iter().map(|p| rule(p)).collect();
    for r in &mut allow {
        match r.program.as_str() {
            // A recursive walk over a system root is refused even where it is readable.
            "grep" => {
                r.recursive_flags = strings(&["-r", "-R", "--recursive", "--dereference-recursive"])
            }
            "ls" => r.recursive_flags = strings(&["-R", "--recursive"]),
            // Profiles refuse follow modes however spelled (`-qf`, `--fo`);
            // the list keeps the intent visible in the document.
            // `tail -f` never ends and would hold a worker until the runtime limit.
            "tail" => r.deny_args = strings(&["-f", "-F", "--follow*", "--retry"]),
            _ => {}
        }
    }
    let routes: BTreeMap<String, RateLimit> = [
        ("/api/auth/login".to_string(), limit(5, "5m")),
        ("/api/chat".to_string(), limit(10, "1m")),
    ]
    .into_iter()
    .collect();
    PolicyDocument {
        version: POLICY_VERSION,
        sandbox: Default::default(),
        commands: CommandPolicy {
            allow,
            deny: Vec::new(),
            trusted_bin_dirs: None,
            allow_pipelines: Some(false),
            max_runtime_seconds: Some(30),
            max_output_bytes: Some(1024 * 1024),
            protected_paths: None,
        },
        paths: PathPolicy {
            read: strings(&["/var/log"]),
            write: Vec::new(),
            deny: strings(DEFAULT_DENY_GLOBS),
            max_read_bytes: Some(1024 * 1024),
            max_write_bytes: Some(1024 * 1024),
        },
        cors: CorsPolicy {
            allowed_origins: Vec::new(),
            allow_credentials: Some(false),
            allowed_methods: Vec::new(),
            allowed_headers: Vec::new(),
            max_age_seconds: Some(600),
        },
        rate_limits: RateLimitPolicy {
            enabled: Some(true),
            default: Some(limit(60, "1m")),
            routes,
            trusted_proxies: Vec::new(),
        },
        examples: PolicyExamples {
            allow: strings(&[
                "df -h",
                "du -sh /var/log",
                "grep -n error /var/log/syslog",
                "ls -la /var/log",
                "ps aux",
                "tail -n 100 /var/log/syslog",
                "uname -a",
            ]),
            deny: strings(&[
                "bash -c 'id'",
                "cat /etc/shadow",
                "cat /home/user/.ssh/id_rsa",
                "cp /data/a /tmp/b",
                "curl http://example.com",
                "date --file=.env",
                "date -s 2001-01-01",
                "grep -rn root /",
                "hostname evil",
                "ls /data; rm -rf /data",
                "ls $(whoami)",
                "ps aux | grep root",
                "ps auxe",
                "rm -rf /",
                "sudo ls",
                "tail -f /var/log/syslog",
                "tail -qf /var/log/syslog",
            ]),
        },
    }
}
