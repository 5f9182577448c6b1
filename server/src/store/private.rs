//! The server's own files are private to its user whatever the umask: directories 0700, files
//! 0600. They hold password hashes, API-key hashes, conversations and the audit trail.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents, which get the same mode) and makes `dir` itself 0700.
pub fn dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
}

/// Makes `file` 0600, creating it empty when it does not exist (never truncating it).
pub fn file(file: &Path) -> io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(file)?;
    std::fs::set_permissions(file, Permissions::from_mode(FILE_MODE))
}

/// Makes an existing `file` 0600; a missing one is fine.
pub fn restrict_if_present(file: &Path) -> io::Result<()> {
    match std::fs::set_permissions(file, Permissions::from_mode(FILE_MODE)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The SQLite database and the files SQLite keeps beside it (it gives `-wal` and `-shm` the
/// database file's mode, so the database is made private before SQLite opens it).
pub fn sqlite_files(db_file: &Path) -> io::Result<()> {
    if let Some(parent) = db_file.parent()
        && !parent.as_os_str().is_empty()
    {
        if parent.exists() {
            std::fs::set_permissions(parent, Permissions::from_mode(DIR_MODE))?;
        } else {
            dir(parent)?;
        }
    }
    file(db_file)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = db_file.as_os_str().to_owned();
        side.push(suffix);
        restrict_if_present(Path::new(&side))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_private_even_when_they_existed() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, Permissions::from_mode(0o755)).unwrap();
        let db = data.join("orchestrator.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        let wal = data.join("orchestrator.db-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o644)).unwrap();
        sqlite_files(&db).unwrap();
        assert_eq!(mode(&data), DIR_MODE);
        assert_eq!(mode(&db), FILE_MODE);
        assert_eq!(mode(&wal), FILE_MODE);

        let fresh = tmp.path().join("a/b/new.db");
        sqlite_files(&fresh).unwrap();
        assert_eq!(mode(fresh.parent().unwrap()), DIR_MODE);
        assert_eq!(mode(&fresh), FILE_MODE);
        assert_eq!(std::fs::read(&fresh).unwrap(), b"");
    }

    #[test]
    fn an_existing_file_keeps_its_content() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("audit.log");
        std::fs::write(&f, b"kept\n").unwrap();
        file(&f).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"kept\n");
        assert_eq!(mode(&f), FILE_MODE);
    }
}
