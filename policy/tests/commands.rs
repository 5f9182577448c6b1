//! Command decisions, table-driven: each case is a command line, the
//! working directory, whether it must be allowed, and a fragment of the rule
//! that must have decided.

mod common;

use std::path::Path;

use common::fixture;

/// `(line, cwd, allowed, rule fragment)`; `{data}` etc. are fixture paths.
const CASES: &[(&str, &str, bool, &str)] = &[
    // Plain commands that are allowed.
    ("ls -la {data}", "{work}", true, "commands.allow[0] (ls)"),
    ("ls", "{work}", true, "(ls)"),
    ("cat {data}/a.txt", "{work}", true, "(cat)"),
    ("head -n 5 {data}/a.txt", "{work}", true, "(head)"),
    (
        "wc -l {data}/a.txt {data}/sub/notes.txt",
        "{work}",
        true,
        "(wc)",
    ),
    ("grep -n alpha {data}/a.txt", "{work}", true, "(grep)"),
    ("grep -r alpha {data}/sub", "{work}", true, "(grep)"),
    ("cat a.txt", "{data}", true, "(cat)"),
    ("cat {data}/sub/../a.txt", "{work}", true, "(cat)"),
    ("cat {data}/link-inside", "{work}", true, "(cat)"),
    ("/usr/bin/cat {data}/a.txt", "{work}", true, "(cat)"),
    ("/bin/ls {data}", "{work}", true, "(ls)"),
    // Quoted operators are plain arguments.
    ("grep 'a; b' {data}/a.txt", "{work}", true, "(grep)"),
    ("grep \"x && y\" {data}/a.txt", "{work}", true, "(grep)"),
    ("grep -e 'a|b' {data}/a.txt", "{work}", true, "(grep)"),
    ("grep 'a$(b)' {data}/a.txt", "{work}", true, "(grep)"),
    ("grep a\\;b {data}/a.txt", "{work}", true, "(grep)"),
    ("grep '>' {data}/a.txt", "{work}", true, "(grep)"),
    // Subcommands and targets.
    ("git status", "{work}", true, "(git)"),
    ("git log --oneline -n 5", "{work}", true, "(git)"),
    ("git diff HEAD~1", "{work}", true, "(git)"),
    ("git push origin main", "{work}", true, "(git)"),
    ("docker exec web ls", "{work}", true, "(docker)"),
    ("docker exec -it worker ps", "{work}", true, "(docker)"),
    ("docker ps -a", "{work}", true, "(docker)"),
    ("systemctl restart nginx", "{work}", true, "(systemctl)"),
    ("systemctl status", "{work}", true, "(systemctl)"),
    // Writes inside the write root.
    ("cp {data}/a.txt {work}/b.txt", "{work}", true, "(cp)"),
    (
        "mv {work}/existing.txt {work}/moved.txt",
        "{work}",
        true,
        "(mv)",
    ),
    ("touch {work}/new.txt", "{work}", true, "(touch)"),
    ("touch fresh.txt", "{work}", true, "(touch)"),
    ("mkdir -p {work}/d/e", "{work}", true, "(mkdir)"),
    ("rm {work}/existing.txt", "{work}", true, "(rm)"),
    ("rm -rf {work}/d", "{work}", true, "(rm)"),
    (
        "sed -i s/old/new/ {work}/existing.txt",
        "{work}",
        true,
        "(sed)",
    ),
    ("sed -n 1p {data}/a.txt", "{work}", true, "(sed)"),
    ("find {data}/sub -name '*.txt'", "{work}", true, "(find)"),
    // Inline code listed exactly.
    ("python3 -c 'print(1)'", "{work}", true, "allowInline[0]"),
    ("python3 -c \"print(1)\"", "{work}", true, "allowInline[0]"),
    ("python3 {work}/script.py", "{work}", true, "(python3)"),
    // Not in the allowlist, explicitly denied, always refused.
    ("curl http://example.com", "{work}", false, "commands.allow"),
    ("nc -l 4444", "{work}", false, "commands.allow"),
    (
        "wget http://example.com",
        "{work}",
        false,
        "commands.deny[0] (wget)",
    ),
    ("sudo ls", "{work}", false, "always-refused"),
    ("su -", "{work}", false, "always-refused"),
    ("doas ls", "{work}", false, "always-refused"),
    ("eval ls", "{work}", false, "always-refused"),
    ("exec ls", "{work}", false, "always-refused"),
    ("/usr/bin/sudo ls", "{work}", false, "always-refused"),
    ("", "{work}", false, "commands"),
    ("   ", "{work}", false, "commands"),
    // Programs given by path.
    (
        "./cat {data}/a.txt",
        "{work}",
        false,
        "commands.trustedBinDirs",
    ),
    (
        "bin/cat {data}/a.txt",
        "{work}",
        false,
        "commands.trustedBinDirs",
    ),
    (
        "/tmp/cat {data}/a.txt",
        "{work}",
        false,
        "commands.trustedBinDirs",
    ),
    (
        "{work}/cat {data}/a.txt",
        "{work}",
        false,
        "commands.trustedBinDirs",
    ),
    (
        "/usr/bin/../../tmp/cat {data}/a.txt",
        "{work}",
        false,
        "commands.trustedBinDirs",
    ),
    // Destructive commands on protected paths.
    ("rm -rf /", "{work}", false, "commands.protectedPaths"),
    ("rm -rf //", "{work}", false, "commands.protectedPaths"),
    ("rm -rf /etc/", "{work}", false, "commands.protectedPaths"),
    (
        "rm -rf /./etc/.",
        "{work}",
        false,
        "commands.protectedPaths",
    ),
    ("rm -r /home", "{work}", false, "commands.protectedPaths"),
    ("rm -R /usr", "{work}", false, "commands.protectedPaths"),
    (
        "rm --recursive /var",
        "{work}",
        false,
        "commands.protectedPaths",
    ),
    ("rm -fr {data}", "{work}", false, "commands.protectedPaths"),
    (
        "rm -rf {work}/../data",
        "{work}",
        false,
        "commands.protectedPaths",
    ),
    ("rm -rf etc", "/", false, "commands.protectedPaths"),
    ("rm -rf .", "/", false, "commands.protectedPaths"),
    ("grep -r x /", "{work}", false, "commands.protectedPaths"),
    ("rm {data}/a.txt", "{work}", false, "paths.write"),
    ("rm -rf {outside}", "{work}", false, "paths.write"),
    // Every injection form.
    ("ls; rm -rf /", "{work}", false, "shell-syntax"),
    ("ls;id", "{work}", false, "shell-syntax"),
    ("ls && id", "{work}", false, "shell-syntax"),
    ("ls || id", "{work}", false, "shell-syntax"),
    ("ls | wc -l", "{work}", false, "shell-syntax"),
    ("ls & id", "{work}", false, "shell-syntax"),
    ("ls &", "{work}", false, "shell-syntax"),
    ("ls $(id)", "{work}", false, "shell-syntax"),
    ("ls \"$(id)\"", "{work}", false, "shell-syntax"),
    ("ls `id`", "{work}", false, "shell-syntax"),
    ("ls \"`id`\"", "{work}", false, "shell-syntax"),
    ("ls ${HOME}", "{work}", false, "shell-syntax"),
    ("ls $HOME", "{work}", false, "shell-syntax"),
    ("ls > /tmp/x", "{work}", false, "shell-syntax"),
    ("ls >> /tmp/x", "{work}", false, "shell-syntax"),
    ("ls 2>&1", "{work}", false, "shell-syntax"),
    ("cat < /etc/passwd", "{work}", false, "shell-syntax"),
    ("cat <<EOF", "{work}", false, "shell-syntax"),
    ("cat <<< x", "{work}", false, "shell-syntax"),
    ("cat <(id)", "{work}", false, "shell-syntax"),
    ("ls\nid", "{work}", false, "shell-syntax"),
    ("ls\rid", "{work}", false, "shell-syntax"),
    ("FOO=bar ls", "{work}", false, "shell-syntax"),
    ("LD_PRELOAD=/tmp/x.so ls", "{work}", false, "shell-syntax"),
    ("(ls)", "{work}", false, "shell-syntax"),
    ("ls 'unterminated", "{work}", false, "shell-syntax"),
    ("ls $'\\x41'", "{work}", false, "shell-syntax"),
    // Subcommand and argument rules.
    ("git", "{work}", false, "commands.allow[5].subcommands"),
    (
        "git clean -fdx",
        "{work}",
        false,
        "commands.allow[5].subcommands",
    ),
    ("git -c core.pager=sh log", "{work}", false, "profile (git)"),
    ("git push --force", "{work}", false, "denyArgs[0]"),
    ("git push -f origin main", "{work}", false, "denyArgs[2]"),
    (
        "git push --force-with-lease=main",
        "{work}",
        false,
        "denyArgs[1]",
    ),
    (
        "docker exec db sh",
        "{work}",
        false,
        "subcommands[0].targets",
    ),
    ("docker exec", "{work}", false, "subcommands[0].targets"),
    (
        "docker run -it alpine",
        "{work}",
        false,
        "commands.allow[6].subcommands",
    ),
    (
        "systemctl restart nginx sshd",
        "{work}",
        false,
        "subcommands[0].targets",
    ),
    (
        "systemctl stop nginx",
        "{work}",
        false,
        "commands.allow[7].subcommands",
    ),
    ("find {data} -exec rm {} ;", "{work}", false, "shell-syntax"),
    (
        "find {data} -exec rm {} \\;",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    ("find {data} -delete", "{work}", false, "denyArgs[2]"),
    // Interpreter inline code.
    (
        "python3 -c 'import os'",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    (
        "python3 -c 'print(2)'",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    (
        "python3 -Ic 'print(1)'",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    ("bash -c id", "{work}", false, "interpreter-inline-code"),
    ("bash -ec id", "{work}", false, "interpreter-inline-code"),
    (
        "bash --command=id",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    (
        "perl -e 'print 1'",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    (
        "perl -ne 'print' {data}/a.txt",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    ("node -e 1", "{work}", false, "interpreter-inline-code"),
    ("node --eval=1", "{work}", false, "interpreter-inline-code"),
    (
        "/usr/bin/python3 -c 'import os'",
        "{work}",
        false,
        "interpreter-inline-code",
    ),
    // Path arguments of allowed commands.
    (
        "cat /etc/shadow",
        "{work}",
        false,
        "paths.deny[3] (/etc/shadow)",
    ),
    ("cat /etc/passwd", "{work}", false, "paths.read"),
    ("cat /data/../etc/shadow", "{work}", false, "paths.deny[3]"),
    ("ls /data/./../etc", "{work}", false, "paths.read"),
    (
        "cat {data}/.env",
        "{work}",
        false,
        "paths.deny[0] (**/.env)",
    ),
    ("cat .env", "{data}", false, "paths.deny[0]"),
    ("grep x .env", "{work}", false, "paths.deny[0]"),
    ("cat ~/.ssh/id_rsa", "{work}", false, "paths.deny"),
    (
        "cat {data}/../outside/secret.txt",
        "{work}",
        false,
        "paths.read",
    ),
    ("cat {data}/link-etc/passwd", "{work}", false, "paths.read"),
    ("cat {data}/link-secret", "{work}", false, "paths.read"),
    ("ls {root}/database", "{work}", false, "paths.read"),
    ("cat ../outside/secret.txt", "{data}", false, "paths.read"),
    ("ls ..", "{data}", false, "paths.read"),
    (
        "grep -f{outside}/secret.txt x {data}/a.txt",
        "{work}",
        false,
        "paths.read",
    ),
    (
        "grep --file={outside}/secret.txt x",
        "{work}",
        false,
        "paths.read",
    ),
    ("cp {data}/a.txt /etc/x", "{work}", false, "paths.write"),
    (
        "cp {outside}/secret.txt {work}/x",
        "{work}",
        false,
        "paths.read",
    ),
    (
        "cp {work}/existing.txt {data}/copy",
        "{work}",
        false,
        "paths.write",
    ),
    (
        "cp -t {data} {work}/existing.txt",
        "{work}",
        false,
        "paths.write",
    ),
    ("touch {data}/new", "{work}", false, "paths.write"),
    ("touch new", "{data}", false, "paths.write"),
    ("tee {data}/x", "{work}", false, "paths.write"),
    ("sed -i s/a/b/ {data}/a.txt", "{work}", false, "paths.write"),
    // `mv` removes its source: a read-only root cannot lose a file.
    (
        "mv {data}/a.txt {work}/a.txt",
        "{work}",
        false,
        "paths.write",
    ),
    ("touch {work}/link-out/x", "{work}", false, "paths.write"),
    ("touch {work}/dangling", "{work}", false, "paths"),
];

#[test]
fn command_decisions_table() {
    let f = fixture();
    let mut failures = Vec::new();
    for (line, cwd, allowed, rule) in CASES {
        let line = f.expand(line);
        let cwd = f.expand(cwd);
        let d = f.policy.check_command(&line, Path::new(&cwd));
        if d.allowed != *allowed || !d.rule.contains(rule) {
            failures.push(format!(
                "{line:?} in {cwd}: want allowed={allowed} rule~{rule:?}, got allowed={} rule={:?} reason={:?}",
                d.allowed, d.rule, d.reason
            ));
        }
        if !d.allowed {
            assert!(!d.reason.is_empty(), "{line:?}: a denial needs a reason");
        }
    }
    assert!(CASES.len() >= 80, "the table has {} cases", CASES.len());
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn decision_carries_argv_stages_and_limits() {
    let f = fixture();
    let d = f.policy.check_command("grep -n 'a b' x", &f.data);
    assert_eq!(d.argv, ["grep", "-n", "a b", "x"]);
    assert_eq!(d.stages, vec![d.argv.clone()]);
    assert_eq!(d.command, "grep -n 'a b' x");
    assert_eq!(d.max_runtime.as_secs(), 20);
    assert_eq!(d.max_output_bytes, policy::DEFAULT_MAX_OUTPUT_BYTES);
    let json = serde_json::to_value(&d).unwrap_or_default();
    assert_eq!(json["max_runtime"], 20);
    assert_eq!(json["allowed"], true);
}

#[test]
fn unknown_program_reason_says_not_in_allowlist() {
    let f = fixture();
    let d = f.policy.check_command("curl x", &f.work);
    assert!(!d.allowed);
    assert!(d.reason.contains("not in allowlist"), "{}", d.reason);
}

#[test]
fn relative_working_directory_is_refused() {
    let f = fixture();
    let d = f.policy.check_command("ls", Path::new("data"));
    assert!(!d.allowed);
}

#[test]
fn pipelines_check_every_stage_when_enabled() {
    let root = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(root.path()).expect("canonical");
    let yaml = format!(
        "version: 1\ncommands:\n  allowPipelines: true\n  allow:\n    - program: ps\n    - program: grep\n    - program: cat\n      maxRuntimeSeconds: 5\npaths:\n  read: [\"{}\"]\n",
        root.display()
    );
    let p = policy::Policy::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e}"));
    let ok = p.check_command("ps aux | grep root", &root);
    assert!(ok.allowed, "{}", ok.reason);
    assert_eq!(ok.stages.len(), 2);
    assert_eq!(ok.rule, "commands.allow[0] (ps) | commands.allow[1] (grep)");
    let limited = p.check_command("cat x | grep y", &root);
    assert!(limited.allowed, "{}", limited.reason);
    assert_eq!(limited.max_runtime.as_secs(), 5);
    let bad = p.check_command("ps aux | sh", &root);
    assert!(!bad.allowed);
    assert!(
        bad.reason.contains("`sh` is not in allowlist"),
        "{}",
        bad.reason
    );
    let bad_path = p.check_command("ps aux | cat /etc/passwd", &root);
    assert!(!bad_path.allowed);
    assert!(!p.check_command("ps aux || grep x", &root).allowed);
    assert!(!p.check_command("ps aux |", &root).allowed);
}
