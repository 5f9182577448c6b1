//! Storage: one `sqlx::AnyPool` with portable SQL (`$n` placeholders, BIGINT
//! unix-millisecond timestamps, TEXT ids, BIGINT 0/1 booleans), so SQLite and
//! PostgreSQL behave the same. Migrations are embedded per backend and run at start.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row, SqlSafeStr};

use crate::http::scopes::Scopes;

/// Current time in unix milliseconds, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "v3 import",
        include_str!("../../migrations/sqlite/0002_v3_import.sql"),
    ),
    (
        3,
        "user ids",
        include_str!("../../migrations/sqlite/0003_user_ids.sql"),
    ),
    (
        4,
        "uploads",
        include_str!("../../migrations/sqlite/0004_uploads.sql"),
    ),
    (
        5,
        "audit actors",
        include_str!("../../migrations/sqlite/0005_audit_actors.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "v3 import",
        include_str!("../../migrations/postgres/0002_v3_import.sql"),
    ),
    (
        3,
        "user ids",
        include_str!("../../migrations/postgres/0003_user_ids.sql"),
    ),
    (
        4,
        "uploads",
        include_str!("../../migrations/postgres/0004_uploads.sql"),
    ),
    (
        5,
        "audit actors",
        include_str!("../../migrations/postgres/0005_audit_actors.sql"),
    ),
];

/// The newest schema version this build knows (what `restore` compares against).
pub fn latest_schema_version(backend: Backend) -> i64 {
    let source = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    source.iter().map(|(v, _, _)| *v).max().unwrap_or(0)
}

fn migrator(backend: Backend) -> Migrator {
    let source = match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    };
    Migrator::with_migrations(
        source
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// A user as stored.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// Stable id: a user created again under the same name gets a new one.
    pub uid: String,
    /// Bumped when the password changes or the user is disabled; access tokens carry it.
    pub token_generation: i64,
    pub username: String,
    pub password_hash: String,
    pub scopes: Scopes,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An API key as stored (its hash, never the key).
#[derive(Clone, Debug)]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub key_hash: String,
    pub prefix: String,
    pub scopes: Scopes,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

#[derive(Clone, Debug)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub username: String,
    /// The user id the family was issued to; `None` for rows older than user ids.
    pub uid: Option<String>,
    /// The scopes the family was issued with; `None` (older rows): the user's scopes.
    pub scopes: Option<Scopes>,
    pub used: bool,
    pub revoked: bool,
    pub expires_at: i64,
}

/// A refresh token to store: its hash and the family facts every token of the family repeats.
#[derive(Clone, Debug)]
pub struct NewRefresh<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub username: &'a str,
    pub uid: &'a str,
    pub scopes: Scopes,
    pub expires_at: i64,
}

/// What happens to a deleted user's conversations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedData {
    Delete,
    ReassignTo(String),
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    /// Unix milliseconds.
    pub ts: i64,
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub reason: String,
    pub request_id: String,
}

/// Filters of `GET /api/audit`; every field optional.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

/// A new random user id (32 hex digits).
pub fn new_user_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

impl Db {
    /// Opens (creating a SQLite file and its directory when needed) and migrates.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL scheme (use sqlite:// or postgres://)");
        };
        let mut url = url.to_string();
        if backend == Backend::Sqlite {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_string();
            if path != ":memory:" && !path.is_empty() {
                crate::store::schema_check::check_sqlite_file(Path::new(&path)).await?;
                crate::store::private::sqlite_files(Path::new(&path)).with_context(|| {
                    format!("cannot create the database file {path} (mode 0600, directory 0700)")
                })?;
                if !url.contains("mode=") {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str("mode=rwc");
                }
            }
        }
        let options = AnyConnectOptions::from_str(&url).context("invalid database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("cannot open the database")?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .context("cannot switch SQLite to WAL mode")?;
        }
        if backend == Backend::Postgres {
            crate::store::schema_check::check_postgres(&pool).await?;
        }
        migrator(backend)
            .run(&pool)
            .await
            .context("database migration failed")?;
        Ok(Db { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    // ---- users ----

    fn user_from(row: &sqlx::any::AnyRow) -> Result<UserRow, sqlx::Error> {
        Ok(UserRow {
            uid: row.try_get::<Option<String>, _>("uid")?.unwrap_or_default(),
            token_generation: row.try_get("token_generation")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
            scopes: Scopes::from_db(&row.try_get::<String, _>("scopes")?),
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    pub async fn get_user(&self, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT uid, token_generation, username, password_hash, scopes, disabled, created_at, updated_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::user_from).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT uid, token_generation, username, password_hash, scopes, disabled, created_at, updated_at FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::user_from).collect()
    }

    /// Inserts a user; `Ok(false)` when the name is taken.
    pub async fn insert_user(&self, user: &UserRow) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, scopes, disabled, created_at, updated_at, uid, token_generation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.scopes.to_db())
        .bind(b(user.disabled))
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(if user.uid.is_empty() {
            new_user_id()
        } else {
            user.uid.clone()
        })
        .bind(user.token_generation)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn update_user(&self, user: &UserRow) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE users SET password_hash = $2, scopes = $3, disabled = $4, updated_at = $5, token_generation = $6 \
             WHERE username = $1",
        )
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.scopes.to_db())
        .bind(b(user.disabled))
        .bind(user.updated_at)
        .bind(user.token_generation)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Sets the v3 profile fields given (`None` leaves one as it is); `false` when there is no such user.
    pub async fn update_profile(
        &self,
        username: &str,
        email: Option<&str>,
        full_name: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE users SET email = COALESCE($2, email), full_name = COALESCE($3, full_name) WHERE username = $1",
        )
        .bind(username)
        .bind(email.map(str::to_string))
        .bind(full_name.map(str::to_string))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The v3 profile fields of a user: (email, full name).
    pub async fn get_profile(
        &self,
        username: &str,
    ) -> Result<(Option<String>, Option<String>), sqlx::Error> {
        let row = sqlx::query("SELECT email, full_name FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok((row.try_get("email")?, row.try_get("full_name")?)),
            None => Ok((None, None)),
        }
    }

    /// Gives every user without an id one (rows written before ids existed, or by an import).
    pub async fn assign_missing_user_ids(&self) -> Result<u64, sqlx::Error> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "UPDATE users SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL OR uid = ''"
            }
            Backend::Postgres => {
                "UPDATE users SET uid = md5(random()::text || clock_timestamp()::text || username) \
                 WHERE uid IS NULL OR uid = ''"
            }
        };
        let result = sqlx::query(sql).execute(&self.pool).await?;
        Ok(result.rows_affected())
    }

    /// Bumps a user's token generation (access tokens issued before stop working); returns the
    /// new value, `None` when the user does not exist.
    pub async fn bump_token_generation(&self, username: &str) -> Result<Option<i64>, sqlx::Error> {
        let row = sqlx::query(
            "UPDATE users SET token_generation = token_generation + 1 WHERE username = $1 \
             RETURNING token_generation",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<i64, _>(0)).transpose()
    }

    /// Deletes a user with its keys and refresh tokens, and deletes or hands over its
    /// conversations, all or nothing.
    pub async fn delete_user(
        &self,
        username: &str,
        owned: &OwnedData,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        match owned {
            OwnedData::Delete => {
                sqlx::query(
                    "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE owner = $1)",
                )
                .bind(username)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM conversations WHERE owner = $1")
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
            }
            OwnedData::ReassignTo(heir) => {
                sqlx::query("UPDATE conversations SET owner = $2 WHERE owner = $1")
                    .bind(username)
                    .bind(heir)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query("DELETE FROM api_keys WHERE owner = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        let result = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    // ---- API keys ----

    fn key_from(row: &sqlx::any::AnyRow) -> Result<ApiKeyRow, sqlx::Error> {
        Ok(ApiKeyRow {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            owner: row.try_get("owner")?,
            key_hash: row.try_get("key_hash")?,
            prefix: row.try_get("prefix")?,
            scopes: Scopes::from_db(&row.try_get::<String, _>("scopes")?),
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked: row.try_get::<i64, _>("revoked")? != 0,
        })
    }

    const KEY_COLUMNS: &'static str =
        "id, name, owner, key_hash, prefix, scopes, created_at, expires_at, last_used_at, revoked";

    pub async fn insert_api_key(&self, key: &ApiKeyRow) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        Self::insert_api_key_in(&mut conn, key).await
    }

    /// [`Db::insert_api_key`] on a given connection, so that it can join a transaction.
    pub async fn insert_api_key_in(
        conn: &mut sqlx::AnyConnection,
        key: &ApiKeyRow,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, owner, key_hash, prefix, scopes, created_at, expires_at, last_used_at, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.owner)
        .bind(&key.key_hash)
        .bind(&key.prefix)
        .bind(key.scopes.to_db())
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.last_used_at)
        .bind(b(key.revoked))
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Keys of one owner, or of everyone with `None`.
    pub async fn list_api_keys(&self, owner: Option<&str>) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
        let rows = match owner {
            Some(owner) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_keys WHERE owner = $1 ORDER BY created_at, id",
                    Self::KEY_COLUMNS
                )))
                .bind(owner)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_keys ORDER BY created_at, id",
                    Self::KEY_COLUMNS
                )))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(Self::key_from).collect()
    }

    pub async fn get_api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM api_keys WHERE id = $1",
            Self::KEY_COLUMNS
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::key_from).transpose()
    }

    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, sqlx::Error> {
        let result = sqlx::query("UPDATE api_keys SET revoked = 1 WHERE id = $1 AND revoked = 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Writes the batched `last_used_at` values in one transaction.
    pub async fn flush_last_used(&self, updates: &[(String, i64)]) -> Result<(), sqlx::Error> {
        if updates.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, ts) in updates {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id)
            .bind(*ts)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    // ---- refresh tokens ----

    pub async fn insert_refresh(&self, token: &NewRefresh<'_>) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        Self::insert_refresh_in(&mut conn, token).await
    }

    async fn insert_refresh_in(
        conn: &mut sqlx::AnyConnection,
        token: &NewRefresh<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, username, used, revoked, created_at, expires_at, uid, scopes) \
             VALUES ($1, $2, $3, 0, 0, $4, $5, $6, $7)",
        )
        .bind(token.token_hash)
        .bind(token.family_id)
        .bind(token.username)
        .bind(now_ms())
        .bind(token.expires_at)
        .bind(token.uid)
        .bind(token.scopes.to_db())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Spends `old_hash` and stores its successor in one transaction: `false` (and nothing
    /// stored) when the old token was already spent or revoked. Because the successor is written
    /// before the spend commits, a concurrent redeemer that loses waits for it, and the family
    /// revocation it then performs also covers the successor.
    pub async fn rotate_refresh(
        &self,
        old_hash: &str,
        next: &NewRefresh<'_>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used = 1 WHERE token_hash = $1 AND used = 0 AND revoked = 0",
        )
        .bind(old_hash)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::insert_refresh_in(&mut tx, next).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn get_refresh(&self, token_hash: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT token_hash, family_id, username, uid, scopes, used, revoked, expires_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(RefreshRow {
                token_hash: row.try_get("token_hash")?,
                family_id: row.try_get("family_id")?,
                username: row.try_get("username")?,
                uid: row.try_get("uid")?,
                scopes: row
                    .try_get::<Option<String>, _>("scopes")?
                    .map(|s| Scopes::from_db(&s)),
                used: row.try_get::<i64, _>("used")? != 0,
                revoked: row.try_get::<i64, _>("revoked")? != 0,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Marks a token used; `false` when someone else used it first (a reuse).
    pub async fn consume_refresh(&self, token_hash: &str) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET used = 1 WHERE token_hash = $1 AND used = 0 AND revoked = 0",
        )
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn revoke_refresh_family(&self, family_id: &str) -> Result<u64, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1 AND revoked = 0",
        )
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    pub async fn revoke_refresh_for_user(&self, username: &str) -> Result<u64, sqlx::Error> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 WHERE username = $1 AND revoked = 0",
        )
        .bind(username)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Drops refresh tokens expired for more than a day.
    pub async fn purge_expired_refresh(&self) -> Result<u64, sqlx::Error> {
        let result = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now_ms() - 86_400_000)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }

    // ---- audit ----

    /// Stores the row and returns its id.
    pub async fn insert_audit(&self, row: &AuditRow) -> Result<i64, sqlx::Error> {
        let stored = sqlx::query(
            "INSERT INTO audit_log (ts, actor, ip, action, target, outcome, reason, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(row.ts)
        .bind(&row.actor)
        .bind(&row.ip)
        .bind(&row.action)
        .bind(&row.target)
        .bind(&row.outcome)
        .bind(&row.reason)
        .bind(&row.request_id)
        .fetch_one(&self.pool)
        .await?;
        stored.try_get("id")
    }

    /// Newest first. Returns the page and the total matching count.
    pub async fn query_audit(
        &self,
        filter: &AuditFilter,
    ) -> Result<(Vec<AuditRow>, i64), sqlx::Error> {
        let mut clauses = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if filter.actor.is_some() {
            clauses.push(format!("actor = ${}", next()));
        }
        if filter.action.is_some() {
            clauses.push(format!("action = ${}", next()));
        }
        if filter.outcome.is_some() {
            clauses.push(format!("outcome = ${}", next()));
        }
        if filter.since_ms.is_some() {
            clauses.push(format!("ts >= ${}", next()));
        }
        if filter.until_ms.is_some() {
            clauses.push(format!("ts <= ${}", next()));
        }
        let where_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let (limit_n, offset_n) = (next(), next());
        let page_sql = format!(
            "SELECT id, ts, actor, ip, action, target, outcome, reason, request_id FROM audit_log{where_sql} \
             ORDER BY id DESC LIMIT ${limit_n} OFFSET ${offset_n}"
        );
        let count_sql = format!("SELECT COUNT(*) AS n FROM audit_log{where_sql}");

        macro_rules! bind_filters {
            ($q:expr) => {{
                let mut q = $q;
                if let Some(v) = &filter.actor {
                    q = q.bind(v.clone());
                }
                if let Some(v) = &filter.action {
                    q = q.bind(v.clone());
                }
                if let Some(v) = &filter.outcome {
                    q = q.bind(v.clone());
                }
                if let Some(v) = filter.since_ms {
                    q = q.bind(v);
                }
                if let Some(v) = filter.until_ms {
                    q = q.bind(v);
                }
                q
            }};
        }
        let rows = bind_filters!(sqlx::query(sqlx::AssertSqlSafe(page_sql)))
            .bind(filter.limit)
            .bind(filter.offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = bind_filters!(sqlx::query(sqlx::AssertSqlSafe(count_sql)))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(AuditRow {
                    id: row.try_get("id")?,
                    ts: row.try_get("ts")?,
                    actor: row.try_get("actor")?,
                    ip: row.try_get("ip")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    outcome: row.try_get("outcome")?,
                    reason: row.try_get("reason")?,
                    request_id: row.try_get("request_id")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((rows, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows written before migration 5 get the one actor form.
    #[tokio::test]
    async fn old_audit_actors_are_migrated_to_the_one_form() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("pool");
        let before: Vec<Migration> = migrator(Backend::Sqlite)
            .iter()
            .filter(|m| m.version < 5)
            .cloned()
            .collect();
        Migrator::with_migrations(before)
            .run(&pool)
            .await
            .expect("migrations 1-4");
        for (actor, reason) in [
            ("user:admin", "r1"),
            ("user:alice (user bob)", "r2"),
            ("key:abc", "r3"),
            ("alice", "r4"),
            ("ip:10.0.0.9", "r5"),
            ("system", "r6"),
        ] {
            sqlx::query(
                "INSERT INTO audit_log (ts, actor, ip, action, target, outcome, reason, request_id) \
                 VALUES (1, $1, '-', 'x', '', 'success', $2, '')",
            )
            .bind(actor)
            .bind(reason)
            .execute(&pool)
            .await
            .expect("insert");
        }
        pool.close().await;
        let db = Db::connect(&url).await.expect("migrate to the latest");
        let (rows, _) = db
            .query_audit(&AuditFilter {
                limit: 50,
                ..AuditFilter::default()
            })
            .await
            .expect("rows");
        let mut got: Vec<(String, String)> =
            rows.into_iter().map(|r| (r.actor, r.reason)).collect();
        got.sort();
        let want: Vec<(String, String)> = [
            ("-", "r5"),
            ("admin", "r1"),
            ("alice", "r2 end_user=bob"),
            ("alice", "r4"),
            ("key:abc", "r3"),
            ("system", "r6"),
        ]
        .into_iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
        assert_eq!(got, want);
        let id = db
            .insert_audit(&AuditRow {
                id: 0,
                ts: 2,
                actor: "admin".into(),
                ip: "-".into(),
                action: "x".into(),
                target: String::new(),
                outcome: "error".into(),
                reason: String::new(),
                request_id: String::new(),
            })
            .await
            .expect("insert");
        assert_eq!(id, 7, "the new row's id is returned");
    }
}
