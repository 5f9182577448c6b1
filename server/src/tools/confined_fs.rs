//! File access of the file tools, re-checked at the moment it happens.
//!
//! A decision made earlier can be outrun: a symlink swapped in after it would
//! send a write elsewhere. These helpers decide again, then walk to the
//! resolved parent one component at a time with `O_NOFOLLOW` (so no component
//! can have become a symlink), and write through a temporary file created
//! with `O_EXCL` and renamed over the target (a rename replaces a symlink
//! instead of following it, and readers never see a half-written file).

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use policy::{Access, Policy, normalize};

/// Why a safe read or write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SafeWriteError {
    /// The policy refuses the path (now, at the moment of access).
    #[error("{reason}")]
    Denied { rule: String, reason: String },
    #[error("{size} bytes exceed the limit of {limit} bytes (paths.maxWriteBytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("`{0}` is a symbolic link; it is not followed")]
    Symlink(PathBuf),
    #[error("`{0}` is not a regular file")]
    NotRegularFile(PathBuf),
    #[error(
        "`{path}` changed while it was being opened (a component is now a symbolic link or missing)"
    )]
    Changed { path: PathBuf },
    #[error("{op} `{path}`: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(op: &'static str, path: &Path, e: impl Into<std::io::Error>) -> SafeWriteError {
    SafeWriteError::Io {
        op,
        path: path.to_path_buf(),
        source: e.into(),
    }
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC);

/// Opens `dir` from `/` one component at a time without following symlinks.
/// Missing components are created only when they lie strictly inside one of
/// `create_under`.
fn open_dir(dir: &Path, create_under: &[PathBuf]) -> Result<OwnedFd, SafeWriteError> {
    let mut fd = rustix::fs::openat(rustix::fs::CWD, "/", DIR_FLAGS, Mode::empty())
        .map_err(|e| io("open", Path::new("/"), e))?;
    let mut at = PathBuf::from("/");
    for component in dir.components() {
        let name = match component {
            Component::RootDir => continue,
            Component::Normal(name) => name,
            _ => {
                return Err(SafeWriteError::Changed {
                    path: dir.to_path_buf(),
                });
            }
        };
        at.push(name);
        fd = match rustix::fs::openat(&fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::NOENT)
                if create_under
                    .iter()
                    .any(|root| at.starts_with(root) && at != *root) =>
            {
                match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(io("create directory", &at, e)),
                }
                rustix::fs::openat(&fd, name, DIR_FLAGS, Mode::empty())
                    .map_err(|_| SafeWriteError::Changed { path: at.clone() })?
            }
            Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT) => {
                return Err(SafeWriteError::Changed { path: at });
            }
            Err(e) => return Err(io("open", &at, e)),
        };
    }
    Ok(fd)
}

fn split(resolved: &Path) -> Result<(&Path, &OsStr), SafeWriteError> {
    match (resolved.parent(), resolved.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(SafeWriteError::NotRegularFile(resolved.to_path_buf())),
    }
}

fn refuse_symlink(requested: &Path) -> Result<(), SafeWriteError> {
    let normal = normalize(requested);
    match std::fs::symlink_metadata(&normal) {
        Ok(meta) if meta.file_type().is_symlink() => Err(SafeWriteError::Symlink(normal)),
        _ => Ok(()),
    }
}

/// Writes `contents` to `path` atomically if the policy allows writing it now.
/// Returns the resolved path written.
pub fn write_atomic(
    policy: &Policy,
    path: &Path,
    contents: &[u8],
) -> Result<PathBuf, SafeWriteError> {
    let decision = policy.check_path(path, Access::Write);
    if !decision.allowed {
        return Err(SafeWriteError::Denied {
            rule: decision.rule,
            reason: decision.reason,
        });
    }
    let limit = policy.max_write_bytes();
    let size = contents.len() as u64;
    if size > limit {
        return Err(SafeWriteError::TooLarge { size, limit });
    }
    refuse_symlink(path)?;
    let resolved = decision.resolved;
    let (parent, name) = split(&resolved)?;
    let dir = open_dir(parent, &policy.write_roots())?;

    write_in_dir(&dir, parent, name, contents)?;
    Ok(resolved)
}

/// Replaces `name` in the open directory `dir` (whose path is `parent`) by a
/// fully written and synced temporary file.
fn write_in_dir(
    dir: &OwnedFd,
    parent: &Path,
    name: &OsStr,
    contents: &[u8],
) -> Result<(), SafeWriteError> {
    let target = parent.join(name);
    let mode = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => return Err(SafeWriteError::Symlink(target)),
            FileType::RegularFile => Some(Mode::from_raw_mode(st.st_mode & 0o7777)),
            _ => return Err(SafeWriteError::NotRegularFile(target)),
        },
        Err(Errno::NOENT) => None,
        Err(e) => return Err(io("inspect", &target, e)),
    };

    let temp = format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        rand::random::<u64>()
    );
    let temp_path = parent.join(&temp);
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(
        dir,
        temp.as_str(),
        flags,
        mode.unwrap_or(Mode::from_raw_mode(0o644)),
    )
    .map_err(|e| io("create", &temp_path, e))?;
    let written = (|| -> Result<(), SafeWriteError> {
        if let Some(mode) = mode {
            rustix::fs::fchmod(&fd, mode).map_err(|e| io("set mode of", &temp_path, e))?;
        }
        let mut file = std::fs::File::from(fd);
        file.write_all(contents)
            .map_err(|e| io("write", &temp_path, e))?;
        file.sync_all().map_err(|e| io("sync", &temp_path, e))?;
        // Last look before the rename; the rename itself never follows a link.
        if let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
            && FileType::from_raw_mode(st.st_mode) == FileType::Symlink
        {
            return Err(SafeWriteError::Symlink(target.clone()));
        }
        rustix::fs::renameat(dir, temp.as_str(), dir, name).map_err(|e| io("rename", &target, e))
    })();
    if let Err(e) = written {
        let _ = rustix::fs::unlinkat(dir, temp.as_str(), AtFlags::empty());
        return Err(e);
    }
    rustix::fs::fsync(dir).map_err(|e| io("sync", parent, e))
}

/// Opens `path` for reading if the policy allows reading it now, never
/// following a symlink at any component of the resolved path. Returns the
/// file and the resolved path.
pub fn open_read(policy: &Policy, path: &Path) -> Result<(std::fs::File, PathBuf), SafeWriteError> {
    let decision = policy.check_path(path, Access::Read);
    if !decision.allowed {
        return Err(SafeWriteError::Denied {
            rule: decision.rule,
            reason: decision.reason,
        });
    }
    let resolved = decision.resolved;
    let (parent, name) = split(&resolved)?;
    let dir = open_dir(parent, &[])?;
    // NONBLOCK: opening a FIFO must not hang; it is refused below anyway.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Err(SafeWriteError::Symlink(resolved)),
        Err(e) => return Err(io("open", &resolved, e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| io("inspect", &resolved, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(SafeWriteError::NotRegularFile(resolved));
    }
    Ok((std::fs::File::from(fd), resolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        (dir, root)
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_is_not_walked_through() {
        let (_dir, root) = temp_root();
        std::fs::create_dir(root.join("outside")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("outside"), root.join("sub")).expect("symlink");
        let r = open_dir(&root.join("sub"), &[]);
        assert!(matches!(r, Err(SafeWriteError::Changed { .. })), "{r:?}");
    }

    #[test]
    fn a_symlink_appearing_after_the_directory_is_opened_is_not_followed() {
        let (_dir, root) = temp_root();
        std::fs::create_dir(root.join("w")).expect("mkdir");
        std::fs::write(root.join("victim"), "keep").expect("write");
        let dir = open_dir(&root.join("w"), &[]).expect("open");
        std::os::unix::fs::symlink(root.join("victim"), root.join("w/t")).expect("symlink");
        let r = write_in_dir(&dir, &root.join("w"), OsStr::new("t"), b"pwned");
        assert!(matches!(r, Err(SafeWriteError::Symlink(_))), "{r:?}");
        assert_eq!(
            std::fs::read_to_string(root.join("victim")).ok().as_deref(),
            Some("keep")
        );
    }

    #[test]
    fn parents_are_created_only_strictly_inside_a_root() {
        let (_dir, root) = temp_root();
        let write_root = root.join("w");
        assert!(open_dir(&write_root.join("a/b"), std::slice::from_ref(&write_root)).is_err());
        std::fs::create_dir(&write_root).expect("mkdir");
        assert!(open_dir(&write_root.join("a/b"), std::slice::from_ref(&write_root)).is_ok());
        assert!(write_root.join("a/b").is_dir());
    }
}

#[cfg(test)]
#[path = "confined_fs_tests.rs"]
mod policy_tests;
