//! Who is using a SQLite database: a running server holds a shared advisory
//! lock on `<database>.lock` for its whole life; `restore` and `import-v3` take
//! it exclusively, so they refuse to run under a live server. (SQLite's own
//! locks cannot tell: an idle server in WAL mode holds none.) PostgreSQL
//! databases have no lock file; stop the replicas by hand there.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::{FlockOperation, flock};

/// The file of a `sqlite:` URL; `None` for other backends and in-memory databases.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

pub fn lock_path(db_file: &Path) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// A held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

fn open(db_file: &Path) -> anyhow::Result<File> {
    let path = lock_path(db_file);
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(crate::store::private::FILE_MODE)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))
}

/// Taken by `serve`: fails only when an exclusive holder (a restore) is at work.
pub fn hold_for_server(database_url: &str) -> anyhow::Result<Option<DbLock>> {
    let Some(db_file) = sqlite_path(database_url) else {
        return Ok(None);
    };
    let file = open(&db_file)?;
    flock(&file, FlockOperation::NonBlockingLockShared).map_err(|_| {
        anyhow::anyhow!(
            "{} is being restored or imported into; start the server when that has finished",
            db_file.display()
        )
    })?;
    Ok(Some(DbLock { _file: file }))
}

/// Taken by maintenance commands; `Ok(None)` means a server is running on the database.
pub fn try_exclusive(db_file: &Path) -> anyhow::Result<Option<DbLock>> {
    let file = open(db_file)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(DbLock { _file: file })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(err) => Err(anyhow::anyhow!(
            "cannot lock {}: {err}",
            lock_path(db_file).display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://./data/x.db?mode=rwc"),
            Some(PathBuf::from("./data/x.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///abs/x.db"),
            Some(PathBuf::from("/abs/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }

    #[test]
    fn a_server_lock_excludes_maintenance_and_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("o.db");
        let url = format!("sqlite://{}", db.display());
        let server = hold_for_server(&url).unwrap();
        assert!(try_exclusive(&db).unwrap().is_none());
        drop(server);
        let maintenance = try_exclusive(&db).unwrap();
        assert!(maintenance.is_some());
        assert!(hold_for_server(&url).is_err());
    }
}
