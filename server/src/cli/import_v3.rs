//! `ai-orchestrator import-v3`: brings users, API keys, conversations and
//! messages over from the two SQLite files of the Python v3.0 server.
//!
//! Reading (the v3 files, opened read-only) is apart from converting (pure:
//! timestamps, scopes, hashes) and from writing (one transaction on the target).
//! Rows already present in the target are left alone, so a second run imports
//! nothing.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

use crate::auth::legacy_hash;
use crate::cli::exit::{Failure, refuse};
use crate::config::{ServeArgs, Settings};
use crate::http::scopes::{Scope, Scopes};
use crate::store::db::{ApiKeyRow, Backend, Db, now_ms};

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// The v3 `orchestrator.db` (conversations, messages)
    #[arg(long)]
    pub orchestrator_db: PathBuf,
    /// The v3 `auth.db` (users, API keys)
    #[arg(long)]
    pub auth_db: PathBuf,
    /// User who owns the imported conversations
    #[arg(long, default_value = "admin")]
    pub owner: String,
    /// Target database (sqlite://... or postgres://...) [env: AI_DATABASE_URL]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Data directory of the target SQLite database [env: AI_DATA_DIR] [default: ./data]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where the imported uploads are copied [env: AI_UPLOAD_DIR] [default: <data-dir>/uploads]
    #[arg(long)]
    pub upload_dir: Option<PathBuf>,
    /// Where the v3 upload files are now, when not at the paths v3 recorded
    /// (for example a copy of the container's /data/uploads)
    #[arg(long)]
    pub v3_upload_dir: Option<PathBuf>,
    /// The `.env` file whose AI_* settings apply [env: AI_ENV_FILE] [default: ./.env when present]
    #[arg(long)]
    pub env_file: Option<PathBuf>,
}

/// Where uploads come from and go to.
#[derive(Clone, Debug)]
pub struct UploadPaths {
    /// The target upload directory.
    pub upload_dir: PathBuf,
    /// Where to look for the v3 files by name before the recorded path.
    pub v3_upload_dir: Option<PathBuf>,
}

/// Tables of the v3 files this server has no use for (counted in the report).
const SKIPPED_AUTH: &[&str] = &["login_attempts", "sessions"];
const SKIPPED_ORCHESTRATOR: &[&str] = &["memory"];

/// The columns without which a row cannot be imported; every other column is
/// optional (a default is taken) and unknown columns are ignored, so files
/// edited by hand or written by any v3 build import alike.
const REQUIRED: &[(&str, &[&str])] = &[
    ("users", &["username", "hashed_password"]),
    ("api_keys", &["key_hash"]),
    ("conversations", &["id"]),
    ("messages", &["id", "role", "content"]),
    ("uploads", &["filepath"]),
];

// ---------------------------------------------------------------- v3 rows

#[derive(Clone, Debug)]
pub struct V3User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub hashed_password: String,
    pub disabled: bool,
    pub is_admin: bool,
    pub scopes: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct V3Key {
    pub id: i64,
    pub key_hash: String,
    pub name: String,
    /// `None` when the key's user no longer exists.
    pub username: Option<String>,
    pub scopes: Option<String>,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    pub last_used: Option<String>,
    /// Not a v3.0 column; honoured when a later build or a hand edit added it.
    pub disabled: bool,
}

#[derive(Clone, Debug)]
pub struct V3Conversation {
    pub id: String,
    pub title: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct V3Message {
    pub id: i64,
    pub conversation_id: Option<String>,
    pub role: Option<String>,
    pub content: Option<String>,
    pub model_used: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct V3Upload {
    pub id: String,
    pub filename: Option<String>,
    pub filepath: String,
    pub filetype: Option<String>,
    pub conversation_id: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct V3Data {
    pub users: Vec<V3User>,
    pub keys: Vec<V3Key>,
    pub conversations: Vec<V3Conversation>,
    pub messages: Vec<V3Message>,
    pub uploads: Vec<V3Upload>,
    /// Skipped tables and their row counts.
    pub skipped: Vec<(String, i64)>,
    /// The directory of `orchestrator.db`, against which relative upload paths resolve.
    pub orchestrator_dir: PathBuf,
}

// ---------------------------------------------------------------- pure conversions

/// A v3 timestamp in unix milliseconds: SQLite's `YYYY-MM-DD HH:MM:SS` (UTC),
/// Python's ISO form with `T` and a fraction (naive, taken as UTC), either with
/// an offset, or a number of unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds
            .is_finite()
            .then(|| (seconds * 1000.0).round() as i64);
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let civil: jiff::civil::DateTime = text.replacen(' ', "T", 1).parse().ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// A v3 scope list (a JSON list of names); unknown names are returned apart.
pub fn parse_scopes(json: Option<&str>) -> (Scopes, Vec<String>) {
    let names: Vec<String> = match json {
        None => vec!["read".into()],
        Some(text) => serde_json::from_str(text).unwrap_or_else(|_| {
            // Tolerate a bare comma- or space-separated list.
            text.split([',', ' '])
                .map(|s| {
                    s.trim_matches(|c: char| c == '"' || c == '[' || c == ']' || c.is_whitespace())
                        .to_string()
                })
                .filter(|s| !s.is_empty())
                .collect()
        }),
    };
    let mut unknown = Vec::new();
    let mut scopes = Vec::new();
    for name in names {
        match Scope::parse(&name) {
            Ok(scope) => scopes.push(scope),
            Err(_) => unknown.push(name),
        }
    }
    (Scopes::of(scopes), unknown)
}

/// A user's scopes: the list, plus `admin` for `is_admin`, `read` when empty.
pub fn user_scopes(user: &V3User) -> (Scopes, Vec<String>) {
    let (mut scopes, unknown) = parse_scopes(user.scopes.as_deref());
    if user.is_admin {
        scopes = Scopes::ADMIN;
    }
    if scopes.is_empty() {
        scopes = Scopes::of([Scope::Read]);
    }
    (scopes, unknown)
}

/// An unusable password hash: the user exists but cannot log in until reset.
pub const UNUSABLE_HASH: &str = "!unrecognised-v3-hash";

pub fn stored_hash(v3: &str) -> (String, bool) {
    match legacy_hash::import(v3) {
        Some(h) => (h, true),
        None => (UNUSABLE_HASH.to_string(), false),
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|c| c.is_ascii_hexdigit())
}

// ---------------------------------------------------------------- reading

async fn open_v3(path: &Path, what: &str) -> Result<SqliteConnection, Failure> {
    if !path.is_file() {
        return Err(refuse(format!(
            "{what} {} does not exist or is not a file",
            path.display()
        )));
    }
    let options = SqliteConnectOptions::new().filename(path).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| {
            refuse(format!(
                "{what} {} cannot be opened as SQLite: {e}",
                path.display()
            ))
        })?;
    // Reading the schema is the first access that touches the file's contents.
    sqlx::query("SELECT COUNT(*) FROM sqlite_master")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| {
            refuse(format!(
                "{what} {} is not a SQLite database",
                path.display()
            ))
        })?;
    Ok(conn)
}

/// The columns of `table`, lower-cased (SQLite names are case-insensitive); empty when absent.
async fn columns(conn: &mut SqliteConnection, table: &str) -> Result<HashSet<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT name FROM pragma_table_info($1)")
        .bind(table)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            r.try_get::<String, _>("name")
                .map(|n| n.to_ascii_lowercase())
        })
        .collect()
}

/// One table as found: its columns, for building a SELECT by name.
struct Found {
    table: &'static str,
    columns: HashSet<String>,
}

impl Found {
    fn has(&self, column: &str) -> bool {
        self.columns.contains(column)
    }

    /// `column` as text, or NULL when the file does not have it.
    fn text(&self, column: &str) -> String {
        if self.has(column) {
            format!("CAST(\"{column}\" AS TEXT) AS {column}")
        } else {
            format!("NULL AS {column}")
        }
    }

    /// A SELECT of `columns` (each as text, NULL when absent) with `rest` appended.
    fn select(&self, columns: &[&str], rest: &str) -> String {
        let list: Vec<String> = columns.iter().map(|c| self.text(c)).collect();
        format!("SELECT {} FROM \"{}\" {rest}", list.join(", "), self.table)
    }
}

/// Finds `table` and checks its required columns. `Ok(None)` when the table is absent.
async fn find(
    conn: &mut SqliteConnection,
    path: &Path,
    what: &str,
    table: &'static str,
) -> Result<Option<Found>, Failure> {
    let have = columns(conn, table).await?;
    if have.is_empty() {
        return Ok(None);
    }
    let required = REQUIRED
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, c)| *c)
        .unwrap_or_default();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !have.contains(*c))
        .collect();
    if !missing.is_empty() {
        return Err(refuse(format!(
            "{} is not a v3.0 {what}: table `{table}` lacks column(s) {}",
            path.display(),
            missing.join(", ")
        )));
    }
    Ok(Some(Found {
        table,
        columns: have,
    }))
}

/// The table that identifies a file; its absence is a refusal that says what the file looks like.
async fn identify(
    conn: &mut SqliteConnection,
    path: &Path,
    what: &str,
    table: &'static str,
) -> Result<Found, Failure> {
    if let Some(found) = find(conn, path, what, table).await? {
        return Ok(found);
    }
    let hint = if what == "auth.db" && !columns(conn, "conversations").await?.is_empty() {
        " (it looks like orchestrator.db: are --auth-db and --orchestrator-db swapped?)"
    } else if what == "orchestrator.db" && !columns(conn, "api_keys").await?.is_empty() {
        " (it looks like auth.db: are --auth-db and --orchestrator-db swapped?)"
    } else {
        ""
    };
    Err(refuse(format!(
        "{} is not a v3.0 {what}: it has no `{table}` table{hint}",
        path.display()
    )))
}

async fn count_if_present(
    conn: &mut SqliteConnection,
    table: &str,
) -> Result<Option<i64>, sqlx::Error> {
    if columns(conn, table).await?.is_empty() {
        return Ok(None);
    }
    let sql = format!("SELECT COUNT(*) AS n FROM \"{table}\"");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_one(conn)
        .await?;
    Ok(Some(row.try_get("n")?))
}

/// v3 booleans: 0/1 as Python's sqlite3 wrote them, or `true`/`false` text from a hand edit.
fn truthy(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "t" | "yes" | "y" | "on"
        )
    })
}

fn int(value: Option<String>) -> Option<i64> {
    value.and_then(|v| v.trim().parse().ok())
}

async fn fetch(
    conn: &mut SqliteConnection,
    sql: String,
    what: &str,
) -> Result<Vec<sqlx::sqlite::SqliteRow>, Failure> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await
        .with_context(|| format!("cannot read {what}"))?)
}

/// Reads both v3 files by column name, refusing files that lack what an import needs.
pub async fn read_v3(auth_db: &Path, orchestrator_db: &Path) -> Result<V3Data, Failure> {
    let mut auth = open_v3(auth_db, "auth.db").await?;
    let mut orch = open_v3(orchestrator_db, "orchestrator.db").await?;
    let users = identify(&mut auth, auth_db, "auth.db", "users").await?;
    let conversations = identify(
        &mut orch,
        orchestrator_db,
        "orchestrator.db",
        "conversations",
    )
    .await?;
    let keys = find(&mut auth, auth_db, "auth.db", "api_keys").await?;
    let messages = find(&mut orch, orchestrator_db, "orchestrator.db", "messages").await?;
    let uploads = find(&mut orch, orchestrator_db, "orchestrator.db", "uploads").await?;
    let mut data = V3Data {
        orchestrator_dir: orchestrator_db
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        ..V3Data::default()
    };

    // `id` is the rowid alias in v3; a file without it still has the rowid.
    let id = if users.has("id") { "id" } else { "rowid" };
    let sql = users.select(
        &[
            "username",
            "email",
            "full_name",
            "hashed_password",
            "disabled",
            "is_admin",
            "scopes",
            "created_at",
            "updated_at",
        ],
        "",
    );
    let sql =
        sql.replacen("SELECT ", &format!("SELECT {id} AS id, "), 1) + &format!(" ORDER BY {id}");
    let mut names_by_id = HashMap::new();
    for r in fetch(&mut auth, sql, "users from auth.db").await? {
        let user = V3User {
            id: r.try_get("id")?,
            username: r
                .try_get::<Option<String>, _>("username")?
                .unwrap_or_default(),
            email: r.try_get("email")?,
            full_name: r.try_get("full_name")?,
            hashed_password: r
                .try_get::<Option<String>, _>("hashed_password")?
                .unwrap_or_default(),
            disabled: truthy(r.try_get("disabled")?),
            is_admin: truthy(r.try_get("is_admin")?),
            scopes: r.try_get("scopes")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        };
        names_by_id.insert(user.id, user.username.clone());
        data.users.push(user);
    }

    if let Some(keys) = &keys {
        let sql = keys.select(
            &[
                "id",
                "key_hash",
                "name",
                "user_id",
                "scopes",
                "created_at",
                "expires_at",
                "last_used",
                "disabled",
            ],
            "ORDER BY rowid",
        );
        for (n, r) in fetch(&mut auth, sql, "api_keys from auth.db")
            .await?
            .into_iter()
            .enumerate()
        {
            let id = int(r.try_get("id")?).unwrap_or(n as i64 + 1);
            data.keys.push(V3Key {
                id,
                key_hash: r
                    .try_get::<Option<String>, _>("key_hash")?
                    .unwrap_or_default(),
                name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                username: int(r.try_get("user_id")?).and_then(|u| names_by_id.get(&u).cloned()),
                scopes: r.try_get("scopes")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                last_used: r.try_get("last_used")?,
                disabled: truthy(r.try_get("disabled")?),
            });
        }
    }

    let order = if conversations.has("created_at") {
        "ORDER BY created_at, id"
    } else {
        "ORDER BY id"
    };
    let sql = conversations.select(
        &["id", "title", "created_at", "updated_at"],
        &format!("WHERE id IS NOT NULL {order}"),
    );
    for r in fetch(&mut orch, sql, "conversations from orchestrator.db").await? {
        data.conversations.push(V3Conversation {
            id: r.try_get::<Option<String>, _>("id")?.unwrap_or_default(),
            title: r.try_get("title")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        });
    }

    if let Some(messages) = &messages {
        let sql = messages.select(
            &[
                "id",
                "conversation_id",
                "role",
                "content",
                "model_used",
                "created_at",
            ],
            "ORDER BY id",
        );
        for r in fetch(&mut orch, sql, "messages from orchestrator.db").await? {
            let Some(id) = int(r.try_get("id")?) else {
                continue;
            };
            data.messages.push(V3Message {
                id,
                conversation_id: r.try_get("conversation_id")?,
                role: r.try_get("role")?,
                content: r.try_get("content")?,
                model_used: r.try_get("model_used")?,
                created_at: r.try_get("created_at")?,
            });
        }
    }

    if let Some(uploads) = &uploads {
        let sql = uploads.select(
            &[
                "id",
                "filename",
                "filepath",
                "filetype",
                "conversation_id",
                "created_at",
            ],
            "ORDER BY rowid",
        );
        for (n, r) in fetch(&mut orch, sql, "uploads from orchestrator.db")
            .await?
            .into_iter()
            .enumerate()
        {
            let Some(filepath) = r
                .try_get::<Option<String>, _>("filepath")?
                .filter(|p| !p.trim().is_empty())
            else {
                continue;
            };
            data.uploads.push(V3Upload {
                id: r
                    .try_get::<Option<String>, _>("id")?
                    .filter(|i| !i.trim().is_empty())
                    .unwrap_or_else(|| format!("row{}", n + 1)),
                filename: r.try_get("filename")?,
                filepath,
                filetype: r.try_get("filetype")?,
                conversation_id: r.try_get("conversation_id")?,
                created_at: r.try_get("created_at")?,
            });
        }
    }

    for table in SKIPPED_AUTH {
        if let Some(n) = count_if_present(&mut auth, table).await? {
            data.skipped.push((format!("auth.db {table}"), n));
        }
    }
    for table in SKIPPED_ORCHESTRATOR {
        if let Some(n) = count_if_present(&mut orch, table).await? {
            data.skipped.push((format!("orchestrator.db {table}"), n));
        }
    }
    Ok(data)
}

// ---------------------------------------------------------------- writing

/// What an import did, printed at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub users_imported: u64,
    pub users_present: u64,
    /// Imported users whose hash was not `salt$hex`: they cannot log in until reset.
    pub users_unusable_hash: Vec<String>,
    pub unknown_scopes: Vec<String>,
    pub keys_imported: u64,
    pub keys_present: u64,
    pub keys_revoked: u64,
    pub keys_orphaned: u64,
    pub keys_invalid: u64,
    pub conversations_imported: u64,
    pub conversations_present: u64,
    pub messages_imported: u64,
    pub messages_orphaned: u64,
    pub messages_renumbered: bool,
    pub uploads_imported: u64,
    pub uploads_present: u64,
    /// Uploads whose file was not found: (file name, path looked at).
    pub uploads_missing: Vec<(String, String)>,
    pub timestamps_unparsed: u64,
    pub skipped: Vec<(String, i64)>,
}

impl Report {
    pub fn imported_anything(&self) -> bool {
        self.users_imported
            + self.keys_imported
            + self.conversations_imported
            + self.messages_imported
            + self.uploads_imported
            > 0
    }

    pub fn render(&self, owner: &str) -> String {
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        if self.imported_anything() {
            line("Imported from the Python v3.0 server:".into());
        } else {
            line("Nothing to import: everything in these files is already present.".into());
        }
        line(format!(
            "  users:         {} imported, {} already present",
            self.users_imported, self.users_present
        ));
        line(format!(
            "  api keys:      {} imported, {} already present",
            self.keys_imported, self.keys_present
        ));
        if self.keys_revoked > 0 {
            line(format!(
                "  note: {} imported api keys were marked disabled and stay revoked",
                self.keys_revoked
            ));
        }
        line(format!(
            "  conversations: {} imported (owner: {owner}), {} already present",
            self.conversations_imported, self.conversations_present
        ));
        line(format!(
            "  messages:      {} imported",
            self.messages_imported
        ));
        line(format!(
            "  uploads:       {} imported, {} already present",
            self.uploads_imported, self.uploads_present
        ));
        if !self.uploads_missing.is_empty() {
            let list: Vec<String> = self
                .uploads_missing
                .iter()
                .map(|(name, path)| format!("{name} ({path})"))
                .collect();
            line(format!(
                "  warning: {} upload files were not found and were not imported (copy them and pass --v3-upload-dir, then run the import again): {}",
                list.len(),
                list.join(", ")
            ));
        }
        if self.messages_renumbered {
            line("  note: the target already had messages with the same ids; imported messages were renumbered, in their original order".into());
        }
        if !self.users_unusable_hash.is_empty() {
            line(format!(
                "  warning: unrecognised password hash, reset these passwords before they can log in: {}",
                self.users_unusable_hash.join(", ")
            ));
        }
        if !self.unknown_scopes.is_empty() {
            line(format!(
                "  note: unknown scopes dropped: {}",
                self.unknown_scopes.join(", ")
            ));
        }
        if self.keys_orphaned + self.keys_invalid > 0 {
            line(format!(
                "  skipped: {} api keys of deleted users, {} api keys with a malformed hash",
                self.keys_orphaned, self.keys_invalid
            ));
        }
        if self.messages_orphaned > 0 {
            line(format!(
                "  skipped: {} messages without a conversation or role",
                self.messages_orphaned
            ));
        }
        if self.timestamps_unparsed > 0 {
            line(format!(
                "  note: {} timestamps were not understood and were set to the import time",
                self.timestamps_unparsed
            ));
        }
        let skipped: Vec<String> = self
            .skipped
            .iter()
            .map(|(t, n)| format!("{t} ({n} rows)"))
            .collect();
        line(format!(
            "  not imported (no longer used): {}",
            if skipped.is_empty() {
                "-".to_string()
            } else {
                skipped.join(", ")
            }
        ));
        out
    }
}

async fn exists(
    tx: &mut sqlx::AnyConnection,
    sql: &'static str,
    value: &str,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(sql)
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?
        .is_some())
}

/// Writes `data` into `db` in one transaction; rows already present are skipped.
pub async fn import(
    db: &Db,
    data: &V3Data,
    owner: &str,
    paths: &UploadPaths,
) -> Result<Report, Failure> {
    let now = now_ms();
    let mut report = Report {
        skipped: data.skipped.clone(),
        ..Report::default()
    };
    fn time(text: Option<&str>, report: &mut Report) -> Option<i64> {
        let text = text?;
        let parsed = parse_time(text);
        if parsed.is_none() && !text.trim().is_empty() {
            report.timestamps_unparsed += 1;
        }
        parsed
    }
    let mut tx = db.pool().begin().await?;

    // Users.
    let mut user_scopes_by_name: HashMap<String, Scopes> = HashMap::new();
    for user in &data.users {
        if user.username.is_empty() {
            continue;
        }
        if let Some(row) = sqlx::query("SELECT scopes FROM users WHERE username = $1")
            .bind(&user.username)
            .fetch_optional(&mut *tx)
            .await?
        {
            user_scopes_by_name.insert(
                user.username.clone(),
                Scopes::from_db(&row.try_get::<String, _>("scopes")?),
            );
            report.users_present += 1;
            continue;
        }
        let (scopes, unknown) = user_scopes(user);
        report.unknown_scopes.extend(unknown);
        let (hash, usable) = stored_hash(&user.hashed_password);
        if !usable {
            report.users_unusable_hash.push(user.username.clone());
        }
        let created = time(user.created_at.as_deref(), &mut report).unwrap_or(now);
        let updated = time(user.updated_at.as_deref(), &mut report).unwrap_or(created);
        sqlx::query(
            "INSERT INTO users (username, password_hash, scopes, disabled, created_at, updated_at, email, full_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&user.username)
        .bind(hash)
        .bind(scopes.to_db())
        .bind(i64::from(user.disabled))
        .bind(created)
        .bind(updated)
        .bind(user.email.clone())
        .bind(user.full_name.clone())
        .execute(&mut *tx)
        .await?;
        user_scopes_by_name.insert(user.username.clone(), scopes);
        report.users_imported += 1;
    }

    // API keys: the stored SHA-256 is what the server looks keys up by, so they keep working.
    for key in &data.keys {
        let Some(owner_name) = key.username.as_deref() else {
            report.keys_orphaned += 1;
            continue;
        };
        let Some(owner_scopes) = user_scopes_by_name.get(owner_name).copied() else {
            report.keys_orphaned += 1;
            continue;
        };
        if !is_sha256_hex(&key.key_hash) {
            report.keys_invalid += 1;
            continue;
        }
        let key_hash = key.key_hash.to_ascii_lowercase();
        let id = format!("v3-{}", key.id);
        if exists(
            &mut tx,
            "SELECT 1 FROM api_keys WHERE key_hash = $1",
            &key_hash,
        )
        .await?
            || exists(&mut tx, "SELECT 1 FROM api_keys WHERE id = $1", &id).await?
        {
            report.keys_present += 1;
            continue;
        }
        let (scopes, unknown) = parse_scopes(key.scopes.as_deref());
        report.unknown_scopes.extend(unknown);
        // Never more than the owner has, as for keys created through the API.
        let scopes = scopes.intersect(owner_scopes);
        let created = time(key.created_at.as_deref(), &mut report).unwrap_or(now);
        let expires = time(key.expires_at.as_deref(), &mut report);
        let last_used = time(key.last_used.as_deref(), &mut report);
        let row = ApiKeyRow {
            id,
            name: if key.name.is_empty() {
                format!("v3 key {}", key.id)
            } else {
                key.name.clone()
            },
            owner: owner_name.to_string(),
            key_hash,
            prefix: crate::auth::api_keys::PREFIX.to_string(),
            scopes,
            created_at: created,
            expires_at: expires,
            last_used_at: last_used,
            revoked: key.disabled,
        };
        Db::insert_api_key_in(&mut tx, &row).await?;
        report.keys_imported += 1;
        if key.disabled {
            report.keys_revoked += 1;
        }
    }

    // Conversations, then their messages (only for conversations imported now).
    let mut fresh: HashSet<&str> = HashSet::new();
    let mut wanted_owner_checked = false;
    for conversation in &data.conversations {
        if exists(
            &mut tx,
            "SELECT 1 FROM conversations WHERE id = $1",
            &conversation.id,
        )
        .await?
        {
            report.conversations_present += 1;
            continue;
        }
        if !wanted_owner_checked {
            if !exists(&mut tx, "SELECT 1 FROM users WHERE username = $1", owner).await? {
                return Err(refuse(format!(
                    "the owner of the imported conversations, {owner:?}, is not a user (in the target or in auth.db); name one with --owner"
                )));
            }
            wanted_owner_checked = true;
        }
        let created = time(conversation.created_at.as_deref(), &mut report).unwrap_or(now);
        let updated = time(conversation.updated_at.as_deref(), &mut report).unwrap_or(created);
        sqlx::query("INSERT INTO conversations (id, owner, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&conversation.id)
            .bind(owner)
            .bind(conversation.title.clone().unwrap_or_default())
            .bind(created)
            .bind(updated)
            .execute(&mut *tx)
            .await?;
        fresh.insert(conversation.id.as_str());
        report.conversations_imported += 1;
    }
    let known: HashSet<&str> = data.conversations.iter().map(|c| c.id.as_str()).collect();
    let to_insert: Vec<&V3Message> = data
        .messages
        .iter()
        .filter(|m| {
            let ok = m.role.is_some()
                && m.conversation_id
                    .as_deref()
                    .is_some_and(|c| known.contains(c));
            if !ok {
                report.messages_orphaned += 1;
            }
            ok
        })
        .filter(|m| {
            m.conversation_id
                .as_deref()
                .is_some_and(|c| fresh.contains(c))
        })
        .collect();
    if !to_insert.is_empty() {
        let existing: HashSet<i64> = sqlx::query("SELECT id FROM messages")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>("id"))
            .collect::<Result<_, _>>()?;
        let collides = to_insert.iter().any(|m| existing.contains(&m.id));
        report.messages_renumbered = collides;
        let mut next_id = existing.iter().copied().max().unwrap_or(0) + 1;
        for message in to_insert {
            let id = if collides {
                next_id += 1;
                next_id - 1
            } else {
                message.id
            };
            let created = time(message.created_at.as_deref(), &mut report).unwrap_or(now);
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, role, content, model_used, tool_calls_json, created_at) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $6)",
            )
            .bind(id)
            .bind(message.conversation_id.clone().unwrap_or_default())
            .bind(message.role.clone().unwrap_or_default())
            .bind(message.content.clone().unwrap_or_default())
            .bind(message.model_used.clone())
            .bind(created)
            .execute(&mut *tx)
            .await?;
            report.messages_imported += 1;
        }
        if db.backend() == Backend::Postgres {
            // Explicit ids do not advance a BIGSERIAL; move it past them.
            sqlx::query("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT MAX(id) FROM messages))")
                .execute(&mut *tx)
                .await?;
        }
    }

    // Uploads: files are copied beside their final names first, renamed after the commit.
    let staged = stage_uploads(&mut tx, data, owner, paths, &known, now, &mut report).await?;

    if report.imported_anything() {
        sqlx::query(
            "INSERT INTO audit_log (ts, actor, ip, action, target, outcome, reason, request_id) \
             VALUES ($1, 'system', '-', 'import.v3', '-', 'success', $2, '-')",
        )
        .bind(now)
        .bind(format!(
            "{} users, {} api keys, {} conversations, {} messages, {} uploads imported",
            report.users_imported,
            report.keys_imported,
            report.conversations_imported,
            report.messages_imported,
            report.uploads_imported
        ))
        .execute(&mut *tx)
        .await?;
    }
    if let Err(err) = tx.commit().await {
        staged.discard();
        return Err(err.into());
    }
    staged.publish()?;
    Ok(report)
}

/// Upload files copied under temporary names, renamed into place only once the rows are committed.
#[derive(Default)]
struct Staged {
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    fn discard(&self) {
        for (tmp, _) in &self.files {
            let _ = std::fs::remove_file(tmp);
        }
    }

    fn publish(&self) -> anyhow::Result<()> {
        for (tmp, dest) in &self.files {
            std::fs::rename(tmp, dest)
                .with_context(|| format!("cannot move an imported upload to {}", dest.display()))?;
        }
        Ok(())
    }
}

/// The upload id kept from v3 when it is a safe file-name part, otherwise one derived from it.
fn upload_id(v3_id: &str) -> String {
    let safe = !v3_id.is_empty()
        && v3_id.len() <= 64
        && v3_id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if safe {
        format!("v3-{v3_id}")
    } else {
        format!("v3-{}", &crate::auth::api_keys::hash_key(v3_id)[..24])
    }
}

/// The v3 file of an upload: by name in `--v3-upload-dir`, else at its recorded path
/// (relative paths against orchestrator.db's directory).
fn find_upload_file(upload: &V3Upload, data: &V3Data, paths: &UploadPaths) -> (PathBuf, bool) {
    let recorded = Path::new(&upload.filepath);
    if let Some(dir) = &paths.v3_upload_dir
        && let Some(name) = recorded.file_name()
    {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return (candidate, true);
        }
    }
    let at = if recorded.is_absolute() {
        recorded.to_path_buf()
    } else {
        data.orchestrator_dir.join(recorded)
    };
    let found = at.is_file();
    (at, found)
}

/// Copies a file to `dest`, returning its size and hex SHA-256.
fn copy_hashing(from: &Path, dest: &Path) -> anyhow::Result<(i64, String)> {
    use sha2::Digest;
    use std::io::{Read, Write};
    let mut input =
        std::fs::File::open(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    let mut hasher = sha2::Sha256::new();
    let mut size: i64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n])?;
        size += n as i64;
    }
    output.sync_all()?;
    Ok((size, hex::encode(hasher.finalize())))
}

async fn stage_uploads(
    tx: &mut sqlx::AnyConnection,
    data: &V3Data,
    owner: &str,
    paths: &UploadPaths,
    known: &HashSet<&str>,
    now: i64,
    report: &mut Report,
) -> Result<Staged, Failure> {
    let mut staged = Staged::default();
    if data.uploads.is_empty() {
        return Ok(staged);
    }
    let result = stage_each(tx, data, owner, paths, known, now, report, &mut staged).await;
    if result.is_err() {
        staged.discard();
    }
    result.map(|()| staged)
}

#[allow(clippy::too_many_arguments)]
async fn stage_each(
    tx: &mut sqlx::AnyConnection,
    data: &V3Data,
    owner: &str,
    paths: &UploadPaths,
    known: &HashSet<&str>,
    now: i64,
    report: &mut Report,
    staged: &mut Staged,
) -> Result<(), Failure> {
    for upload in &data.uploads {
        let id = upload_id(&upload.id);
        if exists(tx, "SELECT 1 FROM uploads WHERE id = $1", &id).await? {
            report.uploads_present += 1;
            continue;
        }
        let label = upload.filename.clone().unwrap_or_else(|| {
            Path::new(&upload.filepath)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let (source, found) = find_upload_file(upload, data, paths);
        if !found {
            report
                .uploads_missing
                .push((label, source.display().to_string()));
            continue;
        }
        std::fs::create_dir_all(&paths.upload_dir).with_context(|| {
            format!(
                "cannot create the upload directory {}",
                paths.upload_dir.display()
            )
        })?;
        let filename = crate::store::uploads::sanitize_filename(&label);
        let stored = crate::store::uploads::stored_name(&id, &filename);
        let dest = paths.upload_dir.join(&stored);
        let tmp = paths.upload_dir.join(format!(".import-{stored}.partial"));
        let _ = std::fs::remove_file(&tmp);
        let (size, sha256) = copy_hashing(&source, &tmp)?;
        staged.files.push((tmp, dest));
        let mut created = now;
        if let Some(text) = upload.created_at.as_deref() {
            match parse_time(text) {
                Some(t) => created = t,
                None if !text.trim().is_empty() => report.timestamps_unparsed += 1,
                None => {}
            }
        }
        let row = crate::store::uploads::Upload {
            id,
            owner: owner.to_string(),
            conversation_id: upload
                .conversation_id
                .clone()
                .filter(|c| known.contains(c.as_str())),
            filename,
            stored_name: stored,
            content_type: upload
                .filetype
                .clone()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "application/octet-stream".into()),
            size,
            sha256,
            created_at: created,
        };
        Db::insert_upload_in(tx, &row).await?;
        report.uploads_imported += 1;
    }
    Ok(())
}

/// The database URL the server would use with the same flags and environment.
pub fn target_url(
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<String> {
    Ok(target_settings(database_url, data_dir)?.database_url)
}

/// The settings the server would use with the same flags, `.env` and environment.
pub fn target_settings_with(
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    env_file: Option<PathBuf>,
) -> anyhow::Result<Settings> {
    let args = ServeArgs {
        database_url,
        data_dir,
        env_file,
        ..ServeArgs::default()
    };
    Settings::load(&args)
}

/// The settings the server would use with the same flags and environment.
pub fn target_settings(
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<Settings> {
    let args = ServeArgs {
        database_url,
        data_dir,
        ..ServeArgs::default()
    };
    Settings::load(&args)
}

pub async fn run(args: ImportArgs) -> Result<(), Failure> {
    let settings = target_settings_with(
        args.database_url.clone(),
        args.data_dir.clone(),
        args.env_file.clone(),
    )
    .map_err(|e| refuse(format!("{e:#}")))?;
    let url = settings.database_url.clone();
    let paths = UploadPaths {
        upload_dir: args
            .upload_dir
            .clone()
            .unwrap_or_else(|| settings.agent.upload_dir.clone()),
        v3_upload_dir: args.v3_upload_dir.clone(),
    };
    let data = read_v3(&args.auth_db, &args.orchestrator_db).await?;
    if let Some(target) = crate::cli::server_lock::sqlite_path(&url) {
        let same = |v3: &Path| matches!((target.canonicalize(), v3.canonicalize()), (Ok(a), Ok(b)) if a == b);
        if same(&args.orchestrator_db) || same(&args.auth_db) {
            return Err(refuse(format!(
                "the target database {} is one of the v3 files being imported: point AI_DB_PATH \
                 (or AI_DATABASE_URL / --database-url) at a new file for this server, then run the import again",
                target.display()
            )));
        }
        // Before the lock file appears beside it.
        crate::store::schema_check::check_sqlite_file(&target)
            .await
            .map_err(refuse)?;
    }
    let _lock = match crate::cli::server_lock::sqlite_path(&url) {
        Some(file) => Some(
            crate::cli::server_lock::try_exclusive(&file)?.ok_or_else(|| {
                refuse(format!(
                    "a server is running on {}; stop it before importing",
                    file.display()
                ))
            })?,
        ),
        None => None,
    };
    let db = Db::connect(&url).await?;
    let report = import(&db, &data, &args.owner, &paths).await?;
    crate::cli::output::text(&report.render(&args.owner)).context("cannot print the report")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_timestamps_are_understood() {
        let sqlite = parse_time("2024-03-01 12:30:05").unwrap();
        assert_eq!(sqlite, 1_709_296_205_000);
        assert_eq!(parse_time("2024-03-01T12:30:05.250000"), Some(sqlite + 250));
        assert_eq!(parse_time("2024-03-01T13:30:05+01:00"), Some(sqlite));
        assert_eq!(parse_time("1709296205"), Some(sqlite));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn scopes_come_from_the_json_list_and_is_admin() {
        let (s, unknown) = parse_scopes(Some(r#"["read","write","teleport"]"#));
        assert_eq!(s.names(), ["read", "write"]);
        assert_eq!(unknown, ["teleport"]);
        assert_eq!(parse_scopes(None).0.names(), ["read"]);
        let user = V3User {
            id: 1,
            username: "root".into(),
            email: None,
            full_name: None,
            hashed_password: String::new(),
            disabled: false,
            is_admin: true,
            scopes: Some(r#"["read"]"#.into()),
            created_at: None,
            updated_at: None,
        };
        assert_eq!(user_scopes(&user).0, Scopes::ADMIN);
        let nobody = V3User {
            is_admin: false,
            scopes: Some("[]".into()),
            ..user
        };
        assert_eq!(user_scopes(&nobody).0.names(), ["read"]);
    }

    #[test]
    fn hashes_are_marked_or_made_unusable() {
        let (h, ok) = stored_hash(&legacy_hash::v3_hash("pw", "salt"));
        assert!(ok && legacy_hash::is_legacy(&h));
        let (h, ok) = stored_hash("plaintext");
        assert!(!ok);
        assert_eq!(h, UNUSABLE_HASH);
    }
}
