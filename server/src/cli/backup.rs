//! `ai-orchestrator backup` and `restore`.
//!
//! SQLite: the backup is `VACUUM INTO`, a consistent snapshot taken through an
//! ordinary read transaction, so the server keeps running. A restore needs the
//! server stopped (see [`crate::cli::server_lock`]), refuses a backup from a newer
//! schema, keeps the current database as `<db>.pre-restore`, and swaps the file
//! in with a rename. PostgreSQL: `pg_dump` / `pg_restore` are the tools; backup
//! runs `pg_dump` when it is installed, restore prints the command.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

use crate::cli::exit::{Failure, refuse};
use crate::cli::import_v3::target_url;
use crate::cli::server_lock;
use crate::store::db::{Backend, latest_schema_version};

#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    /// File to write; must not exist yet
    #[arg(long)]
    pub output: PathBuf,
    /// Database to back up (sqlite://... or postgres://...) [env: AI_DATABASE_URL]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Data directory of the SQLite database [env: AI_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RestoreArgs {
    /// A file written by `ai-orchestrator backup`
    #[arg(long)]
    pub input: PathBuf,
    /// Database to replace [env: AI_DATABASE_URL]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Data directory of the SQLite database [env: AI_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

async fn open_sqlite(path: &Path, read_only: bool) -> Result<SqliteConnection, sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .busy_timeout(std::time::Duration::from_secs(10));
    SqliteConnection::connect_with(&options).await
}

/// The newest applied migration of a SQLite file; `None` when it has no migration table.
pub async fn sqlite_schema_version(
    conn: &mut SqliteConnection,
) -> Result<Option<i64>, sqlx::Error> {
    let has_table = sqlx::query(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    if !has_table {
        return Ok(None);
    }
    let row = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *conn)
        .await?;
    row.try_get("v")
}

async fn integrity_ok(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<String, _>(0)? == "ok")
}

/// Copies a live SQLite database into `output` (written aside, then renamed into place).
pub async fn backup_sqlite(db_file: &Path, output: &Path) -> Result<i64, Failure> {
    if !db_file.is_file() {
        return Err(refuse(format!(
            "there is no database at {}",
            db_file.display()
        )));
    }
    if output.exists() {
        return Err(refuse(format!(
            "{} already exists; choose a new file name",
            output.display()
        )));
    }
    let partial = with_suffix(output, ".partial");
    let _ = std::fs::remove_file(&partial);
    // VACUUM INTO writes into an empty file, which keeps the private mode made here.
    crate::store::private::file(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut source = open_sqlite(db_file, true)
        .await
        .with_context(|| format!("cannot open {}", db_file.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut source)
        .await
        .with_context(|| format!("cannot write {}", partial.display()))?;
    source.close().await.ok();
    let mut copy = open_sqlite(&partial, true).await?;
    let version = sqlite_schema_version(&mut copy).await?.unwrap_or(0);
    let ok = integrity_ok(&mut copy).await?;
    copy.close().await.ok();
    if !ok {
        let _ = std::fs::remove_file(&partial);
        return Err(anyhow::anyhow!(
            "the written copy failed SQLite's integrity check; nothing was kept"
        )
        .into());
    }
    std::fs::rename(&partial, output)
        .with_context(|| format!("cannot move the backup to {}", output.display()))?;
    Ok(version)
}

/// The connection facts `pg_dump` / `pg_restore` need; the password goes in `PGPASSWORD`, not argv.
struct PgTarget {
    args: Vec<String>,
    password: Option<String>,
}

fn pg_target(url: &str) -> Result<PgTarget, Failure> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| refuse(format!("invalid PostgreSQL URL: {e}")))?;
    let mut args = vec![
        format!("--host={}", options.get_host()),
        format!("--port={}", options.get_port()),
        format!("--username={}", options.get_username()),
    ];
    if let Some(db) = options.get_database() {
        args.push(format!("--dbname={db}"));
    }
    let password = url::password(url);
    Ok(PgTarget { args, password })
}

/// Extracting the password of a `postgres://user:password@host/db` URL.
mod url {
    pub fn password(url: &str) -> Option<String> {
        let rest = url.split_once("://")?.1;
        let userinfo = rest.split('/').next()?.rsplit_once('@')?.0;
        let (_, password) = userinfo.split_once(':')?;
        Some(percent_decode(password))
    }

    fn percent_decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && let Some(Ok(b)) = text.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn shell_line(program: &str, args: &[String]) -> String {
    let mut line = String::from(program);
    for arg in args {
        line.push(' ');
        if arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:@".contains(c))
        {
            line.push_str(arg);
        } else {
            line.push('\'');
            line.push_str(&arg.replace('\'', r"'\''"));
            line.push('\'');
        }
    }
    line
}

async fn backup_postgres(url: &str, output: &Path) -> Result<(), Failure> {
    if output.exists() {
        return Err(refuse(format!(
            "{} already exists; choose a new file name",
            output.display()
        )));
    }
    let target = pg_target(url)?;
    let mut args = vec![
        "--format=custom".to_string(),
        format!("--file={}", output.display()),
    ];
    args.extend(target.args);
    let line = shell_line("pg_dump", &args);
    let Some(pg_dump) = on_path("pg_dump") else {
        return Err(refuse(format!(
            "PostgreSQL databases are backed up with pg_dump, which is not on PATH. Install the PostgreSQL \
             client (Debian: apt-get install postgresql-client, same major version as the server or newer) and run \
             (password in PGPASSWORD or ~/.pgpass):\n  {line}"
        )));
    };
    eprintln!("running: {line}");
    let mut cmd = tokio::process::Command::new(pg_dump);
    cmd.args(&args);
    if let Some(password) = target.password {
        cmd.env("PGPASSWORD", password);
    }
    let status = cmd.status().await.context("cannot run pg_dump")?;
    if !status.success() {
        let _ = std::fs::remove_file(output);
        return Err(anyhow::anyhow!("pg_dump failed ({status}); nothing was kept").into());
    }
    crate::store::private::restrict_if_present(output)
        .with_context(|| format!("cannot restrict {}", output.display()))?;
    crate::cli::output::line(format_args!(
        "backup written to {} (pg_dump custom format; restore with pg_restore)",
        output.display()
    ))
    .context("cannot print the result")?;
    Ok(())
}

pub async fn backup(args: BackupArgs) -> Result<(), Failure> {
    let url = target_url(args.database_url, args.data_dir)?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return backup_postgres(&url, &args.output).await;
    }
    let db_file = server_lock::sqlite_path(&url)
        .ok_or_else(|| refuse("only file databases can be backed up"))?;
    let version = backup_sqlite(&db_file, &args.output).await?;
    crate::cli::output::line(format_args!(
        "backup of {} written to {} (schema version {version})",
        db_file.display(),
        args.output.display()
    ))
    .context("cannot print the result")?;
    Ok(())
}

/// Checks a backup file: SQLite, intact, from this project, not from a newer schema.
pub async fn check_backup(input: &Path) -> Result<i64, Failure> {
    if !input.is_file() {
        return Err(refuse(format!(
            "{} does not exist or is not a file",
            input.display()
        )));
    }
    let mut conn = open_sqlite(input, true).await.map_err(|e| {
        refuse(format!(
            "{} cannot be opened as SQLite: {e}",
            input.display()
        ))
    })?;
    let version = sqlite_schema_version(&mut conn)
        .await
        .map_err(|_| refuse(format!("{} is not a SQLite database", input.display())))?;
    let Some(version) = version else {
        return Err(refuse(format!(
            "{} is not an ai-orchestrator backup (it has no schema version table)",
            input.display()
        )));
    };
    let latest = latest_schema_version(Backend::Sqlite);
    if version > latest {
        return Err(refuse(format!(
            "{} has schema version {version}, newer than this build's {latest}: restore it with the \
             ai-orchestrator version that wrote it (or newer)",
            input.display()
        )));
    }
    if !integrity_ok(&mut conn).await? {
        return Err(refuse(format!(
            "{} fails SQLite's integrity check",
            input.display()
        )));
    }
    conn.close().await.ok();
    Ok(version)
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(handle) = std::fs::File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = handle.sync_all();
    }
}

/// Replaces `db_file` with `input`. The caller holds the exclusive lock.
pub async fn restore_sqlite(
    input: &Path,
    db_file: &Path,
) -> Result<(i64, Option<PathBuf>), Failure> {
    let version = check_backup(input).await?;
    let mut previous = None;
    if db_file.exists() {
        // Fold the WAL into the file, then keep a consistent copy of it.
        let mut conn = open_sqlite(db_file, false)
            .await
            .with_context(|| format!("cannot open {}", db_file.display()))?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        let keep = with_suffix(db_file, ".pre-restore");
        let keep_partial = with_suffix(&keep, ".partial");
        let _ = std::fs::remove_file(&keep_partial);
        crate::store::private::file(&keep_partial)
            .with_context(|| format!("cannot create {}", keep_partial.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(keep_partial.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot keep the current database as {}", keep.display()))?;
        conn.close().await.ok();
        std::fs::rename(&keep_partial, &keep)
            .with_context(|| format!("cannot write {}", keep.display()))?;
        previous = Some(keep);
    }
    let incoming = with_suffix(db_file, ".restore-partial");
    std::fs::copy(input, &incoming)
        .with_context(|| format!("cannot copy {} next to the database", input.display()))?;
    // `copy` takes the backup file's mode; the database is private whatever that was.
    crate::store::private::file(&incoming)
        .with_context(|| format!("cannot restrict {}", incoming.display()))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", incoming.display()))?;
    // The old WAL and shared-memory files belong to the old database (the WAL is
    // empty after the checkpoint); a new database must not meet them.
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(with_suffix(db_file, suffix)) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(anyhow::anyhow!("cannot remove the old {suffix} file: {err}").into());
            }
        }
    }
    std::fs::rename(&incoming, db_file)
        .with_context(|| format!("cannot replace {}", db_file.display()))?;
    sync_dir(db_file);
    Ok((version, previous))
}

pub async fn restore(args: RestoreArgs) -> Result<(), Failure> {
    let url = target_url(args.database_url, args.data_dir)?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let target = pg_target(&url)?;
        let mut pg_args = vec![
            "--clean".to_string(),
            "--if-exists".into(),
            "--no-owner".into(),
        ];
        pg_args.extend(target.args);
        pg_args.push(args.input.display().to_string());
        return Err(refuse(format!(
            "PostgreSQL databases are restored with pg_restore, not by this command. Stop every replica, then \
             run (password in PGPASSWORD or ~/.pgpass):\n  {}",
            shell_line("pg_restore", &pg_args)
        )));
    }
    let db_file = server_lock::sqlite_path(&url)
        .ok_or_else(|| refuse("only file databases can be restored"))?;
    let Some(_lock) = server_lock::try_exclusive(&db_file)? else {
        return Err(refuse(format!(
            "a server is running on {}; stop it before restoring",
            db_file.display()
        )));
    };
    let (version, previous) = restore_sqlite(&args.input, &db_file).await?;
    crate::cli::output::line(format_args!(
        "restored {} into {} (schema version {version}{})",
        args.input.display(),
        db_file.display(),
        if version < latest_schema_version(Backend::Sqlite) {
            "; the server migrates it to the current version at start"
        } else {
            ""
        }
    ))
    .context("cannot print the result")?;
    if let Some(previous) = previous {
        crate::cli::output::line(format_args!(
            "the previous database is kept as {}",
            previous.display()
        ))
        .context("cannot print the result")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_passwords_stay_out_of_argv() {
        let target = pg_target("postgres://app:p%40ss@db.example:6543/orch").unwrap();
        assert_eq!(target.password.as_deref(), Some("p@ss"));
        assert!(
            target
                .args
                .iter()
                .all(|a| !a.contains("p@ss") && !a.contains("p%40ss"))
        );
        assert!(target.args.contains(&"--port=6543".to_string()));
        assert!(target.args.contains(&"--dbname=orch".to_string()));
        assert_eq!(url::password("postgres://app@h/db"), None);
    }

    #[test]
    fn shell_lines_quote_what_needs_it() {
        let line = shell_line("pg_dump", &["--file=/tmp/a b".into(), "--port=1".into()]);
        assert_eq!(line, "pg_dump '--file=/tmp/a b' --port=1");
    }
}
