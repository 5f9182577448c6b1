//! The raw inputs of a snapshot (policy, JWT keys, declared API keys) and
//! where they were read: the mounted directories or the Kubernetes API.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::files::{API_KEYS_FILE, JWT_KEYS_FILE, POLICY_FILE};
use crate::config::{ReloadError, Settings};

/// Where a set of inputs was read: both feed the same parse → validate → swap path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputSource {
    /// The mounted config and secrets directories.
    File,
    /// The ConfigMap and Secret, read through the Kubernetes API.
    Kubernetes,
}

impl InputSource {
    pub fn as_str(self) -> &'static str {
        match self {
            InputSource::File => "file",
            InputSource::Kubernetes => "kubernetes",
        }
    }
}

/// Where the inputs live, for error messages (never their contents).
#[derive(Clone, Debug)]
pub enum Location {
    Dirs {
        config: PathBuf,
        secrets: PathBuf,
    },
    Kubernetes {
        namespace: String,
        configmap: String,
        secret: String,
    },
}

impl Location {
    pub(crate) fn source(&self) -> InputSource {
        match self {
            Location::Dirs { .. } => InputSource::File,
            Location::Kubernetes { .. } => InputSource::Kubernetes,
        }
    }

    pub(crate) fn policy(&self) -> String {
        match self {
            Location::Dirs { config, .. } => config.join(POLICY_FILE).display().to_string(),
            Location::Kubernetes {
                namespace,
                configmap,
                ..
            } => {
                format!("ConfigMap {namespace}/{configmap} key {POLICY_FILE}")
            }
        }
    }

    pub(crate) fn secret(&self, key: &str) -> String {
        match self {
            Location::Dirs { secrets, .. } => secrets.join(key).display().to_string(),
            Location::Kubernetes {
                namespace, secret, ..
            } => format!("Secret {namespace}/{secret} key {key}"),
        }
    }
}

/// The raw contents a snapshot is built from, however they were obtained.
/// `None` is a missing file or key. No `Debug`: it holds secrets.
#[derive(Clone)]
pub struct Inputs {
    pub location: Location,
    pub policy: Option<Vec<u8>>,
    pub jwt_keys: Option<Vec<u8>>,
    pub api_keys: Option<Vec<u8>>,
}

impl Inputs {
    /// Reads the config and secrets directories.
    pub fn read_files(settings: &Settings) -> Result<Inputs, ReloadError> {
        Ok(Inputs {
            location: Location::Dirs {
                config: settings.config_dir.clone(),
                secrets: settings.secrets_dir.clone(),
            },
            policy: read_optional(&settings.policy_path())?,
            jwt_keys: read_optional(&settings.secrets_dir.join(JWT_KEYS_FILE))?,
            api_keys: read_optional(&settings.secrets_dir.join(API_KEYS_FILE))?,
        })
    }

    pub fn source(&self) -> InputSource {
        self.location.source()
    }

    /// SHA-256 of the raw contents: equal digests mean the source has not changed.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [&self.policy, &self.jwt_keys, &self.api_keys] {
            match part {
                None => hasher.update([0]),
                Some(bytes) => {
                    hasher.update([1]);
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(bytes);
                }
            }
        }
        hex::encode(hasher.finalize())
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ReloadError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReloadError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}
