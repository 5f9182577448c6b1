//! The permissions a credential carries, as users, API keys, tools and the
//! `AccessPolicy` CRD name them.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Permission of a credential; `admin` implies all others.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read conversations, models and tools.
    Read,
    /// Change conversations and files.
    Write,
    /// Run commands.
    Execute,
    /// Everything, including user and key administration.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Execute, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Execute => "execute",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name` (surrounding whitespace ignored).
    pub fn parse(name: &str) -> Result<Scope, UnknownScope> {
        let name = name.trim();
        Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownScope(name.to_string()))
    }

    /// Whether holding `self` grants `other`: `admin` grants everything.
    pub fn implies(self, other: Scope) -> bool {
        self == Scope::Admin || self == other
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Scope, UnknownScope> {
        Scope::parse(s)
    }
}

/// A name that is not a scope.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}; valid scopes: read, write, execute, admin")]
pub struct UnknownScope(pub String);
