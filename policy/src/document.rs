//! The policy document: what an operator renders into `policy.yaml`, what the
//! server hot-reloads, and what an `AccessPolicy` custom resource carries.
//!
//! The types are kept flat and structural on purpose (camelCase, every
//! `Option` skipped when empty, unit-variant enums only) because the operator
//! embeds them in a CRD schema, which a Kubernetes API server only accepts in
//! that shape. Numeric limits are `Option`s so that a merge can tell "not
//! set" from "set", and take the most restrictive of the values set.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only document version this build understands.
pub const POLICY_VERSION: u32 = 1;

/// A complete policy document (`policy.yaml`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDocument {
    /// Document format version; must be 1.
    pub version: u32,
    /// Which programs the agent may run, and how.
    #[serde(default)]
    pub commands: CommandPolicy,
    /// Which files the agent may read and write.
    #[serde(default)]
    pub paths: PathPolicy,
    /// Which browser origins may call the HTTP API.
    #[serde(default)]
    pub cors: CorsPolicy,
    /// Request budgets per client and route.
    #[serde(default)]
    pub rate_limits: RateLimitPolicy,
    /// How the kernel confines every command that runs (Landlock, namespaces, limits).
    #[serde(default, skip_serializing_if = "SandboxPolicy::is_empty")]
    pub sandbox: SandboxPolicy,
    /// Command lines that must be allowed and must be denied; checked every
    /// time the policy is loaded, so the author's intent is tested.
    #[serde(default)]
    pub examples: PolicyExamples,
}

/// Command rules. Deny by default: a program not in `allow` never runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandPolicy {
    /// Programs that may run, by name (`git`, not `/usr/bin/git`).
    #[serde(default)]
    pub allow: Vec<CommandRule>,
    /// Programs that never run, whatever any allow rule says.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Directories whose programs may be named by absolute path
    /// (`/usr/bin/cat` is judged as `cat` only when `/usr/bin` is listed).
    /// Default: `/bin`, `/usr/bin`, `/usr/local/bin`, `/sbin`, `/usr/sbin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_bin_dirs: Option<Vec<String>>,
    /// Whether `a | b` pipelines may run (every stage is checked). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_pipelines: Option<bool>,
    /// Wall-clock limit for one command, in seconds. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime_seconds: Option<u64>,
    /// Output kept per stream (stdout, stderr); the rest is cut and marked. Default 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// Absolute paths that a recursive flag (see `CommandRule.recursiveFlags`)
    /// may never target. Default: `/`, `/bin`, `/boot`, `/etc`, `/home`, `/lib`,
    /// `/opt`, `/root`, `/sbin`, `/srv`, `/usr`, `/var`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_paths: Option<Vec<String>>,
}

/// One allowed program and the limits on its arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandRule {
    /// Program name, without a directory.
    pub program: String,
    /// When set, the first non-flag argument must name one of these subcommands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcommands: Option<Vec<SubcommandRule>>,
    /// Arguments that are refused, as globs matched against each argument
    /// (`--force`, `-*f*`, `--exec=*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_args: Vec<String>,
    /// Flags that make the command recursive (`-r`, `-R`, `--recursive`); with
    /// one of them present no argument may name a protected path. Single-letter
    /// flags also match inside clusters (`-rf`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recursive_flags: Vec<String>,
    /// Which path arguments the program writes to.
    #[serde(default, skip_serializing_if = "WriteTargets::is_none")]
    pub writes: WriteTargets,
    /// Flags that turn every path argument into a write target (`sed -i`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write_flags: Vec<String>,
    /// Exact command lines with inline code (`python3 -c '...'`) that may run;
    /// any other inline-code form of an interpreter is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_inline: Vec<String>,
    /// Options the program's profile refuses (they change system state, never
    /// end, read unjudged file names) or does not know, allowed anyway
    /// (`--follow`, `-s`). `--name=` admits an unknown option taking a value.
    /// Options that run code are allowed only by exact `allowInline` lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_options: Vec<String>,
    /// Overrides `commands.maxRuntimeSeconds` for this program (can only lower it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runtime_seconds: Option<u64>,
    /// Overrides `commands.maxOutputBytes` for this program (can only lower it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
}

/// An allowed subcommand, optionally limited to named targets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubcommandRule {
    /// Subcommand name (`status`, `exec`, `restart`).
    pub name: String,
    /// When set, the first non-flag argument after the subcommand must be one
    /// of these (containers for `docker exec`, units for `systemctl restart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// When true, every non-flag argument after the subcommand must be one of
    /// `targets` (`systemctl restart a b`); by default only the first is
    /// checked and the rest are passed on (`docker exec web ls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_arg_is_target: Option<bool>,
}

/// Which path arguments of a program are written to.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum WriteTargets {
    /// The program only reads its path arguments.
    #[default]
    None,
    /// Every path argument is written (`rm`, `touch`, `mkdir`, `chmod`, `tee`).
    All,
    /// The last path argument is written, the others read (`cp`, `mv`).
    Last,
}

impl WriteTargets {
    pub fn is_none(&self) -> bool {
        matches!(self, WriteTargets::None)
    }
}

/// File rules. A path must lie under a root (component-wise) and match no deny glob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PathPolicy {
    /// Absolute directories that may be read (write roots are readable too).
    #[serde(default)]
    pub read: Vec<String>,
    /// Absolute directories that may be written.
    #[serde(default)]
    pub write: Vec<String>,
    /// Globs of paths that are never read nor written (`**/.env`, `/root/**`).
    #[serde(default)]
    pub deny: Vec<String>,
    /// Largest file `read_file` returns, in bytes. Default 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_read_bytes: Option<u64>,
    /// Largest content `write_file` accepts, in bytes. Default 1 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_write_bytes: Option<u64>,
}

/// Browser access. An origin not listed gets no CORS headers at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsPolicy {
    /// Exact origins (`https://app.example.com`) or one leading subdomain
    /// wildcard (`https://*.example.com`). `*` alone allows any origin and
    /// cannot be combined with credentials.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Whether browsers may send cookies and credentials. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// Allowed methods. Default: GET, POST, PUT, PATCH, DELETE, OPTIONS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_methods: Vec<String>,
    /// Allowed request headers. Default: Authorization, Content-Type, X-API-Key, X-Request-Id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// How long browsers may cache a preflight answer, in seconds. Default 600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
}

/// Request budgets (GCRA), per client identity and per client IP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitPolicy {
    /// Whether limits apply. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The budget of every route without its own. Default 60 per 1m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<RateLimit>,
    /// Budgets by route path (`/api/chat`, `/api/auth/login`).
    /// Defaults: `/api/chat` 10 per 1m, `/api/auth/login` 5 per 5m.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, RateLimit>,
    /// Peers (CIDRs) whose `X-Forwarded-For` header is believed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
}

/// `requests` per `per`, where `per` is a duration such as `30s`, `1m`, `5m`, `1h`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed in one period (also the burst size).
    pub requests: u32,
    /// The period: a whole number followed by `s`, `m` or `h`.
    pub per: String,
}

/// Command lines the policy must allow and must deny.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyExamples {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Kernel confinement of every command: what the process may touch, whatever
/// its arguments said. The policy decides; this section says what the kernel
/// enforces around that decision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxPolicy {
    /// Layers that must be active, or every command is refused (fail closed).
    /// Default: `[landlock]`; namespaces are used whenever the host has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Vec<SandboxLayer>>,
    /// Whether confined commands may connect or listen on TCP. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    /// Paths every program may read and execute besides the roots (system
    /// binaries and libraries, loader cache, timezone, `/etc/passwd`, `/proc`, …).
    /// Default: `DEFAULT_RUNTIME_READ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_read: Option<Vec<String>>,
    /// Paths every program may write besides the write roots. Default: `/dev/null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_write: Option<Vec<String>>,
    /// Environment variables passed on from the server's environment when set
    /// (`PATH`, `HOME` and the git/python hardening variables are always set
    /// by the server). Default: `LANG`, `LC_ALL`, `TERM`, `TZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Resource limits of every confined process.
    #[serde(default, skip_serializing_if = "SandboxLimits::is_empty")]
    pub limits: SandboxLimits,
}

impl SandboxPolicy {
    pub fn is_empty(&self) -> bool {
        self == &SandboxPolicy::default()
    }
}

/// A confinement layer a policy can require.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum SandboxLayer {
    /// Landlock: filesystem (and, with ABI 4+, TCP) access limited by the kernel.
    Landlock,
    /// User, mount and PID namespaces: deny globs masked, a private `/proc`.
    Namespaces,
}

impl SandboxLayer {
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxLayer::Landlock => "landlock",
            SandboxLayer::Namespaces => "namespaces",
        }
    }
}

/// `setrlimit` values of a confined process; unset means the built-in default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxLimits {
    /// Processes (threads) of the user (`RLIMIT_NPROC`). Default 4096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_processes: Option<u64>,
    /// Largest file a command may write (`RLIMIT_FSIZE`). Default: `paths.maxWriteBytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_file_size_bytes: Option<u64>,
    /// CPU time (`RLIMIT_CPU`). Default: the command's runtime limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_seconds: Option<u64>,
    /// Address space (`RLIMIT_AS`). Default: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_address_space_bytes: Option<u64>,
    /// Entries looked at under the roots when masking deny globs; a command
    /// whose roots hold more is refused rather than run unmasked. Default 200000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mask_scan_entries: Option<u64>,
}

impl SandboxLimits {
    pub fn is_empty(&self) -> bool {
        self == &SandboxLimits::default()
    }
}
