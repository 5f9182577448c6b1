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
        let resolved = match resolve(requested) {
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

    pub(crate) fn read_roots(&self) -> Vec<PathBuf> {
        self.read.iter().map(|(_, r)| r.clone()).collect()
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

/// Most symlinks followed while resolving one path (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Resolves a path as the kernel would: component by component, following
/// symlinks (`..` after a symlink goes to the link target's parent). Once a
/// component does not exist, the rest is appended lexically, so a path that
/// does not exist yet resolves through its nearest existing ancestor, and a
/// dangling symlink resolves to where it would land.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::from("/");
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, path);
    let mut links = 0;
    let mut missing = false;
    while let Some(name) = pending.pop() {
        if name == ".." {
            out.pop();
            continue;
        }
        out.push(&name);
        if missing {
            continue;
        }
        match std::fs::symlink_metadata(&out) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!(
                        "`{}` has too many levels of symbolic links",
                        path.display()
                    ));
                }
                let target = std::fs::read_link(&out).map_err(|e| {
                    format!("cannot read the symbolic link `{}`: {e}", out.display())
                })?;
                out.pop();
                if target.is_absolute() {
                    out = PathBuf::from("/");
                }
                push_components(&mut pending, &target);
            }
            Ok(_) => {}
            Err(_) => missing = true,
        }
    }
    Ok(out)
}

/// Pushes the components of `path` so that popping yields them in order.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let start = stack.len();
    for c in path.components() {
        match c {
            Component::Normal(n) => stack.push(n.to_os_string()),
            Component::ParentDir => stack.push(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    stack[start..].reverse();
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
