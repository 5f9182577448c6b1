//! The `sandbox` section: built-in defaults, the effective values a command
//! is confined with, validation and merging.

use crate::document::{SandboxLayer, SandboxLimits, SandboxPolicy};
use crate::error::ValidationErrors;

/// What programs need to run, readable (and executable) by every confined
/// process: binaries and libraries, the loader cache, locale and timezone
/// data, user and group names, and `/proc` (private to the command when
/// namespaces are active) for `ps`, `uptime` and `free`.
pub const DEFAULT_RUNTIME_READ: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/hostname",
    "/etc/os-release",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/random",
    "/proc",
];

/// What every confined process may write besides the write roots.
pub const DEFAULT_RUNTIME_WRITE: &[&str] = &["/dev/null"];

/// Variables passed on from the server's environment when they are set.
pub const DEFAULT_SANDBOX_ENV: &[&str] = &["LANG", "LC_ALL", "TERM", "TZ"];

/// Layers required unless the policy says otherwise.
pub const DEFAULT_REQUIRED_LAYERS: &[SandboxLayer] = &[SandboxLayer::Landlock];

pub const DEFAULT_MAX_PROCESSES: u64 = 4096;
pub const DEFAULT_MAX_MASK_SCAN_ENTRIES: u64 = 200_000;

/// Variables the server sets itself; an allowlist cannot pass them on.
const SERVER_SET_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "PYTHONNOUSERSITE",
];

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl SandboxPolicy {
    pub fn required_layers(&self) -> Vec<SandboxLayer> {
        let mut layers = self
            .require
            .clone()
            .unwrap_or_else(|| DEFAULT_REQUIRED_LAYERS.to_vec());
        layers.sort();
        layers.dedup();
        layers
    }

    pub fn requires(&self, layer: SandboxLayer) -> bool {
        self.required_layers().contains(&layer)
    }

    pub fn network_allowed(&self) -> bool {
        self.network.unwrap_or(false)
    }

    pub fn runtime_read_paths(&self) -> Vec<String> {
        self.runtime_read
            .clone()
            .unwrap_or_else(|| strings(DEFAULT_RUNTIME_READ))
    }

    pub fn runtime_write_paths(&self) -> Vec<String> {
        self.runtime_write
            .clone()
            .unwrap_or_else(|| strings(DEFAULT_RUNTIME_WRITE))
    }

    pub fn env_names(&self) -> Vec<String> {
        self.env
            .clone()
            .unwrap_or_else(|| strings(DEFAULT_SANDBOX_ENV))
    }
}

impl SandboxLimits {
    pub fn processes(&self) -> u64 {
        self.max_processes.unwrap_or(DEFAULT_MAX_PROCESSES)
    }

    pub fn mask_scan_entries(&self) -> u64 {
        self.max_mask_scan_entries
            .unwrap_or(DEFAULT_MAX_MASK_SCAN_ENTRIES)
    }
}

fn env_name(errors: &mut ValidationErrors, at: String, name: &str) {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        errors.push(at, format!("`{name}` is not an environment variable name"));
    } else if name.starts_with("AI_") {
        errors.push(
            at,
            format!("`{name}`: the server's own AI_* settings are never passed to a command"),
        );
    } else if SERVER_SET_ENV.contains(&name) {
        errors.push(
            at,
            format!("`{name}` is set by the server for every command; it cannot be passed on"),
        );
    }
}

pub(crate) fn validate(
    sandbox: &SandboxPolicy,
    errors: &mut ValidationErrors,
    absolute_paths: fn(&mut ValidationErrors, &str, &[String]),
) {
    if let Some(read) = &sandbox.runtime_read {
        absolute_paths(errors, "sandbox.runtimeRead", read);
    }
    if let Some(write) = &sandbox.runtime_write {
        absolute_paths(errors, "sandbox.runtimeWrite", write);
    }
    for (i, name) in sandbox.env.iter().flatten().enumerate() {
        env_name(errors, format!("sandbox.env[{i}]"), name);
    }
    let l = &sandbox.limits;
    for (field, value) in [
        ("maxProcesses", l.max_processes),
        ("maxFileSizeBytes", l.max_file_size_bytes),
        ("maxCpuSeconds", l.max_cpu_seconds),
        ("maxAddressSpaceBytes", l.max_address_space_bytes),
        ("maxMaskScanEntries", l.max_mask_scan_entries),
    ] {
        if value == Some(0) {
            errors.push(format!("sandbox.limits.{field}"), "must be greater than 0");
        }
    }
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list.dedup();
    list
}

/// Runtime paths and variables are allowlists (union, the default standing
/// in for an input that leaves them unset); required layers are unioned;
/// network needs every input that sets it to allow it; limits take the smallest.
pub(crate) fn merge(all: &[&SandboxPolicy]) -> SandboxPolicy {
    fn list(
        all: &[&SandboxPolicy],
        get: fn(&SandboxPolicy) -> &Option<Vec<String>>,
        default: &[&str],
    ) -> Option<Vec<String>> {
        if all.iter().all(|s| get(s).is_none()) {
            return None;
        }
        Some(sorted(
            all.iter()
                .flat_map(|s| get(s).clone().unwrap_or_else(|| strings(default)))
                .collect(),
        ))
    }
    fn min(all: &[&SandboxPolicy], get: fn(&SandboxLimits) -> Option<u64>) -> Option<u64> {
        all.iter().filter_map(|s| get(&s.limits)).min()
    }
    let require = if all.iter().all(|s| s.require.is_none()) {
        None
    } else {
        let mut layers: Vec<SandboxLayer> = all.iter().flat_map(|s| s.required_layers()).collect();
        layers.sort();
        layers.dedup();
        Some(layers)
    };
    let networks: Vec<bool> = all.iter().filter_map(|s| s.network).collect();
    SandboxPolicy {
        require,
        network: (!networks.is_empty()).then(|| networks.iter().all(|n| *n)),
        runtime_read: list(all, |s| &s.runtime_read, DEFAULT_RUNTIME_READ),
        runtime_write: list(all, |s| &s.runtime_write, DEFAULT_RUNTIME_WRITE),
        env: list(all, |s| &s.env, DEFAULT_SANDBOX_ENV),
        limits: SandboxLimits {
            max_processes: min(all, |l| l.max_processes),
            max_file_size_bytes: min(all, |l| l.max_file_size_bytes),
            max_cpu_seconds: min(all, |l| l.max_cpu_seconds),
            max_address_space_bytes: min(all, |l| l.max_address_space_bytes),
            max_mask_scan_entries: min(all, |l| l.max_mask_scan_entries),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn defaults_require_landlock_and_deny_the_network() {
        let s = SandboxPolicy::default();
        assert_eq!(s.required_layers(), [SandboxLayer::Landlock]);
        assert!(!s.network_allowed());
        assert!(s.runtime_read_paths().contains(&"/etc/passwd".to_string()));
        assert!(!s.runtime_read_paths().iter().any(|p| p == "/etc"));
    }

    #[test]
    fn bad_sandbox_fields_are_errors_with_their_path() {
        let yaml = "version: 1\nsandbox:\n  require: [namespaces]\n  runtimeRead: [relative/path]\n  env: [AI_JWT_SECRET_KEY, PATH, 'A-B']\n  limits:\n    maxProcesses: 0\n";
        let err = Policy::from_yaml(yaml).expect_err("invalid").to_string();
        for needle in [
            "sandbox.runtimeRead[0]",
            "sandbox.env[0]",
            "sandbox.env[1]",
            "sandbox.env[2]",
            "sandbox.limits.maxProcesses",
        ] {
            assert!(err.contains(needle), "{needle} missing in {err}");
        }
        let err = Policy::from_yaml("version: 1\nsandbox:\n  require: [seccomp]\n")
            .expect_err("unknown layer")
            .to_string();
        assert!(err.contains("seccomp"), "{err}");
    }

    #[test]
    fn merge_is_restrictive_where_it_matters() {
        let a = SandboxPolicy {
            network: Some(true),
            limits: SandboxLimits {
                max_processes: Some(100),
                ..SandboxLimits::default()
            },
            ..SandboxPolicy::default()
        };
        let b = SandboxPolicy {
            require: Some(vec![SandboxLayer::Namespaces]),
            network: Some(false),
            env: Some(vec!["EDITOR".into()]),
            limits: SandboxLimits {
                max_processes: Some(50),
                ..SandboxLimits::default()
            },
            ..SandboxPolicy::default()
        };
        let m = merge(&[&a, &b]);
        assert_eq!(
            m.required_layers(),
            [SandboxLayer::Landlock, SandboxLayer::Namespaces]
        );
        assert!(!m.network_allowed());
        assert_eq!(m.limits.max_processes, Some(50));
        let env = m.env_names();
        assert!(env.contains(&"EDITOR".to_string()) && env.contains(&"LANG".to_string()));
        assert!(merge(&[&a]).network_allowed());
    }
}
