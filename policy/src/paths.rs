//! Path decisions: normalise, resolve symlinks, then match roots
//! component-wise and deny globs on both the requested and the resolved path.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

/// What a caller wants to do with a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Access::Read => "reading",
            Access::Write => "writing",
        }
    }
}

/// A path decision: allowed or not, where the path really lands, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PathDecision {
    pub allowed: bool,
    pub access: Access,
    /// The path as given.
    pub requested: PathBuf,
    /// The path normalised and with symlinks resolved (for a path that does
    /// not exist yet: its nearest existing ancestor resolved, the rest re-appended).
    pub resolved: PathBuf,
    /// The rule that decided, e.g. `paths.deny[0] (**/.env)` or `paths.read[1] (/data)`.
    pub rule: String,
    pub reason: String,
}

/// Compiled `paths` section.
#[derive(Debug)]
pub(crate) struct PathRules {
    /// `(index in paths.read, resolved root)`.
    read: Vec<(usize, PathBuf)>,
    /// `(index in paths.write, resolved root)`.
    write: Vec<(usize, PathBuf)>,
    deny: GlobSet,
    deny_src: Vec<String>,
}

/// Builds a path glob: `*` stays within one component, `**` crosses them.
pub(crate) fn path_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

impl PathRules {
    /// Compiles validated rules; roots are resolved so that a root reached
    /// through a symlink (`/tmp` on some systems) still matches resolved paths.
    pub(crate) fn compile(
        read: &[String],
        write: &[String],
        deny: &[String],
    ) -> Result<PathRules, globset::Error> {
        // Each glob also matches everything below what it matches (`P/**`),
        // so one match per path covers its ancestors. Glob `k` of the set
        // is deny rule `k / 2`.
        let mut builder = GlobSetBuilder::new();
        for pattern in deny {
            builder.add(path_glob(pattern)?);
            let below = if pattern.ends_with("/**") {
                pattern.clone()
            } else {
                format!("{}/**", pattern.trim_end_matches('/'))
            };
            builder.add(path_glob(&below)?);
        }
        let roots = |list: &[String]| -> Vec<(usize, PathBuf)> {
            list.iter()
                .enumerate()
                .map(|(i, r)| {
                    let normal = normalize(Path::new(r));
                    let resolved = resolve(&normal).unwrap_or(normal);
                    (i, resolved)
                })
                .collect()
        };
        Ok(PathRules {
            read: roots(read),
            write: roots(write),
            deny: builder.build()?,
            deny_src: deny.to_vec(),
        })
    }

    /// Judges an absolute path for reading or writing.
    pub(crate) fn check(&self, requested: &Path, access: Access) -> PathDecision {
        let deny = |resolved: PathBuf, rule: String, reason: String| PathDecision {
            allowed: false,
            access,
            requested: requested.to_path_buf(),
            resolved,
            rule,
            reason,
        };
        let raw = requested.as_os_str().as_bytes();
        if raw.is_empty() {
            return deny(PathBuf::new(), "paths".into(), "empty path".into());
        }
        if raw.contains(&0) {
            return deny(
                PathBuf::new(),
                "paths".into(),
                "path contains a NUL byte".into(),
            );
        }
        if !requested.is_absolute() {
            return deny(
                PathBuf::new(),
                "paths".into(),
                format!("`{}` is not an absolute path", requested.display()),
            );
        }
        let normal = normalize(requested);
        let resolved = match resolve_physical(requested, &normal) {
            Ok(r) => r,
            Err(reason) => return deny(normal, "paths".into(), reason),
        };
        if let Some(i) = self
            .denied_by(&normal)
            .or_else(|| self.denied_by(&resolved))
        {
            return deny(
                resolved,
                format!("paths.deny[{i}] ({})", self.deny_src[i]),
                format!(
                    "{} `{}` is refused: it matches the deny glob `{}`",
                    access.verb(),
                    requested.display(),
                    self.deny_src[i]
                ),
            );
        }
        let roots: Box<dyn Iterator<Item = (&'static str, &(usize, PathBuf))>> = match access {
            Access::Read => Box::new(
                self.read
                    .iter()
                    .map(|r| ("read", r))
                    .chain(self.write.iter().map(|r| ("write", r))),
            ),
            Access::Write => Box::new(self.write.iter().map(|r| ("write", r))),
        };
        for (list, (i, root)) in roots {
            if resolved.starts_with(root) {
                let rule = format!("paths.{list}[{i}] ({})", root.display());
                return PathDecision {
                    allowed: true,
                    access,
                    requested: requested.to_path_buf(),
                    reason: format!(
                        "{} `{}` is allowed by {rule}",
                        access.verb(),
                        resolved.display()
                    ),
                    resolved,
                    rule,
                };
            }
        }
        let list = match access {
            Access::Read => "read",
            Access::Write => "write",
        };
        let lands = if resolved == normal {
            String::new()
        } else {
            format!(" (it resolves to `{}`)", resolved.display())
        };
        deny(
            resolved,
            format!("paths.{list}"),
            format!(
                "{} `{}` is refused: it is not under a {list} root{lands}",
                access.verb(),
                requested.display()
            ),
        )
    }

    pub(crate) fn write_roots(&self) -> Vec<PathBuf> {
        self.write.iter().map(|(_, r)| r.clone()).collect()
    }

    /// Index of the first deny glob matching the path or one of its ancestors
    /// (a denied directory denies everything inside it).
    fn denied_by(&self, path: &Path) -> Option<usize> {
        if !self.deny.is_match(path) {
            return None;
        }
        self.deny.matches(path).into_iter().min().map(|k| k / 2)
    }

    /// Whether a deny glob alone refuses the path (used for bare words that
    /// name no existing file).
    pub(crate) fn deny_glob_for(&self, path: &Path) -> Option<String> {
        let normal = normalize(path);
        self.denied_by(&normal)
            .map(|i| format!("paths.deny[{i}] ({})", self.deny_src[i]))
    }
}

/// Lexical normalisation: drops `.`, applies `..`, collapses separators.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    out
}

/// Resolves the path as the kernel would (`..` after a symlink goes to the
/// symlink target's parent); falls back to the lexical form when a missing
/// component is followed by `..`, which the kernel would refuse anyway.
fn resolve_physical(requested: &Path, normal: &Path) -> Result<PathBuf, String> {
    let ends_with_parent = matches!(
        requested.components().next_back(),
        Some(Component::ParentDir)
    );
    if ends_with_parent {
        return resolve(normal);
    }
    resolve(requested).map(|r| normalize(&r))
}

/// Resolves symlinks of the nearest existing ancestor and re-appends the rest.
/// A symlink that cannot be resolved (dangling or a loop) is an error: where
/// it would land cannot be judged.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    let mut rest: Vec<OsString> = Vec::new();
    let mut cur = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(cur) {
            let mut out = real;
            for name in rest.iter().rev() {
                out.push(name);
            }
            return Ok(out);
        }
        if std::fs::symlink_metadata(cur).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "`{}` is a symbolic link that cannot be resolved (dangling or a loop)",
                cur.display()
            ));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return Ok(normalize(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        for (input, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/etc/", "/etc"),
            ("/./etc/.", "/etc"),
            ("/data/../etc/shadow", "/etc/shadow"),
            ("/../..", "/"),
            ("/a//b/../c", "/a/c"),
        ] {
            assert_eq!(normalize(Path::new(input)), PathBuf::from(want), "{input}");
        }
    }
}
