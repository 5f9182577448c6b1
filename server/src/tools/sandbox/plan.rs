//! Planning a confinement from a policy: which layers a policy needs, what
//! Landlock grants, which paths the mount namespace masks, the environment
//! and the limits. Pure apart from walking the roots for masks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use policy::{Policy, SandboxLayer};

use super::launch::Enforced;
use super::spec::{Limits, Mask, MaskKind, SandboxSpec};

/// The only `PATH` a command sees.
pub const SAFE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Why commands cannot run under this policy on this host, if they cannot:
/// a layer the policy requires is not available.
pub fn missing_layer(policy: &Policy, available: &Enforced) -> Option<String> {
    let sandbox = &policy.document().sandbox;
    for layer in sandbox.required_layers() {
        let present = match layer {
            SandboxLayer::Landlock => available.landlock_abi.is_some(),
            SandboxLayer::Namespaces => available.namespaces,
        };
        if !present {
            let why = available
                .notes
                .iter()
                .find(|n| n.starts_with(layer.as_str()))
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            return Some(format!(
                "commands are refused: the policy's sandbox.require lists {}, which is not \
                 available on this host{why}",
                layer.as_str()
            ));
        }
    }
    None
}

/// Everything a command is confined with except its argv and masks.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub policy: &'a Policy,
    pub available: &'a Enforced,
    pub cwd: &'a Path,
    pub home: &'a Path,
    pub runtime: Duration,
    /// The server's own files: masked where a runtime path contains them.
    pub protected: &'a [PathBuf],
    pub simulate_missing: &'a [String],
}

/// The spec for one stage, without masks (see `plan_masks`).
pub fn spec(
    inputs: &Inputs,
    argv: &[String],
    env_of: impl Fn(&str) -> Option<String>,
) -> SandboxSpec {
    let policy = inputs.policy;
    let sandbox = &policy.document().sandbox;
    let mut read: Vec<PathBuf> = policy.read_roots();
    read.extend(sandbox.runtime_read_paths().into_iter().map(PathBuf::from));
    let mut write: Vec<PathBuf> = policy.write_roots();
    write.extend(sandbox.runtime_write_paths().into_iter().map(PathBuf::from));
    write.push(inputs.home.to_path_buf());
    let limits = &sandbox.limits;
    SandboxSpec {
        argv: argv.to_vec(),
        cwd: inputs.cwd.to_path_buf(),
        env: environment(policy, inputs.home, env_of),
        read,
        write,
        network: sandbox.network_allowed(),
        masks: Vec::new(),
        limits: Limits {
            processes: Some(limits.processes()),
            file_size: Some(
                limits
                    .max_file_size_bytes
                    .unwrap_or_else(|| policy.max_write_bytes()),
            ),
            cpu_seconds: Some(
                limits
                    .max_cpu_seconds
                    .unwrap_or_else(|| inputs.runtime.as_secs() + 1),
            ),
            address_space: limits.max_address_space_bytes,
        },
        namespaces: inputs.available.namespaces,
        require_landlock: sandbox.requires(SandboxLayer::Landlock),
        require_namespaces: sandbox.requires(SandboxLayer::Namespaces),
        simulate_missing: inputs.simulate_missing.to_vec(),
    }
}

/// The whole environment: fixed hardening variables, a scratch `HOME`, and
/// the policy's allowlist taken from the server's environment.
fn environment(
    policy: &Policy,
    home: &Path,
    env_of: impl Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), SAFE_PATH.into()),
        ("HOME".into(), home.display().to_string()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        ("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()),
        ("PYTHONNOUSERSITE".into(), "1".into()),
    ];
    for name in policy.document().sandbox.env_names() {
        if name.starts_with("AI_") || env.iter().any(|(k, _)| *k == name) {
            continue;
        }
        if let Some(value) = env_of(&name) {
            env.push((name, value));
        }
    }
    if !env.iter().any(|(k, _)| k == "LANG") {
        env.push(("LANG".into(), "C.UTF-8".into()));
    }
    env
}

/// A name no deny glob is written for: a directory is denied whole when
/// even this child of it is.
const PROBE_CHILD: &str = ".ai-orchestrator-mask-probe";

/// Every existing path under the roots that a deny glob matches, plus the
/// server's own paths under anything readable. Directories matched are
/// masked whole and not entered; symlinks are never followed while walking
/// (one that matches is masked at its target, when it has one). More than
/// `limit` entries is an error: the command is refused rather than run with
/// deny globs unenforced.
pub fn plan_masks(
    roots: &[PathBuf],
    denied: impl Fn(&Path) -> bool,
    protected: &[PathBuf],
    readable: &[PathBuf],
    limit: u64,
) -> Result<Vec<Mask>, String> {
    let mut masks = Vec::new();
    let mut seen: u64 = 0;
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(path) = stack.pop() {
        seen += 1;
        if seen > limit {
            return Err(format!(
                "the roots hold more than {limit} entries to check against the deny globs \
                 (sandbox.limits.maxMaskScanEntries); narrow the roots or raise the limit"
            ));
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        // A directory whose every entry is denied (`**/.ssh/**`) is masked whole.
        if denied(&path) || (meta.is_dir() && denied(&path.join(PROBE_CHILD))) {
            if let Some(kind) = mask_kind(&path) {
                masks.push(Mask::new(&path, kind));
            }
            continue;
        }
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&path)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    for own in protected {
        if readable.iter().any(|r| own.starts_with(r))
            && let Some(kind) = mask_kind(own)
        {
            masks.push(Mask::new(own, kind));
        }
    }
    masks.sort_by(|a, b| a.path.cmp(&b.path));
    masks.dedup();
    Ok(masks)
}

/// How to hide a path: by what it is, or (for a symlink) what it points to.
fn mask_kind(path: &Path) -> Option<MaskKind> {
    let meta = std::fs::metadata(path).ok()?;
    Some(if meta.is_dir() {
        MaskKind::Dir
    } else {
        MaskKind::File
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(abi: Option<i32>, namespaces: bool) -> Enforced {
        Enforced {
            landlock_abi: abi,
            landlock: if abi.is_some() { "full" } else { "none" }.into(),
            namespaces,
            network_denied: true,
            notes: vec!["namespaces: unshare: EPERM".into()],
        }
    }

    #[test]
    fn a_required_layer_that_is_missing_refuses_with_the_layer_named() {
        let default = Policy::default_policy();
        assert_eq!(missing_layer(&default, &available(Some(7), false)), None);
        let reason = missing_layer(&default, &available(None, true)).expect("refused");
        assert!(reason.contains("landlock"), "{reason}");
        let strict = Policy::from_yaml("version: 1\nsandbox:\n  require: [landlock, namespaces]\n")
            .expect("policy");
        let reason = missing_layer(&strict, &available(Some(7), false)).expect("refused");
        assert!(
            reason.contains("namespaces") && reason.contains("EPERM"),
            "{reason}"
        );
        let none = Policy::from_yaml("version: 1\nsandbox:\n  require: []\n").expect("policy");
        assert_eq!(missing_layer(&none, &available(None, false)), None);
    }

    #[test]
    fn the_ruleset_grants_roots_runtime_and_home_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let out = tempfile::tempdir().expect("tempdir");
        let yaml = format!(
            "version: 1\npaths:\n  read: [{}]\n  write: [{}]\nsandbox:\n  runtimeRead: [/usr, /etc/passwd]\n  env: [EDITOR, AI_JWT_SECRET_KEY]\n",
            root.path().display(),
            out.path().display()
        );
        let policy = Policy::from_yaml(&yaml);
        // The allowlist refuses AI_* names outright.
        assert!(policy.is_err());
        let yaml = yaml.replace(", AI_JWT_SECRET_KEY", "");
        let policy = Policy::from_yaml(&yaml).expect("policy");
        let home = Path::new("/var/lib/ai/scratch/1/home");
        let avail = available(Some(7), true);
        let inputs = Inputs {
            policy: &policy,
            available: &avail,
            cwd: root.path(),
            home,
            runtime: Duration::from_secs(30),
            protected: &[],
            simulate_missing: &[],
        };
        let spec = spec(&inputs, &["ls".to_string()], |name| {
            (name == "EDITOR" || name == "AI_JWT_SECRET_KEY").then(|| "vi".to_string())
        });
        let canon = |p: &Path| p.canonicalize().expect("canonical");
        assert_eq!(
            spec.read,
            [canon(root.path()), "/usr".into(), "/etc/passwd".into()]
        );
        assert_eq!(
            spec.write,
            [canon(out.path()), "/dev/null".into(), home.into()]
        );
        assert!(!spec.network);
        assert!(spec.namespaces && spec.require_landlock && !spec.require_namespaces);
        assert_eq!(spec.limits.cpu_seconds, Some(31));
        assert_eq!(spec.limits.file_size, Some(policy.max_write_bytes()));
        let names: Vec<&str> = spec.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "PATH",
                "HOME",
                "GIT_CONFIG_NOSYSTEM",
                "GIT_CONFIG_GLOBAL",
                "PYTHONNOUSERSITE",
                "EDITOR",
                "LANG"
            ]
        );
        assert!(
            spec.env
                .contains(&("GIT_CONFIG_GLOBAL".into(), "/dev/null".into()))
        );
    }

    #[test]
    fn masks_cover_denied_entries_under_the_roots_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("alice/.ssh")).expect("mkdir");
        std::fs::write(root.join("alice/.ssh/id_rsa"), "key").expect("write");
        std::fs::write(root.join("alice/.env"), "S3CRET").expect("write");
        std::fs::write(root.join("alice/notes.txt"), "fine").expect("write");
        std::fs::create_dir_all(root.join("alice/src")).expect("mkdir");
        std::fs::write(root.join("alice/src/id_rsa.pub"), "pub").expect("write");
        std::os::unix::fs::symlink("/nonexistent-target", root.join("alice/src/.env"))
            .expect("symlink");
        let yaml = format!(
            "version: 1\npaths:\n  read: [{}]\n  deny: ['**/.ssh/**', '**/.env', '**/id_rsa*']\n",
            root.display()
        );
        let policy = Policy::from_yaml(&yaml).expect("policy");
        let binary = root.join("alice/notes.txt");
        let masks = plan_masks(
            &policy.read_roots(),
            |p| policy.deny_glob_for(p).is_some(),
            std::slice::from_ref(&binary),
            std::slice::from_ref(&root),
            1000,
        )
        .expect("planned");
        assert_eq!(
            masks,
            [
                Mask::new(&root.join("alice/.env"), MaskKind::File),
                Mask::new(&root.join("alice/.ssh"), MaskKind::Dir),
                Mask::new(&binary, MaskKind::File),
                Mask::new(&root.join("alice/src/id_rsa.pub"), MaskKind::File),
            ]
        );
        let err = plan_masks(&policy.read_roots(), |_| false, &[], &[], 3).expect_err("limit");
        assert!(err.contains("maxMaskScanEntries"), "{err}");
    }
}
