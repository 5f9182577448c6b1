//! Scopes and the one table that maps every route to what it requires.
//!
//! `admin` implies every other scope. The table is data so that it can be
//! documented, served, and tested route by route; a route missing from it is
//! treated as admin-only rather than open.

use axum::http::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use policy::contract::Scope;

fn bit(scope: Scope) -> u8 {
    match scope {
        Scope::Read => 1,
        Scope::Write => 2,
        Scope::Execute => 4,
        Scope::Admin => 8,
    }
}

/// A set of scopes; serialized as a list of names.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);
    pub const ADMIN: Scopes = Scopes(15);

    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Scopes {
        Scopes(scopes.into_iter().fold(0, |acc, s| acc | bit(s)))
    }

    /// Parses names, failing on the first unknown one.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Scopes, String> {
        let mut out = Scopes::NONE;
        for name in names {
            let scope = Scope::parse(name.as_ref()).map_err(|e| e.to_string())?;
            out.0 |= bit(scope);
        }
        Ok(out)
    }

    /// The stored form: names separated by spaces.
    pub fn to_db(self) -> String {
        self.names().join(" ")
    }

    pub fn from_db(text: &str) -> Scopes {
        Scopes::of(text.split_whitespace().filter_map(|s| Scope::parse(s).ok()))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |s| self.0 & bit(*s) != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether `scope` is granted, `admin` implying all.
    pub fn has(self, scope: Scope) -> bool {
        self.0 & bit(Scope::Admin) != 0 || self.0 & bit(scope) != 0
    }

    /// Every scope granted, with `admin` expanded.
    fn expanded(self) -> u8 {
        if self.0 & bit(Scope::Admin) != 0 {
            15
        } else {
            self.0
        }
    }

    /// Whether everything `self` grants is also granted by `ceiling`.
    pub fn within(self, ceiling: Scopes) -> bool {
        self.expanded() & !ceiling.expanded() == 0
    }

    /// What both grant: a token's scopes cut down to its user's current ones.
    pub fn intersect(self, other: Scopes) -> Scopes {
        Scopes(self.expanded() & other.expanded())
    }
}

impl std::fmt::Debug for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        Scopes::parse_names(&names).map_err(serde::de::Error::custom)
    }
}

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "scope")]
pub enum RouteAccess {
    /// No credentials needed.
    Public,
    /// Any valid credentials.
    Authenticated,
    /// Credentials carrying this scope.
    Scope(Scope),
}

/// One row of the route table.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct RouteRule {
    pub method: &'static str,
    /// The route template, as the router matches it.
    pub path: &'static str,
    pub access: RouteAccess,
}

const fn rule(method: &'static str, path: &'static str, access: RouteAccess) -> RouteRule {
    RouteRule {
        method,
        path,
        access,
    }
}

use RouteAccess::{Authenticated, Public};
const READ: RouteAccess = RouteAccess::Scope(Scope::Read);
const WRITE: RouteAccess = RouteAccess::Scope(Scope::Write);
const ADMIN: RouteAccess = RouteAccess::Scope(Scope::Admin);

/// Every route of the API and what it requires. The README's scope table is this table.
pub const ROUTES: &[RouteRule] = &[
    rule("GET", "/health", Public),
    rule("GET", "/ready", Public),
    rule("GET", "/metrics", Public),
    rule("GET", "/api/openapi.json", Public),
    rule("POST", "/api/auth/login", Public),
    rule("POST", "/api/auth/refresh", Public),
    rule("POST", "/api/auth/logout", Public),
    rule("GET", "/api/auth/me", Authenticated),
    rule("POST", "/api/auth/password", READ),
    rule("GET", "/api/auth/users", ADMIN),
    rule("POST", "/api/auth/users", ADMIN),
    rule("PATCH", "/api/auth/users/{username}", ADMIN),
    rule("PUT", "/api/auth/users/{username}", ADMIN),
    rule("DELETE", "/api/auth/users/{username}", ADMIN),
    rule("GET", "/api/auth/apikeys", Authenticated),
    rule("POST", "/api/auth/apikeys", Authenticated),
    rule("DELETE", "/api/auth/apikeys/{id}", Authenticated),
    rule("GET", "/api/security/config", ADMIN),
    rule("GET", "/api/security/rate-limit-stats", ADMIN),
    rule("GET", "/api/audit", ADMIN),
    rule("POST", "/api/policy/check", ADMIN),
    // The web console: its files, and its cookie-held session (which checks its own CSRF header).
    rule("GET", "/", Public),
    rule("GET", "/assets/{*path}", Public),
    rule("POST", "/api/console/session", Public),
    rule("DELETE", "/api/console/session", Public),
    rule("POST", "/api/console/session/refresh", Public),
    rule("GET", "/api/stats", READ),
    // The agent: tool calls made on these routes check each tool's own scope too.
    rule("GET", "/tools", READ),
    rule("POST", "/api/tools/{name}", READ),
    rule("POST", "/api/chat", READ),
    rule("GET", "/ws/chat", READ),
    rule("GET", "/api/models", READ),
    rule("GET", "/api/conversations", READ),
    rule("GET", "/api/conversations/{id}", READ),
    rule("PUT", "/api/conversations/{id}", WRITE),
    rule("DELETE", "/api/conversations/{id}", WRITE),
    // The OpenAI-compatible door: tool calls the agent makes check each tool's scope too.
    rule("POST", "/v1/chat/completions", READ),
    rule("GET", "/v1/models", READ),
    // The MCP door: each tools/call also needs the tool's own scope.
    rule("POST", "/mcp", READ),
    rule("GET", "/mcp", READ),
    rule("DELETE", "/mcp", READ),
    rule("POST", "/api/upload", WRITE),
];

/// What `method path_template` requires; routes not in the table are admin-only.
pub fn access_for(method: &Method, path_template: &str) -> RouteAccess {
    // A preflight is answered by CORS before this; any other OPTIONS/HEAD follows its GET.
    let method = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path_template)
        .map(|r| r.access)
        .unwrap_or(ADMIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_implies_everything_and_ceilings_hold() {
        let admin = Scopes::ADMIN;
        let read = Scopes::of([Scope::Read]);
        let rw = Scopes::of([Scope::Read, Scope::Write]);
        assert!(admin.has(Scope::Execute));
        assert!(!read.has(Scope::Write));
        assert!(read.within(rw));
        assert!(!rw.within(read));
        assert!(rw.within(Scopes::of([Scope::Admin])));
        assert!(!Scopes::of([Scope::Admin]).within(rw));
        assert_eq!(admin.intersect(read), read);
        assert_eq!(
            rw.intersect(Scopes::of([Scope::Write, Scope::Execute]))
                .names(),
            vec!["write"]
        );
        assert!(admin.intersect(admin).has(Scope::Admin));
        assert_eq!(Scopes::from_db(&rw.to_db()), rw);
        assert!(Scopes::parse_names(&["root"]).is_err());
    }

    #[test]
    fn unknown_routes_need_admin() {
        assert_eq!(access_for(&Method::GET, "/health"), Public);
        assert_eq!(access_for(&Method::HEAD, "/health"), Public);
        assert_eq!(access_for(&Method::GET, "/nope"), ADMIN);
        assert_eq!(
            access_for(&Method::DELETE, "/api/conversations/{id}"),
            WRITE
        );
    }

    #[test]
    fn table_has_no_duplicates() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }
}
