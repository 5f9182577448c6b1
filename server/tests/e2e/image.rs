//! The runtime image ships every program its own policies allow: the built-in
//! default, `config/policy.yaml` and the `examples/`. (A policy allowing a
//! program the image lacks fails every such command at run time.)

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;

/// The Debian package providing each program the shipped policies name.
const PACKAGES: &[(&str, &str)] = &[
    ("cat", "coreutils"),
    ("date", "coreutils"),
    ("df", "coreutils"),
    ("du", "coreutils"),
    ("head", "coreutils"),
    ("ls", "coreutils"),
    ("tail", "coreutils"),
    ("uname", "coreutils"),
    ("wc", "coreutils"),
    ("whoami", "coreutils"),
    ("grep", "grep"),
    ("hostname", "hostname"),
    ("free", "procps"),
    ("ps", "procps"),
    ("uptime", "procps"),
    ("git", "git"),
    ("cargo", "cargo"),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// `program: NAME` entries of a policy YAML file.
fn programs_in(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("program:"))
        .map(|p| p.trim().trim_matches(['"', '\'']).to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The packages the runtime stage installs, and those it documents as a build argument.
fn runtime_packages(dockerfile: &str) -> (BTreeSet<String>, String) {
    let runtime = dockerfile
        .split("AS runtime")
        .nth(1)
        .expect("a runtime stage");
    let install = runtime
        .split("apt-get install -y --no-install-recommends")
        .nth(1)
        .expect("an apt-get install in the runtime stage");
    let list = install.split("&&").next().unwrap_or_default();
    let packages = list
        .split_whitespace()
        .filter(|w| *w != "\\" && !w.starts_with('$'))
        .map(str::to_string)
        .collect();
    (packages, runtime.to_string())
}

#[test]
fn the_runtime_image_installs_what_the_shipped_policies_allow() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let (installed, runtime) = runtime_packages(&dockerfile);
    let mut programs: BTreeSet<String> = policy::DEFAULT_PROGRAMS
        .iter()
        .map(|p| p.to_string())
        .collect();
    let mut files = vec![repo().join("config/policy.yaml")];
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    for file in &files {
        programs.extend(programs_in(&std::fs::read_to_string(file).unwrap()));
    }
    assert!(programs.contains("git"), "{programs:?}");
    for program in &programs {
        let package = PACKAGES
            .iter()
            .find(|(p, _)| p == program)
            .map(|(_, pkg)| *pkg)
            .unwrap_or_else(|| panic!("no package known for {program:?}: add it to PACKAGES"));
        let documented = dockerfile.contains(&format!("EXTRA_PACKAGES={package}"))
            && runtime.contains("$EXTRA_PACKAGES");
        assert!(
            installed.contains(package) || documented,
            "{program} ({package}) is allowed by a shipped policy but not installed: {installed:?}"
        );
    }
}

#[test]
fn the_image_ships_the_launcher_next_to_the_server() {
    // The server looks for `ai-orchestrator-sandbox` beside its own binary.
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let copy = dockerfile
        .lines()
        .find(|l| l.starts_with("COPY --from=builder"))
        .expect("a COPY of the built binaries");
    for binary in ["/out/ai-orchestrator ", "/out/ai-orchestrator-sandbox "] {
        assert!(copy.contains(binary), "{copy}");
    }
    assert!(
        dockerfile.contains("install -D -m 0755 target/release/ai-orchestrator-sandbox"),
        "the launcher is not built into the image"
    );
}

#[test]
fn the_binary_reports_its_version() {
    let out = support::cli(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ai-orchestrator {}", env!("CARGO_PKG_VERSION"))
    );
}
