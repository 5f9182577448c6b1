//! The compiled policy: a validated document plus everything precomputed
//! for fast decisions. Cheap to clone, so a server can swap snapshots.

use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use sha2::{Digest, Sha256};

use crate::command::{CommandDecision, CommandRules};
use crate::cors::{self, EffectiveCors, OriginPattern};
use crate::document::PolicyDocument;
use crate::error::{PolicyError, ValidationErrors};
use crate::paths::{Access, PathDecision, PathRules};
use crate::rate::{RateRules, RateSpec};
use crate::{defaults, validate, yaml};

/// Working directory used to judge `examples`.
pub const EXAMPLES_CWD: &str = "/";

/// Built-in limits of `paths` when the policy sets none.
pub const DEFAULT_MAX_READ_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_MAX_WRITE_BYTES: u64 = 1024 * 1024;

/// A validated, compiled policy snapshot.
#[derive(Clone, Debug)]
pub struct Policy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    document: PolicyDocument,
    hash: String,
    commands: CommandRules,
    paths: PathRules,
    origins: Vec<OriginPattern>,
    cors: EffectiveCors,
    rates: RateRules,
    proxies: Vec<IpNet>,
}

/// Parses a trusted proxy: a CIDR, or a single address meaning just that host.
pub(crate) fn parse_proxy(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .map(|n| n.trunc())
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

impl Policy {
    /// Parses, validates and compiles `policy.yaml`, then checks its examples.
    pub fn from_yaml(text: &str) -> Result<Policy, PolicyError> {
        Policy::compile(yaml::from_yaml(text)?)
    }

    /// Validates and compiles a document, then checks its examples.
    pub fn compile(document: PolicyDocument) -> Result<Policy, PolicyError> {
        let errors = validate::validate(&document);
        if !errors.is_empty() {
            return Err(PolicyError::Invalid(errors));
        }
        let invalid = |path: &str, message: String| {
            PolicyError::Invalid(ValidationErrors(vec![crate::ValidationError::new(
                path, message,
            )]))
        };
        let commands =
            CommandRules::compile(&document.commands).map_err(|e| invalid("commands", e))?;
        let paths = PathRules::compile(
            &document.paths.read,
            &document.paths.write,
            &document.paths.deny,
        )
        .map_err(|e| invalid("paths.deny", e.to_string()))?;
        let origins = document
            .cors
            .allowed_origins
            .iter()
            .filter_map(|o| OriginPattern::parse(o).ok())
            .collect::<Vec<_>>();
        let c = &document.cors;
        let or_default = |list: &[String], default: &[&str]| -> Vec<String> {
            if list.is_empty() {
                default.iter().map(|s| s.to_string()).collect()
            } else {
                list.to_vec()
            }
        };
        let effective_cors = EffectiveCors {
            allowed_origins: c.allowed_origins.clone(),
            allow_any_origin: origins.contains(&OriginPattern::Any),
            allow_credentials: c.allow_credentials.unwrap_or(false),
            allowed_methods: or_default(&c.allowed_methods, cors::DEFAULT_METHODS),
            allowed_headers: or_default(&c.allowed_headers, cors::DEFAULT_HEADERS),
            max_age_seconds: c.max_age_seconds.unwrap_or(cors::DEFAULT_MAX_AGE_SECONDS),
        };
        let rates = RateRules::compile(&document.rate_limits);
        let proxies = document
            .rate_limits
            .trusted_proxies
            .iter()
            .filter_map(|p| parse_proxy(p))
            .collect();
        let hash = hex::encode(Sha256::digest(yaml::to_yaml(&document).as_bytes()));
        let policy = Policy {
            inner: Arc::new(Inner {
                document,
                hash,
                commands,
                paths,
                origins,
                cors: effective_cors,
                rates,
                proxies,
            }),
        };
        let errors = policy.example_errors();
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyError::Invalid(errors))
        }
    }

    /// The built-in default policy, compiled.
    pub fn default_policy() -> Policy {
        match Policy::compile(defaults::default_policy()) {
            Ok(p) => p,
            // The default is covered by tests; failing here is a build defect.
            Err(e) => panic!("the built-in default policy is invalid: {e}"),
        }
    }

    fn example_errors(&self) -> ValidationErrors {
        let mut errors = ValidationErrors::default();
        let cwd = Path::new(EXAMPLES_CWD);
        let examples = &self.inner.document.examples;
        for (i, line) in examples.allow.iter().enumerate() {
            let d = self.check_command(line, cwd);
            if !d.allowed {
                errors.push(
                    format!("examples.allow[{i}]"),
                    format!(
                        "`{line}` must be allowed but was denied by {}: {}",
                        d.rule, d.reason
                    ),
                );
            }
        }
        for (i, line) in examples.deny.iter().enumerate() {
            let d = self.check_command(line, cwd);
            if d.allowed {
                errors.push(
                    format!("examples.deny[{i}]"),
                    format!("`{line}` must be denied but was allowed by {}", d.rule),
                );
            }
        }
        errors
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.inner.document
    }

    /// SHA-256 (hex) of the document's canonical YAML: identifies a snapshot.
    pub fn hash(&self) -> &str {
        &self.inner.hash
    }

    /// Judges a command line that would run (as argv, without a shell) in `cwd`.
    pub fn check_command(&self, line: &str, cwd: &Path) -> CommandDecision {
        self.inner
            .commands
            .check(line, cwd, Some(&self.inner.paths))
    }

    /// Judges a command line by the rules alone, resolving no path: what
    /// `check_command` does before it looks at the file system. For benchmarks.
    #[doc(hidden)]
    pub fn check_command_rules(&self, line: &str, cwd: &Path) -> CommandDecision {
        self.inner.commands.check(line, cwd, None)
    }

    /// Judges reading or writing an absolute path.
    pub fn check_path(&self, path: &Path, access: Access) -> PathDecision {
        self.inner.paths.check(path, access)
    }

    /// Whether a request's `Origin` header value may get CORS headers.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        cors::origin_matches(&self.inner.origins, origin)
    }

    /// CORS settings with defaults applied.
    pub fn cors(&self) -> EffectiveCors {
        self.inner.cors.clone()
    }

    pub fn rate_limits_enabled(&self) -> bool {
        self.inner.rates.enabled
    }

    /// The route's own budget, else the default (exact route match).
    pub fn rate_limit_for(&self, route: &str) -> RateSpec {
        self.inner.rates.for_route(route)
    }

    /// Peers whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.inner.proxies
    }

    /// Resolved write roots (read + write).
    pub fn write_roots(&self) -> Vec<std::path::PathBuf> {
        self.inner.paths.write_roots()
    }

    /// Resolved read roots (read only).
    pub fn read_roots(&self) -> Vec<std::path::PathBuf> {
        self.inner.paths.read_roots()
    }

    /// The deny glob that matches `path` (or an ancestor) as written, without
    /// resolving symlinks: what the sandbox masks under the roots.
    pub fn deny_glob_for(&self, path: &Path) -> Option<String> {
        self.inner.paths.deny_glob_for(path)
    }

    pub fn max_read_bytes(&self) -> u64 {
        self.inner
            .document
            .paths
            .max_read_bytes
            .unwrap_or(DEFAULT_MAX_READ_BYTES)
    }

    pub fn max_write_bytes(&self) -> u64 {
        self.inner
            .document
            .paths
            .max_write_bytes
            .unwrap_or(DEFAULT_MAX_WRITE_BYTES)
    }
}
