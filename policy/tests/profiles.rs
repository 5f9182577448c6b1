//! Program profiles, table-driven: every way an allowed program could be
//! made to do more than its rule intended is a denied row, next to the
//! benign neighbour that stays allowed.

use std::fs;
use std::path::{Path, PathBuf};

use policy::Policy;

struct Tree {
    _dir: tempfile::TempDir,
    data: PathBuf,
    work: PathBuf,
    outside: PathBuf,
    policy: Policy,
}

impl Tree {
    fn expand(&self, s: &str) -> String {
        s.replace("{data}", &self.data.display().to_string())
            .replace("{work}", &self.work.display().to_string())
            .replace("{outside}", &self.outside.display().to_string())
    }
}

fn policy_yaml(data: &Path, work: &Path) -> String {
    format!(
        r#"version: 1
commands:
  allow:
    - program: date
    - program: wc
    - program: du
    - program: grep
      denyArgs: ["-r", "-R", "--recursive", "--dereference-recursive"]
    - program: sed
      denyArgs: ["--in-place"]
    - program: awk
    - program: gawk
    - program: tar
    - program: find
    - program: git
    - program: cp
      denyArgs: ["--target-directory*"]
    - program: sort
    - program: tee
    - program: dd
    - program: ls
    - program: cat
    - program: tail
    - program: head
    - program: env
    - program: timeout
    - program: nice
    - program: xargs
    - program: nohup
    - program: stdbuf
    - program: setsid
    - program: watch
    - program: sh
    - program: systemctl
      subcommands:
        - name: status
        - name: restart
          targets: [nginx]
    - program: jq
    - program: docker
      subcommands: [{{name: ps}}, {{name: cp}}, {{name: run}}]
  deny: [sh]
paths:
  read: ["{data}"]
  write: ["{work}"]
  deny: ["**/.env", "**/.ssh/**", "**/id_rsa*"]
"#,
        data = data.display(),
        work = work.display()
    )
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let data = root.join("data");
    let work = root.join("work");
    let outside = root.join("outside");
    for d in [
        &data,
        &work,
        &outside,
        &data.join(".ssh"),
        &data.join("sub"),
    ] {
        fs::create_dir_all(d).expect("mkdir");
    }
    fs::write(data.join("a.txt"), "alpha\n").expect("write");
    fs::write(data.join(".env"), "SECRET=1\n").expect("write");
    fs::write(data.join("dates.txt"), "2001-01-01\n").expect("write");
    fs::write(data.join(".ssh/id_rsa"), "KEY\n").expect("write");
    fs::write(work.join("existing.txt"), "old\n").expect("write");
    fs::write(outside.join("secret.txt"), "secret\n").expect("write");
    let policy = Policy::from_yaml(&policy_yaml(&data, &work)).unwrap_or_else(|e| panic!("{e}"));
    Tree {
        _dir: dir,
        data,
        work,
        outside,
        policy,
    }
}

/// `(line, cwd, allowed, rule fragment)`.
const CASES: &[(&str, &str, bool, &str)] = &[
    // Option values naming files without a `/`, judged against the working directory.
    ("date", "{data}", true, "(date)"),
    ("date --file=dates.txt", "{data}", true, "(date)"),
    ("date --file=.env", "{data}", false, "paths.deny[0]"),
    ("date -f.env", "{data}", false, "paths.deny[0]"),
    ("date -f .env", "{data}", false, "paths.deny[0]"),
    ("date --fi .env", "{data}", false, "paths.deny[0]"),
    (
        "date --file={outside}/secret.txt",
        "{data}",
        false,
        "paths.read",
    ),
    ("wc -l a.txt", "{data}", true, "(wc)"),
    ("wc --files0-from=.env", "{data}", false, "profile (wc)"),
    ("du -sh {data}/sub", "{data}", true, "(du)"),
    ("du --files0-from=.env", "{data}", false, "profile (du)"),
    ("grep -n alpha a.txt", "{data}", true, "(grep)"),
    ("grep --file=.env x", "{data}", false, "paths.deny[0]"),
    ("grep -f .env x a.txt", "{data}", false, "paths.deny[0]"),
    // A working directory is judged as if it were a file inside itself.
    ("date --file=id_rsa", "{data}/.ssh", false, "paths.deny[1]"),
    ("ls", "{data}/.ssh", false, "paths.deny[1]"),
    ("ls", "{data}/sub", true, "(ls)"),
    // Code-running features.
    ("sed s/a/b/ a.txt", "{data}", true, "(sed)"),
    ("sed -n 1p a.txt", "{data}", true, "(sed)"),
    (
        "sed -e 's/a/b/g;2d' -e '/x/,$p' a.txt",
        "{data}",
        true,
        "(sed)",
    ),
    ("sed '1e id' a.txt", "{data}", false, "profile (sed)"),
    ("sed 's/x/id/e' a.txt", "{data}", false, "profile (sed)"),
    (
        "sed -e 's/a/b/' -e e a.txt",
        "{data}",
        false,
        "profile (sed)",
    ),
    ("sed '/x/{e id\n}' a.txt", "{data}", false, "profile (sed)"),
    (
        "sed --expression='$ e id' a.txt",
        "{data}",
        false,
        "profile (sed)",
    ),
    (
        "sed 'r /etc/passwd' a.txt",
        "{data}",
        false,
        "profile (sed)",
    ),
    (
        "sed '1R {outside}/secret.txt' a.txt",
        "{data}",
        false,
        "profile (sed)",
    ),
    ("awk '{print $1}' a.txt", "{data}", true, "(awk)"),
    (
        "awk -F: -v n=1 '$1 == n {print}' a.txt",
        "{data}",
        true,
        "(awk)",
    ),
    (
        "awk 'BEGIN{system(\"id\")}'",
        "{data}",
        false,
        "profile (awk)",
    ),
    (
        "awk '{print | \"sh\"}' a.txt",
        "{data}",
        false,
        "profile (awk)",
    ),
    (
        "awk '{print > \"out\"}' a.txt",
        "{data}",
        false,
        "profile (awk)",
    ),
    (
        "awk 'BEGIN{getline l < \"/etc/passwd\"}'",
        "{data}",
        false,
        "profile (awk)",
    ),
    ("awk -f prog.awk a.txt", "{data}", false, "profile (awk)"),
    ("gawk 'BEGIN{print 1}'", "{data}", true, "(gawk)"),
    ("gawk --load=x 'BEGIN{}'", "{data}", false, "profile (gawk)"),
    ("tar -tf t.tar", "{work}", true, "(tar)"),
    ("tar tvf t.tar", "{work}", true, "(tar)"),
    ("tar -cf t.tar existing.txt", "{work}", true, "(tar)"),
    (
        "tar -c --checkpoint=1 --checkpoint-action=exec=id -f t.tar existing.txt",
        "{work}",
        false,
        "profile (tar)",
    ),
    (
        "tar -c --checkpoint-act=exec=id -f t.tar existing.txt",
        "{work}",
        false,
        "profile (tar)",
    ),
    (
        "tar --to-command=id -xf t.tar",
        "{work}",
        false,
        "profile (tar)",
    ),
    (
        "tar -I id -cf t.tar existing.txt",
        "{work}",
        false,
        "profile (tar)",
    ),
    ("tar -xf t.tar", "{data}", false, "paths.write"),
    (
        "tar -cf {data}/t.tar existing.txt",
        "{work}",
        false,
        "paths.write",
    ),
    ("find {data}/sub -name '*.txt'", "{data}", true, "(find)"),
    (
        "find {data}/sub -exec id \\;",
        "{data}",
        false,
        "profile (find)",
    ),
    (
        "find {data}/sub -execdir id {} +",
        "{data}",
        false,
        "profile (find)",
    ),
    (
        "find {data}/sub -ok id \\;",
        "{data}",
        false,
        "profile (find)",
    ),
    ("find {data}/sub -delete", "{data}", false, "paths.write"),
    (
        "find {data}/sub -fprint {data}/list",
        "{data}",
        false,
        "paths.write",
    ),
    ("git log --oneline", "{work}", true, "(git)"),
    ("git -c core.pager=id log", "{work}", false, "profile (git)"),
    ("git -ccore.pager=id log", "{work}", false, "profile (git)"),
    (
        "git --config-env=core.pager=X log",
        "{work}",
        false,
        "profile (git)",
    ),
    ("git --exec-path=/tmp log", "{work}", false, "profile (git)"),
    ("git log --ext-diff", "{work}", false, "profile (git)"),
    ("git diff --ext-d", "{work}", false, "profile (git)"),
    ("git grep -O x", "{work}", false, "profile (git)"),
    ("git difftool", "{work}", false, "profile (git)"),
    ("git st", "{work}", false, "profile (git)"),
    ("git log --output=../data/x", "{work}", false, "paths.write"),
    ("git log -- .env", "{data}", false, "paths.deny[0]"),
    ("git show HEAD:.env", "{data}", false, "paths.deny[0]"),
    // File-writing features.
    (
        "sed -n 'w {data}/f' a.txt",
        "{data}",
        false,
        "profile (sed)",
    ),
    (
        "sed -n 's/a/b/w out' a.txt",
        "{data}",
        false,
        "profile (sed)",
    ),
    ("sed -n 'W out' a.txt", "{data}", false, "profile (sed)"),
    ("dd if=a.txt of={work}/copy", "{data}", true, "(dd)"),
    ("dd if=a.txt of=copy", "{data}", false, "paths.write"),
    (
        "dd if=.env of={work}/copy",
        "{data}",
        false,
        "paths.deny[0]",
    ),
    (
        "dd if={outside}/secret.txt of=copy bs=1M",
        "{work}",
        false,
        "paths.read",
    ),
    ("sort a.txt", "{data}", true, "(sort)"),
    ("sort -o {work}/out a.txt", "{data}", true, "(sort)"),
    ("sort -o out a.txt", "{data}", false, "paths.write"),
    ("sort --output=out a.txt", "{data}", false, "paths.write"),
    ("sort -roout a.txt", "{data}", false, "paths.write"),
    (
        "sort --compress-program=id a.txt",
        "{data}",
        false,
        "profile (sort)",
    ),
    ("tee {work}/x", "{data}", true, "(tee)"),
    ("tee x", "{data}", false, "paths.write"),
    ("cp {data}/a.txt {work}/b.txt", "{data}", true, "(cp)"),
    (
        "cp -t {data} {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "mv -t {data} {work}/existing.txt",
        "{work}",
        false,
        "commands.allow",
    ),
    (
        "cp --target-directory={data} {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "cp --target-dir={data} {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "cp -t{data} {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "cp -b -S /../x {data}/a.txt {work}/b.txt",
        "{data}",
        false,
        "profile (cp)",
    ),
    (
        "cp -b -S .bak {data}/a.txt {work}/b.txt",
        "{data}",
        true,
        "(cp)",
    ),
    (
        "git clone {work}/repo {data}/copy",
        "{work}",
        false,
        "paths.write",
    ),
    ("git clone {work}/repo copy", "{work}", true, "(git)"),
    ("git init {data}/new", "{work}", false, "paths.write"),
    ("git worktree add {data}/wt", "{work}", false, "paths.write"),
    ("jq . {data}/a.txt", "{data}", true, "(jq)"),
    (
        "jq --rawfile k .env -n '$k'",
        "{data}",
        false,
        "paths.deny[0]",
    ),
    // Wrappers run commands that are judged in their own right.
    (
        "env ls {data}",
        "{data}",
        true,
        "(env) > commands.allow[14] (ls)",
    ),
    ("env sh -c id", "{data}", false, "commands.deny[0] (sh)"),
    ("env -i sh -c id", "{data}", false, "commands.deny[0] (sh)"),
    ("env LD_PRELOAD=x.so ls", "{data}", false, "profile (env)"),
    ("env -S 'sh -c id'", "{data}", false, "profile (env)"),
    (
        "env -C {outside} cat secret.txt",
        "{data}",
        false,
        "paths.read",
    ),
    ("env cat .env", "{data}", false, "paths.deny[0]"),
    (
        "timeout 5 ls",
        "{data}",
        true,
        "(timeout) > commands.allow[14] (ls)",
    ),
    (
        "timeout 5 sh -c id",
        "{data}",
        false,
        "commands.deny[0] (sh)",
    ),
    (
        "timeout -s KILL 5 env sh -c id",
        "{data}",
        false,
        "commands.deny[0] (sh)",
    ),
    ("nice -n 5 ls", "{data}", true, "(nice)"),
    ("nice sh -c id", "{data}", false, "commands.deny[0] (sh)"),
    ("nohup ls", "{data}", true, "(nohup)"),
    ("nohup sh -c id", "{data}", false, "commands.deny[0] (sh)"),
    (
        "stdbuf -o0 sh -c id",
        "{data}",
        false,
        "commands.deny[0] (sh)",
    ),
    ("xargs ls", "{data}", true, "(xargs)"),
    ("xargs sh -c id", "{data}", false, "commands.deny[0] (sh)"),
    ("xargs -I{} ls {}", "{data}", false, "profile (xargs)"),
    ("setsid ls", "{data}", false, "profile (setsid)"),
    ("watch -n 1 ls", "{data}", true, "(watch)"),
    ("watch sh -c id", "{data}", false, "commands.deny[0] (sh)"),
    ("watch 'ls; id'", "{data}", false, "shell-syntax"),
    (
        "watch -x sh -c id",
        "{data}",
        false,
        "commands.deny[0] (sh)",
    ),
    ("ionice ls", "{data}", false, "commands.allow"),
    ("strace ls", "{data}", false, "commands.allow"),
    // GNU long-option abbreviations and clusters.
    ("sed s/a/b/ {work}/existing.txt", "{work}", true, "(sed)"),
    (
        "sed --in-pl s/a/b/ {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "sed --in-place s/a/b/ {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "sed -i s/a/b/ {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    (
        "sed -ni s/a/b/ {work}/existing.txt",
        "{work}",
        false,
        "denyArgs[0]",
    ),
    ("grep -n x a.txt", "{data}", true, "(grep)"),
    ("grep -rn x .", "{data}", false, "denyArgs[0]"),
    ("grep -nr x .", "{data}", false, "denyArgs[0]"),
    ("grep --recur x .", "{data}", false, "denyArgs[0]"),
    ("grep -d recurse x .", "{data}", false, "denyArgs[0]"),
    ("grep -drecurse x .", "{data}", false, "denyArgs[0]"),
    ("grep -d rec x .", "{data}", false, "denyArgs[0]"),
    (
        "grep --directories=recurse x .",
        "{data}",
        false,
        "denyArgs[0]",
    ),
    ("grep --dir=recurse x .", "{data}", false, "denyArgs[0]"),
    ("grep x . --recursive", "{data}", false, "denyArgs[2]"),
    ("grep -n -- x a.txt", "{data}", true, "(grep)"),
    ("grep --e x a.txt", "{data}", false, "profile (grep)"),
    ("tail -n 5 a.txt", "{data}", true, "(tail)"),
    ("tail -qf a.txt", "{data}", false, "profile (tail)"),
    ("tail --fo a.txt", "{data}", false, "profile (tail)"),
    ("tail -F a.txt", "{data}", false, "profile (tail)"),
    ("tail --retry a.txt", "{data}", false, "profile (tail)"),
    ("cat --bogus a.txt", "{data}", false, "profile (cat)"),
    // Subcommands that change state need naming in the rule.
    ("systemctl status", "{data}", true, "(systemctl)"),
    ("systemctl restart nginx", "{data}", true, "(systemctl)"),
    ("systemctl stop nginx", "{data}", false, "subcommands"),
    (
        "systemctl -H host status",
        "{data}",
        false,
        "profile (systemctl)",
    ),
];

#[test]
fn profile_decisions_table() {
    let t = tree();
    let mut failures = Vec::new();
    for (line, cwd, allowed, rule) in CASES {
        let line = t.expand(line);
        let cwd = t.expand(cwd);
        let d = t.policy.check_command(&line, Path::new(&cwd));
        if d.allowed != *allowed || !d.rule.contains(rule) {
            failures.push(format!(
                "{line:?} in {cwd}: want allowed={allowed} rule~{rule:?}, got allowed={} rule={:?} reason={:?}",
                d.allowed, d.rule, d.reason
            ));
        }
        if d.allowed {
            assert_eq!(d.run.len(), d.stages.len(), "{line:?}");
        } else {
            assert!(d.run.is_empty(), "{line:?}: a denial runs nothing");
            assert!(!d.reason.is_empty(), "{line:?}: a denial needs a reason");
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `(line, cwd)` of the built-in default: read-only in fact.
const DEFAULT_CASES: &[(&str, bool)] = &[
    ("hostname", true),
    ("hostname -f", true),
    ("hostname evil", false),
    ("hostname -b evil", false),
    ("hostname -F /tmp/name", false),
    ("date", true),
    ("date +%s", true),
    ("date -u -d yesterday", true),
    ("date -s 2001-01-01", false),
    ("date --set=2001-01-01", false),
    ("date --se 2001-01-01", false),
    ("date 0101000001", false),
    ("ps aux", true),
    ("ps -ef", true),
    ("ps -o pid,comm", true),
    ("ps auxe", false),
    ("ps e", false),
    ("ps aux e", false),
    ("ps -o pid,environ", false),
    ("ps --format=env", false),
    ("ps o pid,env", false),
    ("tail -n 5 /var/log/syslog", true),
    ("tail -f /var/log/syslog", false),
    ("tail -qf /var/log/syslog", false),
    ("tail --fo /var/log/syslog", false),
    ("tail --follow=name /var/log/syslog", false),
    ("free -h", true),
    ("free -s 1", false),
    ("uname -a", true),
    ("uname -a x", false),
    ("whoami", true),
    ("uptime -p", true),
];

#[test]
fn default_policy_is_read_only_in_fact() {
    let p = Policy::default_policy();
    let mut failures = Vec::new();
    for (line, allowed) in DEFAULT_CASES {
        let d = p.check_command(line, Path::new("/tmp"));
        if d.allowed != *allowed {
            failures.push(format!(
                "{line:?}: want allowed={allowed}, got rule={:?} reason={:?}",
                d.rule, d.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn decisions_carry_what_the_server_adds() {
    let t = tree();
    let run = |line: &str, cwd: &Path| {
        let d = t.policy.check_command(&t.expand(line), cwd);
        assert!(d.allowed, "{line}: {}", d.reason);
        d.run[0].clone()
    };
    let sed = run("sed s/a/b/ a.txt", &t.data);
    assert_eq!(sed.argv, ["sed", "--sandbox", "s/a/b/", "a.txt"]);
    let gawk = run("gawk '{print}' a.txt", &t.data);
    assert_eq!(gawk.argv, ["gawk", "--sandbox", "{print}", "a.txt"]);
    // A non-gawk awk gets no flag it may not understand.
    assert_eq!(
        run("awk '{print}' a.txt", &t.data).argv,
        ["awk", "{print}", "a.txt"]
    );

    let git = run("git -C sub log -p", &t.data);
    let n = git.argv.len();
    assert_eq!(git.argv[0], "git");
    assert_eq!(git.argv[1], "--no-pager");
    for setting in policy::GIT_SAFE_CONFIG {
        let at = git.argv.iter().position(|a| a == setting);
        assert!(
            at.is_some_and(|i| git.argv[i - 1] == "-c"),
            "{setting}: {:?}",
            git.argv
        );
    }
    assert_eq!(
        &git.argv[n - 6..],
        ["-C", "sub", "log", "--no-ext-diff", "--no-textconv", "-p"]
    );
    assert_eq!(
        git.env.get("GIT_TERMINAL_PROMPT").map(String::as_str),
        Some("0")
    );

    let tar = run("tar tvf t.tar", &t.work);
    assert_eq!(
        tar.argv,
        ["tar", "--force-local", "-t", "-v", "-f", "t.tar"]
    );
    // Wrappers keep their own arguments and get the wrapped program's additions.
    let timeout = run("timeout 5 sed -n 1p a.txt", &t.data);
    assert_eq!(
        timeout.argv,
        [
            "timeout",
            "--foreground",
            "5",
            "sed",
            "--sandbox",
            "-n",
            "1p",
            "a.txt"
        ]
    );
    let watch = run("watch -n 1 'ls -l'", &t.data);
    assert_eq!(watch.argv, ["watch", "-x", "-n", "1", "ls", "-l"]);
    let env = run("env git status", &t.work);
    assert!(
        env.argv
            .starts_with(&["env".into(), "git".into(), "--no-pager".into()])
    );
    assert_eq!(env.env.get("GIT_ASKPASS").map(String::as_str), Some(""));
    // Unprofiled programs run as given.
    let p = Policy::from_yaml("version: 1\ncommands:\n  allow:\n    - program: printf\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let d = p.check_command("printf x", Path::new("/"));
    assert_eq!(d.run[0].argv, ["printf", "x"]);
    assert_eq!(d.unprofiled, ["printf"]);
    assert!(t.policy.check_command("ls", &t.data).unprofiled.is_empty());
}

#[test]
fn allow_options_widens_a_profile() {
    let yaml = "version: 1\ncommands:\n  allow:\n    - program: tail\n      allowOptions: [--follow]\n    - program: date\n      allowOptions: [--set]\n    - program: cat\n      allowOptions: [--frobnicate, --level=]\npaths:\n  read: [/tmp]\n";
    let p = Policy::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    let cwd = Path::new("/tmp");
    assert!(p.check_command("tail -f x", cwd).allowed);
    assert!(p.check_command("tail --fo x", cwd).allowed);
    // Only the named option: -F is a different one.
    assert!(!p.check_command("tail -F x", cwd).allowed);
    assert!(p.check_command("date -s 2001-01-01", cwd).allowed);
    assert!(p.check_command("cat --frobnicate x", cwd).allowed);
    assert!(p.check_command("cat --level 3 x", cwd).allowed);
    assert!(p.check_command("cat --level=3 x", cwd).allowed);
    assert!(!p.check_command("cat --other x", cwd).allowed);
    assert!(!p.check_command("cat --level", cwd).allowed);
}

#[test]
fn allow_options_is_validated_with_field_paths() {
    let yaml = "version: 1\ncommands:\n  allow:\n    - program: sed\n      allowOptions: [--follow-symlinks]\n    - program: tar\n      allowOptions: [--to-command]\n    - program: git\n      allowOptions: [-c]\n    - program: printf\n      allowOptions: [--x]\n    - program: cat\n      allowOptions: [bogus, '-']\n";
    let err = Policy::from_yaml(yaml)
        .err()
        .map(|e| e.lines())
        .unwrap_or_default();
    let want = [
        "commands.allow[1].allowOptions[0]: `tar --to-command` runs code or other programs; list the exact command line in allowInline instead",
        "commands.allow[2].allowOptions[0]: `git -c` can never be allowed: it overrides the settings the server runs git with",
        "commands.allow[3].allowOptions[0]: `printf` has no profile; allowOptions only widens profiled programs",
        "commands.allow[4].allowOptions[0]: `bogus` must be a flag such as `-r` or `--recursive`",
        "commands.allow[4].allowOptions[1]: `-` must be a flag such as `-r` or `--recursive`",
    ];
    assert_eq!(err, want);
}

#[test]
fn exact_inline_lines_allow_a_code_running_form() {
    let yaml = "version: 1\ncommands:\n  allow:\n    - program: find\n      allowInline: [\"find /tmp -name '*.log' -exec ls -l {} +\"]\npaths:\n  read: [/tmp]\n";
    let p = Policy::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    let d = p.check_command(
        "find /tmp -name '*.log' -exec ls -l {} +",
        Path::new("/tmp"),
    );
    assert!(d.allowed, "{}", d.reason);
    assert_eq!(d.rule, "commands.allow[0].allowInline[0]");
    assert!(
        !p.check_command("find /tmp -name '*.log' -exec rm {} +", Path::new("/tmp"))
            .allowed
    );
}

/// `(program, a flag without a value, a short option with a value, its long
/// name, an unambiguous prefix of it, the rest of the line)`.
const SPELLINGS: &[(&str, char, char, &str, &str, &str)] = &[
    ("date", 'u', 'f', "file", "fi", ""),
    ("grep", 'n', 'e', "regexp", "reg", "a.txt"),
    ("sort", 'r', 'o', "output", "out", "a.txt"),
    ("tail", 'q', 'n', "lines", "li", "a.txt"),
    ("head", 'q', 'c', "bytes", "by", "a.txt"),
    ("cp", 'v', 't', "target-directory", "target", "a.txt"),
    ("du", 's', 'X', "exclude-from", "exclude-f", "sub"),
    ("sed", 'n', 'e', "expression", "expr", "a.txt"),
    ("touch", 'c', 'r', "reference", "ref", "{work}/x"),
];

const VALUES: &[&str] = &[
    ".env",
    "a.txt",
    "dates.txt",
    "{outside}/secret.txt",
    "{work}/out",
    "{data}/out",
    "sub",
    "1p",
    "5",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// `--opt=v`, `--opt v`, `--op v`, `-o v`, `-ov` and clusters are one option.
    #[test]
    fn every_spelling_of_an_option_gets_the_same_decision(
        row in proptest::sample::select(SPELLINGS),
        value in proptest::sample::select(VALUES),
    ) {
        let t = tree();
        let (program, flag, short, long, prefix, rest) = row;
        let v = t.expand(value);
        let rest = t.expand(rest);
        let spellings = [
            format!("{program} -{flag} --{long}={v} {rest}"),
            format!("{program} -{flag} --{long} {v} {rest}"),
            format!("{program} -{flag} --{prefix} {v} {rest}"),
            format!("{program} -{flag} --{prefix}={v} {rest}"),
            format!("{program} -{flag} -{short} {v} {rest}"),
            format!("{program} -{flag} -{short}{v} {rest}"),
            format!("{program} -{flag}{short} {v} {rest}"),
            format!("{program} -{flag}{short}{v} {rest}"),
            format!("{program} --{long}={v} -{flag} {rest}"),
        ];
        let decisions: Vec<(bool, String)> = spellings
            .iter()
            .map(|line| {
                let d = t.policy.check_command(line, &t.data);
                (d.allowed, d.rule)
            })
            .collect();
        for (line, d) in spellings.iter().zip(&decisions) {
            proptest::prop_assert_eq!(d, &decisions[0], "{:?} versus {:?}", line, spellings[0]);
        }
    }
}
