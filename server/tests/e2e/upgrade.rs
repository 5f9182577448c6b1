//! A v3.0 user's upgrade: the server refuses to migrate the v3 files (or any
//! foreign database), leaving them byte-identical.

use crate::support::{backends, v3};

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::ServerBuilder;
use sqlx::{Connection, Row};

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_v3_or_foreign_database_is_refused_and_left_untouched() {
    let source = tempfile::tempdir().unwrap();
    let (auth, orch) = v3::populate(source.path()).await;
    let foreign = source.path().join("other-app.db");
    v3::create(
        &foreign,
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL);",
    )
    .await
    .close()
    .await
    .unwrap();
    let before = listing(source.path());
    for (file, expected) in [
        (
            &orch,
            "this is a v3.0 database: run ai-orchestrator import-v3",
        ),
        (
            &auth,
            "this is a v3.0 database: run ai-orchestrator import-v3",
        ),
        (&foreign, "is not an ai-orchestrator database"),
    ] {
        let bytes = std::fs::read(file).unwrap();
        let (code, stderr) = ServerBuilder::default()
            .env("AI_DB_PATH", file.to_str().unwrap())
            .start_expecting_failure();
        assert_ne!(code, 0, "{stderr}");
        assert!(stderr.contains(expected), "{}: {stderr}", file.display());
        assert!(
            stderr.contains(&file.display().to_string()),
            "the file is named: {stderr}"
        );
        assert_eq!(
            std::fs::read(file).unwrap(),
            bytes,
            "{} was modified",
            file.display()
        );
        assert_eq!(
            listing(source.path()),
            before,
            "no WAL, journal or lock file may be left beside {}",
            file.display()
        );
    }
}

#[tokio::test]
async fn a_foreign_postgres_schema_is_refused_before_migrating() {
    let Some(admin) = backends::postgres_admin_url() else {
        return;
    };
    sqlx::any::install_default_drivers();
    let url = backends::fresh_postgres(&admin).await;
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE invoices (id BIGINT PRIMARY KEY)")
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, stderr) = ServerBuilder::default()
        .env("AI_DATABASE_URL", &url)
        .start_expecting_failure();
    assert_ne!(code, 0);
    assert!(stderr.contains("invoices"), "{stderr}");
    let tables: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
    .get("n");
    assert_eq!(tables, 1, "nothing may be created beside a foreign schema");
}
