//! What the operator writes and the server reads, declared once: the files
//! of the mounted ConfigMap and Secret with their formats, the default
//! directories, the `AI_*` variables the operator sets, the scopes and the
//! secret-size minimum. Both sides use these items, so a file the operator
//! renders is checked by the very parser the server loads it with.

mod api_keys;
pub mod env;
mod error;
mod jwt_keys;
mod scope;

pub use api_keys::{ApiKeyEntry, DeclaredApiKey, api_key_sha256, parse_api_keys, render_api_keys};
pub use error::{FileError, Problem};
pub use jwt_keys::{DecodedJwtKey, JwtKey, JwtKeySet, JwtKeys, parse_jwt_keys, render_jwt_keys};
pub use scope::{Scope, UnknownScope};

/// The policy document, in the config directory (the ConfigMap's key).
pub const POLICY_FILE: &str = "policy.yaml";
/// The JWT key set, in the secrets directory (a key of the auth Secret).
pub const JWT_KEYS_FILE: &str = "jwt-keys.json";
/// The declared API keys (hashes only), in the secrets directory.
pub const API_KEYS_FILE: &str = "api-keys.json";
/// The admin password, in the secrets directory.
pub const ADMIN_PASSWORD_FILE: &str = "admin-password";

/// Where the server looks for `policy.yaml` by default (the ConfigMap's mount).
pub const DEFAULT_CONFIG_DIR: &str = "/etc/ai-orchestrator";
/// Where the server looks for its secrets by default (the Secret's mount).
pub const DEFAULT_SECRETS_DIR: &str = "/var/run/secrets/ai-orchestrator";
/// The port the server listens on by default.
pub const DEFAULT_PORT: u16 = 8001;

/// Smallest JWT signing secret accepted, in bytes, wherever it comes from.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[cfg(test)]
mod tests;
