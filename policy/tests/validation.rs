//! Validation errors name the exact field path.

use policy::{Policy, PolicyError};

/// `(yaml, expected error line)`; each document breaks exactly one rule.
const CASES: &[(&str, &str)] = &[
    ("version: 2\n", "version: must be 1 (got 2)"),
    (
        "version: 1\ncommands:\n  allow:\n    - program: \"\"\n",
        "commands.allow[0].program: empty",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: ls\n    - program: /bin/cat\n",
        "commands.allow[1].program: `/bin/cat` must be a program name without a directory",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: ls\n    - program: ls\n",
        "commands.allow[1].program: `ls` is already allowed by commands.allow[0]",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: sudo\n",
        "commands.allow[0].program: `sudo` is always refused and cannot be allowed",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: a\n    - program: b\n    - program: c\n    - program: git\n      subcommands:\n        - name: \"\"\n",
        "commands.allow[3].subcommands[0].name: empty",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: docker\n      subcommands:\n        - name: ps\n        - name: exec\n          targets: [\"\"]\n",
        "commands.allow[0].subcommands[1].targets[0]: empty",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: git\n      denyArgs: [\"--x\", \"[\"]\n",
        "commands.allow[0].denyArgs[1]: malformed glob `[`: unclosed character class; missing ']'",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: rm\n      recursiveFlags: [r]\n",
        "commands.allow[0].recursiveFlags[0]: `r` must be a flag such as `-r` or `--recursive`",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: python3\n      allowInline: [\"python -c 'x'\"]\n",
        "commands.allow[0].allowInline[0]: must start with the program `python3`",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: ls\n      maxRuntimeSeconds: 0\n",
        "commands.allow[0].maxRuntimeSeconds: must be greater than 0",
    ),
    (
        "version: 1\ncommands:\n  maxRuntimeSeconds: 0\n",
        "commands.maxRuntimeSeconds: must be greater than 0",
    ),
    (
        "version: 1\ncommands:\n  maxOutputBytes: 0\n",
        "commands.maxOutputBytes: must be greater than 0",
    ),
    (
        "version: 1\ncommands:\n  deny: [\"/usr/bin/curl\"]\n",
        "commands.deny[0]: `/usr/bin/curl` must be a program name without a directory",
    ),
    (
        "version: 1\ncommands:\n  trustedBinDirs: [\"/usr/bin\", \"bin\"]\n",
        "commands.trustedBinDirs[1]: `bin` must be an absolute path",
    ),
    (
        "version: 1\ncommands:\n  protectedPaths: [\"etc\"]\n",
        "commands.protectedPaths[0]: `etc` must be an absolute path",
    ),
    (
        "version: 1\npaths:\n  read: [data]\n",
        "paths.read[0]: `data` must be an absolute path",
    ),
    (
        "version: 1\npaths:\n  write: [\"\"]\n",
        "paths.write[0]: empty",
    ),
    (
        "version: 1\npaths:\n  deny: [\"/a/[b\"]\n",
        "paths.deny[0]: malformed glob `/a/[b`: unclosed character class; missing ']'",
    ),
    (
        "version: 1\npaths:\n  deny: [\"*.pem\"]\n",
        "paths.deny[0]: `*.pem` must start with `/` or `**` (it is matched against absolute paths)",
    ),
    (
        "version: 1\npaths:\n  maxReadBytes: 0\n",
        "paths.maxReadBytes: must be greater than 0",
    ),
    (
        "version: 1\npaths:\n  maxWriteBytes: 0\n",
        "paths.maxWriteBytes: must be greater than 0",
    ),
    (
        "version: 1\ncors:\n  allowedOrigins: [\"*\"]\n  allowCredentials: true\n",
        "cors.allowedOrigins[0]: the wildcard origin `*` cannot be combined with allowCredentials: true",
    ),
    (
        "version: 1\ncors:\n  allowedOrigins: [\"https://ok.example\", \"example.com\"]\n",
        "cors.allowedOrigins[1]: malformed origin `example.com`: expected `scheme://host[:port]`",
    ),
    (
        "version: 1\ncors:\n  allowedOrigins: [\"https://app.example.com/\"]\n",
        "cors.allowedOrigins[0]: malformed origin `https://app.example.com/`: an origin has no path, query, fragment or user info (found `/`)",
    ),
    (
        "version: 1\ncors:\n  allowedMethods: [get]\n",
        "cors.allowedMethods[0]: `get` is not an upper-case HTTP method",
    ),
    (
        "version: 1\nrateLimits:\n  default: {requests: 0, per: 1m}\n",
        "rateLimits.default.requests: must be greater than 0",
    ),
    (
        "version: 1\nrateLimits:\n  default: {requests: 5, per: 0s}\n",
        "rateLimits.default.per: `0s` must be greater than zero",
    ),
    (
        "version: 1\nrateLimits:\n  routes:\n    /api/chat: {requests: 5, per: fast}\n",
        "rateLimits.routes[\"/api/chat\"].per: `fast` must be a whole number followed by s, m or h (e.g. 30s, 1m, 1h)",
    ),
    (
        "version: 1\nrateLimits:\n  routes:\n    api: {requests: 5, per: 1m}\n",
        "rateLimits.routes[\"api\"]: a route must start with `/`",
    ),
    (
        "version: 1\nrateLimits:\n  trustedProxies: [\"10.0.0.0/33\"]\n",
        "rateLimits.trustedProxies[0]: `10.0.0.0/33` is not a CIDR (e.g. 10.0.0.0/8) or IP address",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: ls\nexamples:\n  allow: [\"ls\", \"rm -rf /\"]\n",
        "examples.allow[1]: `rm -rf /` must be allowed but was denied by commands.allow: `rm` is not in allowlist",
    ),
    (
        "version: 1\ncommands:\n  allow:\n    - program: ls\nexamples:\n  deny: [\"ls\"]\n",
        "examples.deny[0]: `ls` must be denied but was allowed by commands.allow[0] (ls)",
    ),
];

#[test]
fn validation_errors_name_the_field() {
    let mut failures = Vec::new();
    for (yaml, want) in CASES {
        match Policy::from_yaml(yaml) {
            Err(PolicyError::Invalid(errors)) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                if lines != [*want] {
                    failures.push(format!("{yaml:?}\n  want: {want}\n  got:  {lines:?}"));
                }
            }
            other => failures.push(format!(
                "{yaml:?}\n  want: {want}\n  got:  {:?}",
                other.map(|p| p.hash().to_owned())
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn several_errors_are_all_reported_one_per_line() {
    let yaml = "version: 3\npaths:\n  read: [a]\n  write: [b]\n";
    let err = Policy::from_yaml(yaml)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "version: must be 1 (got 3)\npaths.read[0]: `a` must be an absolute path\npaths.write[0]: `b` must be an absolute path"
    );
}

#[test]
fn parse_errors_say_where() {
    for (yaml, needle) in [
        (
            "version: 1\npaths:\n  raed: [/data]\n",
            "unknown field `raed`",
        ),
        ("version: 1\ncommands:\n  maxRuntimeSeconds: -1\n", "line 3"),
        (
            "version: 1\ncommands:\n  allow:\n    - program: ls\n      writes: sometimes\n",
            "sometimes",
        ),
        ("version: 1\nextra: true\n", "unknown field `extra`"),
        ("commands: {}\n", "version"),
        (": : :\n", "line 1"),
    ] {
        match Policy::from_yaml(yaml) {
            Err(PolicyError::Parse(m)) => {
                assert!(m.contains(needle), "{yaml:?}: {m}");
                assert!(!m.contains('\n'), "one line: {m}");
            }
            other => panic!(
                "{yaml:?}: expected a parse error, got {:?}",
                other.map(|p| p.hash().to_owned())
            ),
        }
    }
}

#[test]
fn minimal_document_is_valid_and_denies_everything() {
    let p = Policy::from_yaml("version: 1\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(!p.check_command("ls", std::path::Path::new("/")).allowed);
    assert!(
        !p.check_path(std::path::Path::new("/tmp/x"), policy::Access::Read)
            .allowed
    );
    assert!(!p.origin_allowed("http://localhost:3000"));
}
