//! Recognising a database that is not ours before anything writes to it.
//!
//! Pointing `AI_DB_PATH` at the v3.0 `orchestrator.db` is the most likely
//! upgrade mistake. Migrating it would add tables beside the v3 ones and switch
//! it to WAL mode; instead the file is inspected read-only (immutable: no
//! journal, no WAL, no lock file) and refused with the command that imports it.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

/// The table our migrations keep their history in.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// What a database holds, judged from its tables and their columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No tables at all: a new database.
    Empty,
    /// Our schema (it has the migrations table).
    Ours,
    /// The Python v3.0 server's `orchestrator.db` or `auth.db`.
    V3 { file: &'static str },
    /// Tables of something else.
    Foreign { tables: Vec<String> },
}

/// Classifies a database from its table names and columns (pure).
pub fn classify(tables: &BTreeMap<String, Vec<String>>) -> Kind {
    let user_tables: Vec<&String> = tables
        .keys()
        .filter(|t| !t.starts_with("sqlite_"))
        .collect();
    if user_tables.is_empty() {
        return Kind::Empty;
    }
    if tables.contains_key(MIGRATIONS_TABLE) {
        return Kind::Ours;
    }
    let has = |table: &str, column: &str| {
        tables
            .get(table)
            .is_some_and(|cols| cols.iter().any(|c| c.eq_ignore_ascii_case(column)))
    };
    if has("users", "hashed_password") {
        return Kind::V3 { file: "auth.db" };
    }
    if tables.contains_key("conversations") && !has("conversations", "owner") {
        return Kind::V3 {
            file: "orchestrator.db",
        };
    }
    Kind::Foreign {
        tables: user_tables.into_iter().cloned().collect(),
    }
}

/// The refusal for a database that must not be migrated; `None` when it may be.
pub fn refusal(kind: &Kind, shown: &str) -> Option<String> {
    match kind {
        Kind::Empty | Kind::Ours => None,
        Kind::V3 { file } => {
            let (flag, other) = if *file == "auth.db" {
                ("--auth-db", "--orchestrator-db <v3 orchestrator.db>")
            } else {
                ("--orchestrator-db", "--auth-db <v3 auth.db>")
            };
            Some(format!(
                "{shown} is the Python server's {file}: this is a v3.0 database: run ai-orchestrator import-v3 \
                 {flag} {shown} {other}, and point AI_DB_PATH (or AI_DATABASE_URL / --database-url) at a new file \
                 for this server. The file was not changed."
            ))
        }
        Kind::Foreign { tables } => Some(format!(
            "{shown} is not an ai-orchestrator database (it holds the tables {}); refusing to migrate it. \
             Point AI_DB_PATH (or AI_DATABASE_URL / --database-url) at a new file or an empty database. \
             The database was not changed.",
            tables.join(", ")
        )),
    }
}

/// Inspects an existing SQLite file without writing anything, and refuses a
/// v3.0 or foreign one. A missing or empty file is fine (it will be created).
pub async fn check_sqlite_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() == 0 => return Ok(()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => anyhow::bail!("cannot read {}: {err}", path.display()),
    }
    // Immutable reads create nothing, but ignore a WAL and cannot see a writer: with a WAL
    // beside the file (a server may be running) a plain read-only open goes first.
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let order = if Path::new(&wal).exists() {
        [false, true]
    } else {
        [true, false]
    };
    let mut last_error = None;
    let mut tables = None;
    for immutable in order {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .immutable(immutable);
        let result = match SqliteConnection::connect_with(&options).await {
            Ok(mut conn) => {
                let read = sqlite_tables(&mut conn).await;
                let _ = conn.close().await;
                read
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(found) => {
                tables = Some(found);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(tables) = tables else {
        let reason = last_error.map(|e| e.to_string()).unwrap_or_default();
        anyhow::bail!(
            "{} cannot be read as a SQLite database ({reason}); the file was not changed",
            path.display()
        );
    };
    match refusal(&classify(&tables), &path.display().to_string()) {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

async fn sqlite_tables(
    conn: &mut SqliteConnection,
) -> Result<BTreeMap<String, Vec<String>>, sqlx::Error> {
    let names: Vec<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?;
    let mut tables = BTreeMap::new();
    for name in names {
        let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info($1)")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("name"))
            .collect::<Result<_, _>>()?;
        tables.insert(name, columns);
    }
    Ok(tables)
}

/// The same check on PostgreSQL, for the tables of the connection's current schema.
pub async fn check_postgres(pool: &sqlx::AnyPool) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT table_name::TEXT AS t, column_name::TEXT AS c FROM information_schema.columns \
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        tables
            .entry(row.try_get("t")?)
            .or_default()
            .push(row.try_get("c")?);
    }
    match refusal(&classify(&tables), "the PostgreSQL database") {
        Some(message) => Err(anyhow::anyhow!(message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(spec: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        spec.iter()
            .map(|(t, c)| (t.to_string(), c.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn v3_ours_and_foreign_are_told_apart() {
        assert_eq!(classify(&tables(&[])), Kind::Empty);
        assert_eq!(
            classify(&tables(&[("sqlite_sequence", &["name", "seq"])])),
            Kind::Empty
        );
        let ours = tables(&[
            ("_sqlx_migrations", &["version"]),
            ("conversations", &["id", "owner"]),
        ]);
        assert_eq!(classify(&ours), Kind::Ours);
        let v3 = tables(&[
            ("conversations", &["id", "title"]),
            ("messages", &["id"]),
            ("memory", &["key"]),
        ]);
        assert_eq!(
            classify(&v3),
            Kind::V3 {
                file: "orchestrator.db"
            }
        );
        let auth = tables(&[("users", &["id", "username", "hashed_password"])]);
        assert_eq!(classify(&auth), Kind::V3 { file: "auth.db" });
        let other = tables(&[("wp_posts", &["ID"])]);
        assert_eq!(
            classify(&other),
            Kind::Foreign {
                tables: vec!["wp_posts".into()]
            }
        );
        let message = refusal(&classify(&v3), "/data/orchestrator.db").unwrap();
        assert!(
            message.contains("this is a v3.0 database: run ai-orchestrator import-v3"),
            "{message}"
        );
        assert!(
            refusal(&classify(&other), "x.db")
                .unwrap()
                .contains("wp_posts")
        );
    }
}
