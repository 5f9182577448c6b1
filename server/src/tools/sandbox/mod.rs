//! Kernel confinement of every command the server runs for a user or a
//! model: the policy decides, the launcher (`sandbox-exec`, this binary
//! re-executed) makes the kernel enforce it — Landlock, namespaces masking
//! deny globs, a private `/proc`, no network, `no_new_privs`, rlimits, a
//! scratch `HOME` and a minimal environment.

pub mod launch;
pub mod plan;
pub mod spec;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::time::Duration;

use policy::Policy;
use serde::Serialize;

pub use launch::{Enforced, LAUNCH_FAILED, SUBCOMMAND};
pub use spec::SandboxSpec;

/// System credentials masked wherever a policy grants a path above them,
/// whatever its deny globs say.
pub const SYSTEM_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/root",
    "/var/run/secrets",
    "/run/secrets",
];

/// The file name of the launcher binary shipped next to the server's.
pub const LAUNCHER_BINARY: &str = "ai-orchestrator-sandbox";

/// The launcher to use when none is configured: `ai-orchestrator-sandbox`
/// next to the server's binary (it starts faster), else the server binary
/// itself (`ai-orchestrator sandbox-exec`); both run the same code.
pub fn default_launcher() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name(LAUNCHER_BINARY);
    Ok(if sibling.is_file() { sibling } else { exe })
}

/// Which layers are active on this host, for `/health` and the start log.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LayerReport {
    /// The Landlock ABI version in force, or null without Landlock.
    pub landlock_abi: Option<i32>,
    pub landlock: String,
    pub namespaces: bool,
    /// `denied` (kernel-enforced), `allowed` (the policy opts in) or `unenforced`.
    pub network: String,
    /// The layers the policy requires (`sandbox.require`).
    pub required: Vec<String>,
    /// Why commands are refused, when a required layer is missing.
    pub refused: Option<String>,
    /// Why a layer is missing, when one is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The launcher and what it can do on this host (probed once at start).
#[derive(Debug, Clone)]
pub struct Sandbox {
    exe: PathBuf,
    available: Enforced,
    simulate_missing: Vec<String>,
    scratch: PathBuf,
    protected: Vec<PathBuf>,
}

impl Sandbox {
    /// Probes the layers by running the launcher once. `exe` is this
    /// server's binary; `scratch` a private directory outside every root
    /// where per-command `HOME`s are made; `protected` the server's own files.
    pub fn probe(
        exe: PathBuf,
        simulate_missing: Vec<String>,
        scratch: PathBuf,
        protected: Vec<PathBuf>,
    ) -> Sandbox {
        let available = probe_layers(&exe, &simulate_missing);
        Sandbox {
            exe,
            available,
            simulate_missing,
            scratch,
            protected,
        }
    }

    pub fn available(&self) -> &Enforced {
        &self.available
    }

    /// The layers as a policy would get them.
    pub fn report(&self, policy: &Policy) -> LayerReport {
        let a = &self.available;
        let network = if policy.document().sandbox.network_allowed() {
            "allowed"
        } else if a.network_denied {
            "denied"
        } else {
            "unenforced"
        };
        LayerReport {
            landlock_abi: a.landlock_abi,
            landlock: a.landlock.clone(),
            namespaces: a.namespaces,
            network: network.into(),
            required: policy
                .document()
                .sandbox
                .required_layers()
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            refused: self.refusal(policy),
            notes: a.notes.clone(),
        }
    }

    /// Why commands cannot run under `policy` here, if they cannot.
    pub fn refusal(&self, policy: &Policy) -> Option<String> {
        plan::missing_layer(policy, &self.available)
    }

    /// Makes the scratch directory and plans the confinement of a command
    /// run in `cwd`; blocking (it walks the roots for masks).
    pub fn prepare(
        &self,
        policy: &Policy,
        cwd: &Path,
        runtime: Duration,
    ) -> Result<Prepared, String> {
        if let Some(reason) = self.refusal(policy) {
            return Err(reason);
        }
        let dir = make_scratch(&self.scratch)?;
        let home = dir.path.join("home");
        std::fs::create_dir(&home).map_err(|e| format!("scratch home: {e}"))?;
        let inputs = plan::Inputs {
            policy,
            available: &self.available,
            cwd,
            home: &home,
            runtime,
            protected: &self.protected,
            simulate_missing: &self.simulate_missing,
        };
        let mut base = plan::spec(&inputs, &[], |name| std::env::var(name).ok());
        if self.available.namespaces && !self.simulate_missing.iter().any(|l| l == "namespaces") {
            let mut roots = policy.read_roots();
            roots.extend(policy.write_roots());
            if policy.document().paths.deny.is_empty() {
                roots.clear();
            }
            let mut protected = self.protected.clone();
            protected.extend(SYSTEM_SECRETS.iter().map(PathBuf::from));
            let mut readable = base.read.clone();
            readable.extend(base.write.iter().cloned());
            base.masks = plan::plan_masks(
                &roots,
                |p| policy.deny_glob_for(p).is_some(),
                &protected,
                &readable,
                policy.document().sandbox.limits.mask_scan_entries(),
            )?;
        }
        Ok(Prepared {
            dir,
            base,
            exe: self.exe.clone(),
        })
    }
}

/// One command's confinement: its scratch directory (removed on drop) and
/// the spec every stage shares.
#[derive(Debug)]
pub struct Prepared {
    dir: Scratch,
    base: SandboxSpec,
    exe: PathBuf,
}

impl Prepared {
    /// The launcher command for one stage.
    pub fn command(
        &self,
        index: usize,
        stage: &policy::RunStage,
    ) -> std::io::Result<tokio::process::Command> {
        let mut spec = self.base.clone();
        spec.argv = stage.argv.clone();
        // What the decision adds (git's safety settings, …) wins over the base environment.
        spec.env.retain(|(name, _)| !stage.env.contains_key(name));
        spec.env
            .extend(stage.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let path = self.dir.path.join(format!("stage-{index}.json"));
        let json = serde_json::to_vec(&spec).map_err(std::io::Error::other)?;
        std::fs::write(&path, json)?;
        let mut command = tokio::process::Command::new(&self.exe);
        command.arg(SUBCOMMAND).arg(&path).env_clear();
        Ok(command)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path.join("home")
    }
}

#[derive(Debug)]
struct Scratch {
    path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn make_scratch(base: &Path) -> Result<Scratch, String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(base)
        .map_err(|e| format!("scratch directory {}: {e}", base.display()))?;
    for _ in 0..8 {
        let name = format!("cmd-{:016x}", rand::random::<u64>());
        let path = base.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(Scratch { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("scratch directory {}: {e}", path.display())),
        }
    }
    Err("could not make a scratch directory".into())
}

fn probe_layers(exe: &Path, simulate_missing: &[String]) -> Enforced {
    let out = StdCommand::new(exe)
        .arg(SUBCOMMAND)
        .arg("--probe")
        .args(simulate_missing)
        .env_clear()
        .output();
    let failed = |why: String| Enforced {
        landlock: "none".into(),
        notes: vec![
            format!("landlock: the launcher probe failed: {why}"),
            format!("namespaces: the launcher probe failed: {why}"),
        ],
        ..Enforced::default()
    };
    match out {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| failed(format!("unreadable report: {e}"))),
        Ok(out) => failed(format!(
            "{} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => failed(format!("{}: {e}", exe.display())),
    }
}
