//! The kernel holds the line whatever a command does: attacks through
//! `POST /api/tools/{name}` on the real binary, each checked by its effect
//! (a secret that must not be printed, a proof file that must not appear).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{self, ADMIN_PASSWORD, JWT_SECRET, ServerBuilder, agent_server, llm_stub};
use agent_server::{AgentServer, roots};
use llm_stub::LlmStub;
use reqwest::Method;
use serde_json::{Value, json};

const TOPSECRET: &str = "TOPSECRET-7f3a";

async fn tool(server: &AgentServer, name: &str, arguments: Value) -> (u16, Value) {
    server
        .send(
            Method::POST,
            &format!("/api/tools/{name}"),
            &server.admin,
            Some(arguments),
        )
        .await
}

async fn exec(server: &AgentServer, command: &str, cwd: &Path) -> Value {
    let (status, body) = tool(
        server,
        "execute_command",
        json!({"command": command, "cwd": cwd.display().to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{command}: {body}");
    body["result"].clone()
}

/// A policy over the test's `files/` (read) and `out/` (write) with `extra`
/// YAML appended at the top level and `programs` allowed.
fn policy(dir: &Path, programs: &[&str], paths_extra: &str, extra: &str) -> String {
    let (files, out) = roots(dir);
    let mut yaml = String::from("version: 1\ncommands:\n  allowPipelines: false\n  allow:\n");
    for p in programs {
        yaml.push_str(&format!("    - program: {p}\n"));
    }
    yaml.push_str(&format!(
        "paths:\n  read: [\"{}\"{paths_extra}]\n  write: [\"{}\"]\n",
        files.display(),
        out.display()
    ));
    yaml.push_str("rateLimits:\n  enabled: false\n");
    yaml.push_str(extra);
    yaml
}

async fn start(env: &[(&str, &str)], policy: impl FnOnce(&Path) -> String) -> AgentServer {
    let stub = LlmStub::start(vec![]).await;
    AgentServer::start_with(&stub.url, env, policy).await
}

fn text(result: &Value) -> String {
    format!("{}{}", result["stdout"], result["stderr"])
}

#[tokio::test]
async fn health_and_security_config_report_the_layers() {
    let server = start(&[], |d| policy(d, &["ls"], "", "")).await;
    let (status, health) = server.get("/health", &server.admin).await;
    assert_eq!(status, 200);
    let s = &health["sandbox"];
    assert!(s["landlock_abi"].as_i64().is_some_and(|v| v >= 4), "{s}");
    assert_eq!(s["namespaces"], true, "{s}");
    assert_eq!(s["network"], "denied", "{s}");
    assert_eq!(s["refused"], Value::Null, "{s}");
    let (status, config) = server.get("/api/security/config", &server.admin).await;
    assert_eq!(status, 200);
    assert_eq!(config["sandbox"], *s);
    let log = std::fs::read_to_string(&server.server.stdout).unwrap_or_default()
        + &std::fs::read_to_string(&server.server.stderr).unwrap_or_default();
    assert_eq!(
        log.matches("command confinement layers").count(),
        1,
        "the layers are logged once at start"
    );
    assert!(
        log.contains("ai-orchestrator-sandbox"),
        "the launcher beside the server's binary is used: {log}"
    );
}

async fn secrets_stay_hidden(simulate: &str) {
    let server = start(&[("AI_SANDBOX_SIMULATE_MISSING", simulate)], |d| {
        policy(d, &["ps", "cat", "ls"], ", \"/proc\"", "")
    })
    .await;
    let cwd = server.data_root();
    let pid = server.server.pid();
    // The policy refuses `ps e` (other processes' environment) on its own...
    let (status, body) = tool(
        &server,
        "execute_command",
        json!({"command": "ps axeww -o pid,args", "cwd": cwd.display().to_string()}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // ...and the kernel keeps the environment out of reach of what it allows.
    let mut seen = String::new();
    for command in [
        "ps axww -o pid,args".to_string(),
        format!("cat /proc/{pid}/environ"),
        format!("cat /proc/{pid}/cmdline"),
        "ls /proc".to_string(),
    ] {
        let result = exec(&server, &command, &cwd).await;
        seen.push_str(&text(&result));
    }
    assert!(seen.contains("ps axww"), "ps did not run: {seen}");
    for secret in [JWT_SECRET, ADMIN_PASSWORD] {
        assert!(
            !seen.contains(secret),
            "a secret leaked ({simulate}): {seen}"
        );
    }
    if simulate.is_empty() {
        // A private /proc: the server is not even listed.
        assert!(!seen.contains("serve --host"), "{seen}");
    }
}

#[tokio::test]
async fn server_secrets_never_appear_in_ps_or_proc_with_the_pid_namespace() {
    secrets_stay_hidden("").await;
}

#[tokio::test]
async fn server_secrets_never_appear_in_ps_or_proc_without_namespaces() {
    // Landlock's cross-domain ptrace restriction alone refuses /proc/<pid>/environ.
    secrets_stay_hidden("namespaces").await;
}

#[tokio::test]
async fn a_read_only_user_cannot_read_the_data_directory_in_the_quick_start_layout() {
    // The built-in default policy, data under the server's own directory.
    let server = ServerBuilder::default()
        .policy(None)
        .without_env("AI_JWT_SECRET_KEY")
        .start()
        .await;
    let secret_file = server.data_dir().join("jwt-secret");
    let secret = std::fs::read(&secret_file).expect("a generated jwt-secret");
    let admin = server.admin().await;
    let reader = server
        .create_user(&admin, "reader", "reader-Passw0rd-123456", &["read"])
        .await;
    let mut seen = String::new();
    for (name, args) in [
        (
            "read_file",
            json!({"path": secret_file.display().to_string()}),
        ),
        (
            "list_directory",
            json!({"path": server.data_dir().display().to_string()}),
        ),
        (
            "search_files",
            json!({"path": server.data_dir().display().to_string()}),
        ),
    ] {
        let response = server
            .client
            .post(server.url(&format!("/api/tools/{name}")))
            .bearer_auth(&reader)
            .json(&args)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 403, "{name}");
        seen.push_str(&response.text().await.unwrap_or_default());
    }
    let hex_secret = String::from_utf8_lossy(&secret).trim().to_string();
    assert!(!hex_secret.is_empty());
    assert!(!seen.contains(&hex_secret), "{seen}");
}

#[test]
fn a_policy_whose_root_contains_the_server_files_is_refused_naming_both() {
    let dirs = support::Dirs::new();
    let root = dirs.root.path().canonicalize().expect("canonical");
    let yaml = format!("version: 1\npaths:\n  read: [\"{}\"]\n", root.display());
    let (code, stderr) = ServerBuilder::default()
        .dirs(dirs.clone())
        .policy(Some(&yaml))
        .start_expecting_failure();
    assert_ne!(code, 0);
    assert!(stderr.contains("paths.read[0]"), "{stderr}");
    assert!(
        stderr.contains(&root.join("data").display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("data directory"), "{stderr}");
}

/// `files/alice` with secrets the deny globs name, a visible file, and a
/// symlink out of the roots to a secret.
fn plant_home(dir: &Path) -> PathBuf {
    let (files, _) = roots(dir);
    let alice = files.join("alice");
    std::fs::create_dir_all(alice.join(".ssh")).expect("mkdir");
    std::fs::write(alice.join(".ssh/id_rsa"), TOPSECRET).expect("write");
    std::fs::write(alice.join(".env"), TOPSECRET).expect("write");
    std::fs::write(alice.join("id_rsa_backup"), TOPSECRET).expect("write");
    std::fs::write(alice.join("notes.txt"), "VISIBLE-1\n").expect("write");
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret.txt"), TOPSECRET).expect("write");
    std::os::unix::fs::symlink(&outside, alice.join("escape")).expect("symlink");
    alice
}

#[tokio::test]
async fn recursive_grep_prints_nothing_denied_nor_through_a_symlink_out_of_the_roots() {
    let server = start(&[], |d| {
        plant_home(d);
        policy(d, &["grep", "find", "cat", "tar"], "", "").replace(
            "  write:",
            "  deny: [\"**/.ssh/**\", \"**/.env\", \"**/id_rsa*\"]\n  write:",
        )
    })
    .await;
    let alice = server.data_root().join("alice");
    let mut seen = String::new();
    for command in [
        format!("grep -r -e {TOPSECRET} -e VISIBLE {}", alice.display()),
        format!("grep -R -e {TOPSECRET} -e VISIBLE {}", alice.display()),
        format!("find {} -type f", alice.display()),
    ] {
        seen.push_str(&text(&exec(&server, &command, &alice).await));
    }
    assert!(seen.contains("VISIBLE-1"), "the walk saw nothing: {seen}");
    // Names may show (`find`); what they hold never does.
    assert!(!seen.contains(TOPSECRET), "{seen}");
}

#[tokio::test]
async fn a_planted_gitconfig_and_python_pth_run_nothing() {
    let server = start(&[], |d| policy(d, &["git", "python3"], "", "")).await;
    let out = server.out_root();
    let proof = out.join("proof");
    let git = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(&out)
        .status()
        .expect("git init");
    assert!(git.success());
    // Where HOME used to point (the working directory) and where it might.
    let gitconfig = format!("[core]\n\tfsmonitor = \"touch {}\"\n", proof.display());
    std::fs::write(out.join(".gitconfig"), &gitconfig).expect("write");
    let site = out.join(".local/lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).expect("mkdir");
    std::fs::write(
        site.join("evil.pth"),
        format!("import os; os.system('touch {}')\n", proof.display()),
    )
    .expect("write");
    std::fs::write(out.join("hello.py"), "print('hello')\n").expect("write");
    let status = exec(&server, "git status", &out).await;
    assert_eq!(status["exit_code"], 0, "{status}");
    let python = exec(
        &server,
        &format!("python3 {}", out.join("hello.py").display()),
        &out,
    )
    .await;
    assert_eq!(python["stdout"], "hello\n", "{python}");
    assert!(!proof.exists(), "a planted configuration ran code");
}

#[tokio::test]
async fn a_symlink_swap_race_leaks_nothing() {
    let server = start(&[], |d| policy(d, &["cat"], "", "")).await;
    let files = server.data_root();
    let outside = server.server.dirs.root.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret.txt"), TOPSECRET).expect("write");
    let target = files.join("x");
    std::fs::write(&target, "PUBLIC\n").expect("write");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, files, secret) = (stop.clone(), files.clone(), outside.join("secret.txt"));
        std::thread::spawn(move || {
            let (plain, link) = (files.join("x.plain"), files.join("x.link"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::write(&plain, "PUBLIC\n");
                let _ = std::fs::rename(&plain, files.join("x"));
                std::thread::sleep(Duration::from_micros(500));
                let _ = std::os::unix::fs::symlink(&secret, &link);
                let _ = std::fs::rename(&link, files.join("x"));
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let command = format!("cat {}", target.display());
    let (mut runs, mut public, mut leaks) = (0u32, 0u32, 0u32);
    let deadline = Instant::now() + Duration::from_secs(20);
    while runs < 1000 && Instant::now() < deadline {
        let batch: Vec<_> = (0..4)
            .map(|_| {
                tool(
                    &server,
                    "execute_command",
                    json!({"command": command, "cwd": files.display().to_string()}),
                )
            })
            .collect();
        for (_, body) in futures::future::join_all(batch).await {
            runs += 1;
            let seen = body.to_string();
            if seen.contains(TOPSECRET) {
                leaks += 1;
            }
            if body["result"]["stdout"] == "PUBLIC\n" {
                public += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().expect("swapper");
    assert_eq!(leaks, 0, "{leaks} of {runs} runs printed the denied file");
    assert!(
        public > 0,
        "the race never let the public file through ({runs} runs)"
    );
}

#[tokio::test]
async fn cat_etc_shadow_fails_even_when_a_policy_wrongly_allows_it() {
    let server = start(&[], |d| policy(d, &["cat"], ", \"/etc\"", "")).await;
    let shadow = std::fs::read_to_string("/etc/shadow").expect("root reads /etc/shadow");
    let first = shadow.lines().next().unwrap_or_default().to_string();
    assert!(!first.is_empty());
    let result = exec(&server, "cat /etc/shadow", Path::new("/etc")).await;
    assert!(!text(&result).contains(&first), "{result}");
    let passwd = exec(&server, "cat /etc/passwd", Path::new("/etc")).await;
    assert!(text(&passwd).contains("root:"), "{passwd}");
}

async fn connects(network: bool) -> bool {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let line = format!("bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}'");
    let extra = format!("sandbox:\n  network: {network}\n");
    let allow = format!(
        "bash\n      allowInline: [\"{}\"]",
        line.replace('"', "\\\"")
    );
    let server = start(&[], |d| policy(d, &[allow.as_str()], "", &extra)).await;
    let result = exec(&server, &line, &server.out_root()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let accepted = listener.accept().is_ok();
    assert_eq!(
        accepted,
        result["exit_code"] == 0,
        "exit status and listener disagree: {result}"
    );
    accepted
}

#[tokio::test]
async fn a_confined_process_cannot_connect_unless_the_policy_allows_the_network() {
    assert!(
        !connects(false).await,
        "connected with sandbox.network false"
    );
    assert!(
        connects(true).await,
        "could not connect with sandbox.network true"
    );
}

#[tokio::test]
async fn an_unmet_sandbox_require_refuses_commands_with_the_reason() {
    let server = start(&[("AI_SANDBOX_SIMULATE_MISSING", "namespaces")], |d| {
        policy(
            d,
            &["ls"],
            "",
            "sandbox:\n  require: [landlock, namespaces]\n",
        )
    })
    .await;
    let proof = server.out_root().join("ran");
    let (status, body) = tool(
        &server,
        "execute_command",
        json!({"command": format!("ls {}", server.out_root().display())}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["rule"], "sandbox.require", "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("namespaces"), "{reason}");
    assert!(!proof.exists());
    let (_, health) = server.get("/health", &server.admin).await;
    assert_eq!(health["sandbox"]["namespaces"], false);
    assert!(health["sandbox"]["refused"].as_str().is_some(), "{health}");

    let server = start(&[("AI_SANDBOX_SIMULATE_MISSING", "landlock")], |d| {
        policy(d, &["ls"], "", "")
    })
    .await;
    let (status, body) = tool(
        &server,
        "execute_command",
        json!({"command": format!("ls {}", server.out_root().display())}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("landlock"),
        "{body}"
    );
}
