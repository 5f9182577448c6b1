//! The ai-orchestrator policy: the document (what may run, which files may be
//! touched, which origins may call, how fast), its validation, and the
//! decisions the server makes with it. Pure except for path resolution.

mod command;
pub mod contract;
mod cors;
mod defaults;
pub mod document;
mod error;
mod interpreters;
pub mod manifest;
mod merge;
mod paths;
mod policy;
mod profiles;
mod rate;
mod sandbox;
pub mod shell;
mod validate;
mod yaml;

pub use command::{
    ALWAYS_REFUSED, CommandDecision, DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_RUNTIME_SECONDS,
    DEFAULT_PROTECTED_PATHS, DEFAULT_TRUSTED_BIN_DIRS, RunStage, SHELL_SYNTAX_RULE,
};
pub use cors::{DEFAULT_HEADERS, DEFAULT_MAX_AGE_SECONDS, DEFAULT_METHODS, EffectiveCors};
pub use defaults::{DEFAULT_DENY_GLOBS, DEFAULT_PROGRAMS, default_policy};
pub use document::*;
pub use error::{PolicyError, ValidationError, ValidationErrors};
pub use merge::merge;
pub use paths::{Access, PathDecision, normalize, resolve};
pub use policy::{DEFAULT_MAX_READ_BYTES, DEFAULT_MAX_WRITE_BYTES, EXAMPLES_CWD, Policy};
pub use profiles::{GIT_SAFE_CONFIG, GIT_SAFE_ENV, WRAPPERS, profiled_programs};
pub use rate::{DEFAULT_RATE, DEFAULT_ROUTE_RATES, RateSpec, parse_period};
pub use sandbox::{
    DEFAULT_MAX_MASK_SCAN_ENTRIES, DEFAULT_MAX_PROCESSES, DEFAULT_REQUIRED_LAYERS,
    DEFAULT_RUNTIME_READ, DEFAULT_RUNTIME_WRITE, DEFAULT_SANDBOX_ENV,
};
pub use yaml::{from_yaml, to_yaml};
