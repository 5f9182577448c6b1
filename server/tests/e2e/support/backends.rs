//! The databases a storage test runs against: SQLite always, PostgreSQL when
//! `AI_TEST_DATABASE_URL` names a server (scripts/postgres.sh starts one). Each
//! PostgreSQL test gets a fresh database of its own. Without the variable the
//! PostgreSQL half fails under `CI=true` and is skipped with a notice otherwise.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use sqlx::Connection;

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// The URL of a freshly created, empty database.
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The URL for this backend; SQLite lives in `data_dir/orchestrator.db`.
    pub fn url(&self, data_dir: &Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite://{}", data_dir.join("orchestrator.db").display()),
            Backend::Postgres(url) => url.clone(),
        }
    }
}

/// The PostgreSQL server of this test run, or `None` (with the rule above).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("AI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => Some(url),
        None => {
            let ci = std::env::var("CI")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(false);
            assert!(
                !ci,
                "AI_TEST_DATABASE_URL is not set under CI=true: the PostgreSQL half of the storage tests \
                 cannot run (scripts/test.sh starts a server with scripts/postgres.sh)"
            );
            eprintln!(
                "NOTICE: AI_TEST_DATABASE_URL is not set; the PostgreSQL half of this test is skipped"
            );
            None
        }
    }
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres(admin_url: &str) -> String {
    let mut conn = sqlx::postgres::PgConnection::connect(admin_url)
        .await
        .expect("connect to AI_TEST_DATABASE_URL");
    let mut bytes = [0u8; 6];
    rand::fill(&mut bytes);
    let name = format!("aio_test_{}", hex::encode(bytes));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("CREATE DATABASE (the test role needs CREATEDB)");
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let (prefix, _db) = base.rsplit_once('/').expect("a database URL with a path");
    format!("{prefix}/{name}{query}")
}

/// SQLite, then PostgreSQL when available.
pub async fn all() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if let Some(admin) = postgres_admin_url() {
        out.push(Backend::Postgres(fresh_postgres(&admin).await));
    }
    out
}
