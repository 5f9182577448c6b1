//! What the server hands the launcher: one command and everything it is
//! confined to. Written to a private file whose path is the launcher's only
//! argument, so nothing of it needs the command line, and it carries no secret.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// The program and its arguments, exactly as the policy allowed them.
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The complete environment of the program.
    pub env: Vec<(String, String)>,
    /// Readable and executable (Landlock), with everything beneath.
    pub read: Vec<PathBuf>,
    /// Readable and writable (Landlock), with everything beneath.
    pub write: Vec<PathBuf>,
    /// Whether TCP connect and bind stay allowed.
    pub network: bool,
    /// Paths hidden in the command's mount namespace.
    pub masks: Vec<Mask>,
    pub limits: Limits,
    /// Use user, mount and PID namespaces.
    pub namespaces: bool,
    /// Refuse to run when Landlock cannot be enforced.
    pub require_landlock: bool,
    /// Refuse to run when the namespaces cannot be set up.
    pub require_namespaces: bool,
    /// Layers to act as if the kernel lacked them (tests, and hosts where a
    /// layer misbehaves).
    #[serde(default)]
    pub simulate_missing: Vec<String>,
}

impl SandboxSpec {
    pub fn simulates_missing(&self, layer: &str) -> bool {
        self.simulate_missing.iter().any(|l| l == layer)
    }
}

/// One path hidden from the command: an empty read-only directory over a
/// directory, an empty read-only file over anything else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask {
    pub path: PathBuf,
    pub kind: MaskKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskKind {
    Dir,
    File,
}

impl Mask {
    pub fn new(path: &Path, kind: MaskKind) -> Mask {
        Mask {
            path: path.to_path_buf(),
            kind,
        }
    }
}

/// `setrlimit` values; `None` leaves the inherited limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub processes: Option<u64>,
    pub file_size: Option<u64>,
    pub cpu_seconds: Option<u64>,
    pub address_space: Option<u64>,
}
