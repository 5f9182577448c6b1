//! Program profiles end to end through `POST /api/tools/execute_command`:
//! what an allowed program could be made to do through its options, checked
//! by its effect (a proof file that must not appear, a file's contents, a
//! secret that must not come back), next to the benign neighbour that runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{agent_server, llm_stub};
use agent_server::{AgentServer, roots};
use llm_stub::LlmStub;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "SECRET-VALUE-8c1f";
const KEY: &str = "PRIVATE-KEY-77d2";

fn policy(dir: &Path) -> String {
    let (data, out) = roots(dir);
    format!(
        r#"version: 1
commands:
  allow:
    - program: ls
    - program: cat
    - program: date
    - program: hostname
    - program: wc
    - program: grep
      denyArgs: ["-r", "-R", "--recursive", "--dereference-recursive"]
    - program: sed
      denyArgs: ["--in-place"]
    - program: awk
    - program: tar
    - program: find
    - program: git
    - program: dd
    - program: sort
    - program: tee
    - program: cp
    - program: touch
    - program: tail
    - program: env
    - program: timeout
    - program: xargs
  deny: [sh]
  maxRuntimeSeconds: 20
paths:
  read: ["{data}"]
  write: ["{out}"]
  deny: ["**/.env", "**/.ssh/**"]
rateLimits:
  enabled: false
"#,
        data = data.display(),
        out = out.display()
    )
}

struct Setup {
    server: AgentServer,
    data: PathBuf,
    out: PathBuf,
}

async fn start() -> (LlmStub, Setup) {
    let stub = LlmStub::start(vec![]).await;
    let server = AgentServer::start_with(&stub.url, &[], policy).await;
    let (data, out) = (server.data_root(), server.out_root());
    std::fs::write(data.join("a.txt"), "alpha\n").expect("write");
    std::fs::write(data.join("dates.txt"), "2001-02-03\n").expect("write");
    std::fs::write(data.join(".env"), format!("{SECRET}\n")).expect("write");
    std::fs::create_dir_all(data.join(".ssh")).expect("mkdir");
    std::fs::write(data.join(".ssh/id_rsa"), format!("{KEY}\n")).expect("write");
    std::fs::create_dir_all(data.join("sub")).expect("mkdir");
    std::fs::write(data.join("sub/deep.txt"), "alpha-in-sub\n").expect("write");
    std::fs::write(out.join("a.txt"), "alpha\n").expect("write");
    (stub, Setup { server, data, out })
}

impl Setup {
    /// Runs `command` in `cwd`; returns the status and the body.
    async fn run(&self, command: &str, cwd: &Path) -> (u16, Value) {
        let command = command
            .replace("{data}", &self.data.display().to_string())
            .replace("{out}", &self.out.display().to_string());
        self.server
            .send(
                Method::POST,
                "/api/tools/execute_command",
                &self.server.admin,
                Some(json!({"command": command, "cwd": cwd.display().to_string()})),
            )
            .await
    }

    /// The command is refused and nothing ran.
    async fn refused(&self, command: &str, cwd: &Path) -> Value {
        let (status, body) = self.run(command, cwd).await;
        assert_eq!(status, 403, "{command}: {body}");
        assert_eq!(body["allowed"], false, "{command}: {body}");
        assert!(body.get("result").is_none(), "{command}: {body}");
        body
    }

    /// The command ran; returns its standard output.
    async fn ran(&self, command: &str, cwd: &Path) -> String {
        let (status, body) = self.run(command, cwd).await;
        assert_eq!(status, 200, "{command}: {body}");
        body["result"]["stdout"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[tokio::test]
async fn option_values_naming_files_are_judged_as_paths() {
    let (_stub, s) = start().await;
    let data = s.data.clone();
    for line in [
        "date --file=.env",
        "date -f.env",
        "date -f .env",
        "grep --file=.env x",
        "wc --files0-from=.env",
        "sort --random-source=.env a.txt",
    ] {
        let body = s.refused(line, &data).await;
        assert!(!body.to_string().contains(SECRET), "{line}: {body}");
    }
    // A working directory inside a denied directory is refused as a whole.
    let ssh = data.join(".ssh");
    for line in ["date --file=id_rsa", "cat id_rsa", "ls"] {
        let body = s.refused(line, &ssh).await;
        assert!(!body.to_string().contains(KEY), "{line}: {body}");
    }
    // The benign neighbours.
    assert!(
        s.ran("date --file=dates.txt +%Y", &data)
            .await
            .starts_with("2001")
    );
    assert_eq!(s.ran("grep -n alpha a.txt", &data).await, "1:alpha\n");
}

#[tokio::test]
async fn code_running_features_do_not_run_code() {
    let (_stub, s) = start().await;
    let out = s.out.clone();
    for (line, proof) in [
        ("sed '1e touch pwned-sed' a.txt", "pwned-sed"),
        ("sed 's/alpha/touch pwned-se/e' a.txt", "pwned-se"),
        ("awk 'BEGIN{system(\"touch pwned-awk\")}'", "pwned-awk"),
        (
            "tar -c --checkpoint=1 --checkpoint-action=exec='touch pwned-tar' -f t.tar a.txt",
            "pwned-tar",
        ),
        ("find . -exec touch pwned-find \\;", "pwned-find"),
        ("git -c core.pager='touch pwned-pager' log", "pwned-pager"),
    ] {
        s.refused(line, &out).await;
        assert!(!out.join(proof).exists(), "{line} created {proof}");
    }
    assert_eq!(s.ran("sed s/alpha/beta/ a.txt", &out).await, "beta\n");
    assert_eq!(s.ran("awk '{print $1}' a.txt", &out).await, "alpha\n");

    // A sed script from a file is left to the server's `--sandbox`.
    std::fs::write(out.join("script.sed"), "1e touch pwned-script\n").expect("write");
    let (status, body) = s.run("sed -f script.sed a.txt", &out).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["result"]["exit_code"], 0, "{body}");
    assert!(
        !out.join("pwned-script").exists(),
        "sed ran without --sandbox"
    );

    // A repository whose own config would run programs: the server's git
    // settings win, whatever `.git/config` says.
    let repo = out.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .status()
            .expect("git runs");
        assert!(ok.success(), "git {args:?}");
    };
    git(&["init", "-q", "."]);
    std::fs::write(repo.join("f"), "one\n").expect("write");
    git(&["add", "f"]);
    git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "one",
    ]);
    std::fs::write(repo.join("f"), "two\n").expect("write");
    let proof = |name: &str| out.join(name).display().to_string();
    git(&[
        "config",
        "core.fsmonitor",
        &format!("touch {}; true", proof("pwned-fsmonitor")),
    ]);
    git(&[
        "config",
        "diff.external",
        &format!("touch {}", proof("pwned-external")),
    ]);
    git(&[
        "config",
        "core.pager",
        &format!("touch {}; cat", proof("pwned-pager")),
    ]);
    let status = s.ran("git status --short", &repo).await;
    assert!(status.contains("M f"), "{status}");
    let diff = s.ran("git diff", &repo).await;
    assert!(diff.contains("+two"), "{diff}");
    s.ran("git log -p -1", &repo).await;
    for name in ["pwned-fsmonitor", "pwned-external", "pwned-pager"] {
        assert!(
            !out.join(name).exists(),
            "the repository's config ran {name}"
        );
    }
}

#[tokio::test]
async fn file_writing_features_are_judged_as_writes() {
    let (_stub, s) = start().await;
    let (data, out) = (s.data.clone(), s.out.clone());
    for (line, written) in [
        ("sed -n 'w {data}/by-sed' a.txt", "by-sed"),
        ("sed -n 's/alpha/x/w {data}/by-sed-s' a.txt", "by-sed-s"),
        ("dd if=a.txt of=by-dd", "by-dd"),
        ("sort -o by-sort a.txt", "by-sort"),
        ("sort --output=by-sort2 a.txt", "by-sort2"),
        ("tee {data}/by-tee", "by-tee"),
        ("cp --target-directory={data} {out}/b.txt", "b.txt"),
        ("cp -t {data} {out}/b.txt", "b.txt"),
        ("find . -fprint by-find", "by-find"),
    ] {
        std::fs::write(out.join("b.txt"), "b\n").expect("write");
        s.refused(line, &data).await;
        assert!(!data.join(written).exists(), "{line} wrote {written}");
    }
    // The same features, aimed at the write root, run.
    s.ran("dd if=a.txt of={out}/by-dd", &data).await;
    assert_eq!(
        std::fs::read_to_string(out.join("by-dd")).expect("dd"),
        "alpha\n"
    );
    s.ran("sort -o {out}/by-sort a.txt", &data).await;
    assert_eq!(
        std::fs::read_to_string(out.join("by-sort")).expect("sort"),
        "alpha\n"
    );
    s.ran("cp --target-directory={out} dates.txt", &data).await;
    assert_eq!(
        std::fs::read_to_string(out.join("dates.txt")).expect("cp"),
        "2001-02-03\n"
    );
}

#[tokio::test]
async fn wrappers_run_only_commands_that_are_allowed_in_their_own_right() {
    let (_stub, s) = start().await;
    let out = s.out.clone();
    for (line, proof) in [
        ("env sh -c 'touch pwned-env'", "pwned-env"),
        ("env -i sh -c 'touch pwned-env-i'", "pwned-env-i"),
        ("timeout 5 sh -c 'touch pwned-timeout'", "pwned-timeout"),
        ("xargs sh -c 'touch pwned-xargs'", "pwned-xargs"),
        ("env PATH=. touch pwned-path", "pwned-path"),
        (
            "timeout 5 env sed '1e touch pwned-nested' a.txt",
            "pwned-nested",
        ),
    ] {
        s.refused(line, &out).await;
        assert!(!out.join(proof).exists(), "{line} created {proof}");
    }
    // Allowed wrapped commands run, with their own server additions.
    s.ran("env touch made-by-env", &out).await;
    assert!(out.join("made-by-env").exists());
    assert_eq!(s.ran("timeout 5 cat a.txt", &out).await, "alpha\n");
    assert_eq!(
        s.ran("timeout 5 sed s/alpha/gamma/ a.txt", &out).await,
        "gamma\n"
    );
    let body = s.refused("env cat {data}/.env", &out).await;
    assert!(!body.to_string().contains(SECRET), "{body}");
}

#[tokio::test]
async fn abbreviations_and_clusters_are_the_options_they_stand_for() {
    let (_stub, s) = start().await;
    let (data, out) = (s.data.clone(), s.out.clone());
    for line in [
        "grep -rn alpha .",
        "grep --recur alpha .",
        "grep -d recurse alpha .",
        "grep --directories=recurse alpha .",
        "grep -d rec alpha .",
    ] {
        let body = s.refused(line, &data).await;
        assert!(!body.to_string().contains("alpha-in-sub"), "{line}: {body}");
    }
    for line in [
        "sed --in-pl s/alpha/beta/ a.txt",
        "sed -i s/alpha/beta/ a.txt",
        "sed -ni s/alpha/beta/ a.txt",
    ] {
        s.refused(line, &out).await;
        assert_eq!(
            std::fs::read_to_string(out.join("a.txt")).expect("a"),
            "alpha\n",
            "{line}"
        );
    }
    // `tail` follow modes, however spelled, are refused at once instead of holding a worker.
    let started = std::time::Instant::now();
    for line in ["tail -qf a.txt", "tail --fo a.txt", "tail -F a.txt"] {
        s.refused(line, &data).await;
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(s.ran("grep -n alpha a.txt", &data).await, "1:alpha\n");
    assert_eq!(s.ran("tail -n 1 a.txt", &data).await, "alpha\n");
}

#[tokio::test]
async fn state_changing_forms_of_inspection_programs_are_refused() {
    let (_stub, s) = start().await;
    let data = s.data.clone();
    let hostname = || {
        Command::new("hostname")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    };
    let before = hostname();
    for line in [
        "hostname pwned-host",
        "hostname -b pwned-host",
        "hostname --file=dates.txt",
        "date -s 2001-01-01",
        "date --set=2001-01-01",
        "date 0101000001",
    ] {
        s.refused(line, &data).await;
    }
    assert_eq!(hostname(), before);
    let year = s.ran("date +%Y", &data).await;
    assert_ne!(year.trim(), "2001");
    assert_eq!(s.ran("hostname", &data).await, before);
    let audit = s.server.audit("tool.execute_command").await;
    assert!(
        audit
            .iter()
            .any(|r| r["outcome"] == "denied" && r["target"] == "date -s 2001-01-01"),
        "{audit:?}"
    );
}
