//! Uploaded files: one row per file in `uploads`, the bytes in the upload
//! directory under a name the server chose. The client's file name is kept
//! only as a sanitised label; it never becomes a path.

use serde::Serialize;
use sqlx::Row;

use crate::store::db::Db;

/// Longest file name label kept, in characters.
pub const MAX_NAME_CHARS: usize = 120;

#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Upload {
    pub id: String,
    pub owner: String,
    pub conversation_id: Option<String>,
    /// The client's file name, sanitised.
    pub filename: String,
    /// The file's name inside the upload directory.
    pub stored_name: String,
    pub content_type: String,
    pub size: i64,
    /// Hex SHA-256 of the contents.
    pub sha256: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// The last component of a client-supplied name with anything unsafe replaced:
/// no directory parts, no control characters, no leading dots, bounded length.
pub fn sanitize_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '+' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    if cleaned.is_empty() {
        "upload".to_string()
    } else {
        cleaned
    }
}

/// The name a file is stored under: unique by its id, recognisable by its label.
pub fn stored_name(id: &str, filename: &str) -> String {
    format!("{id}-{}", sanitize_filename(filename))
}

/// A new random upload id.
pub fn new_id() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn upload_from(row: &sqlx::any::AnyRow) -> Result<Upload, sqlx::Error> {
    Ok(Upload {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        conversation_id: row.try_get("conversation_id")?,
        filename: row.try_get("filename")?,
        stored_name: row.try_get("stored_name")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        sha256: row.try_get("sha256")?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str =
    "id, owner, conversation_id, filename, stored_name, content_type, size, sha256, created_at";

impl Db {
    /// Inserts on a given connection, so that it can join a transaction.
    pub async fn insert_upload_in(
        conn: &mut sqlx::AnyConnection,
        upload: &Upload,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO uploads (id, owner, conversation_id, filename, stored_name, content_type, size, sha256, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&upload.id)
        .bind(&upload.owner)
        .bind(upload.conversation_id.clone())
        .bind(&upload.filename)
        .bind(&upload.stored_name)
        .bind(&upload.content_type)
        .bind(upload.size)
        .bind(&upload.sha256)
        .bind(upload.created_at)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    pub async fn insert_upload(&self, upload: &Upload) -> Result<(), sqlx::Error> {
        let mut conn = self.pool().acquire().await?;
        Self::insert_upload_in(&mut conn, upload).await
    }

    pub async fn get_upload(&self, id: &str) -> Result<Option<Upload>, sqlx::Error> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM uploads WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(upload_from).transpose()
    }

    /// The files linked to a conversation, oldest first.
    pub async fn conversation_uploads(
        &self,
        conversation_id: &str,
    ) -> Result<Vec<Upload>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM uploads WHERE conversation_id = $1 ORDER BY created_at, id"
        )))
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(upload_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_never_become_paths() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\a\\report.pdf"), "report.pdf");
        assert_eq!(sanitize_filename(".bashrc"), "bashrc");
        assert_eq!(sanitize_filename("a\0b\nc.txt"), "a_b_c.txt");
        assert_eq!(sanitize_filename(".."), "upload");
        assert_eq!(sanitize_filename(""), "upload");
        assert_eq!(sanitize_filename(&"x".repeat(500)).len(), MAX_NAME_CHARS);
        assert_eq!(stored_name("ab12", "../x y.txt"), "ab12-x y.txt");
    }
}
