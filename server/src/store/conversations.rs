//! The conversation store: conversations and their messages, written in one
//! transaction so that a conversation never holds half a turn. Ownership is
//! checked by the callers through [`visible_to`]; these [`Db`] methods only store.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::store::db::{Db, now_ms};

/// Longest title kept; longer ones are cut on a character boundary.
pub const MAX_TITLE_CHARS: usize = 200;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub owner: String,
    pub title: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StoredMessage {
    pub id: i64,
    pub role: String,
    pub content: String,
    pub model_used: Option<String>,
    /// Tool calls of an assistant turn, or the call and outcome of a tool message.
    pub tool_calls: Option<Value>,
    pub created_at: i64,
}

/// A message to append.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub role: String,
    pub content: String,
    pub model_used: Option<String>,
    pub tool_calls: Option<Value>,
}

/// Whether `username` (an admin sees everything) may see `conversation`.
pub fn visible_to(conversation: &Conversation, username: &str, is_admin: bool) -> bool {
    is_admin || conversation.owner == username
}

/// A conversation title from the first message: its first line, shortened.
pub fn title_from(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("New conversation");
    cut(line, 60)
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

fn conversation_from(row: &sqlx::any::AnyRow) -> Result<Conversation, sqlx::Error> {
    Ok(Conversation {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        title: row.try_get("title")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Db {
    /// Creates an empty conversation.
    pub async fn create_conversation(
        &self,
        owner: &str,
        title: &str,
    ) -> Result<Conversation, sqlx::Error> {
        self.create_conversation_with(owner, title, &[]).await
    }

    /// Creates a conversation holding its first messages, all or nothing.
    pub async fn create_conversation_with(
        &self,
        owner: &str,
        title: &str,
        first: &[NewMessage],
    ) -> Result<Conversation, sqlx::Error> {
        let now = now_ms();
        let conversation = Conversation {
            id: new_id(),
            owner: owner.to_string(),
            title: cut(title, MAX_TITLE_CHARS),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO conversations (id, owner, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&conversation.id)
        .bind(&conversation.owner)
        .bind(&conversation.title)
        .bind(conversation.created_at)
        .bind(conversation.updated_at)
        .execute(&mut *tx)
        .await?;
        insert_messages(&mut tx, &conversation.id, first, now).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    pub async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, owner, title, created_at, updated_at FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(conversation_from).transpose()
    }

    /// Most recently updated first; `owner: None` lists everyone's (admin).
    pub async fn list_conversations(
        &self,
        owner: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Conversation>, sqlx::Error> {
        let rows = match owner {
            Some(owner) => sqlx::query(
                "SELECT id, owner, title, created_at, updated_at FROM conversations WHERE owner = $1 \
                     ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3",
            )
            .bind(owner)
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?,
            None => {
                sqlx::query(
                    "SELECT id, owner, title, created_at, updated_at FROM conversations \
                     ORDER BY updated_at DESC, id LIMIT $1 OFFSET $2",
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(conversation_from).collect()
    }

    /// Every message, oldest first.
    pub async fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, role, content, model_used, tool_calls_json, created_at FROM messages \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let tool_calls: Option<String> = row.try_get("tool_calls_json")?;
                Ok(StoredMessage {
                    id: row.try_get("id")?,
                    role: row.try_get("role")?,
                    content: row.try_get("content")?,
                    model_used: row.try_get("model_used")?,
                    tool_calls: tool_calls.and_then(|t| serde_json::from_str(&t).ok()),
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Appends messages and touches the conversation, all or nothing.
    pub async fn append_messages(
        &self,
        conversation_id: &str,
        new: &[NewMessage],
    ) -> Result<(), sqlx::Error> {
        if new.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        insert_messages(&mut tx, conversation_id, new, now).await?;
        sqlx::query("UPDATE conversations SET updated_at = $2 WHERE id = $1")
            .bind(conversation_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub async fn rename_conversation(&self, id: &str, title: &str) -> Result<bool, sqlx::Error> {
        let result =
            sqlx::query("UPDATE conversations SET title = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(cut(title, MAX_TITLE_CHARS))
                .bind(now_ms())
                .execute(self.pool())
                .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Deletes the conversation and its messages together.
    pub async fn delete_conversation(&self, id: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM messages WHERE conversation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Uploaded files stay (the agent may have used them); they are no longer linked.
        sqlx::query("UPDATE uploads SET conversation_id = NULL WHERE conversation_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let result = sqlx::query("DELETE FROM conversations WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }
}

async fn insert_messages(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    conversation_id: &str,
    new: &[NewMessage],
    now: i64,
) -> Result<(), sqlx::Error> {
    for message in new {
        sqlx::query(
            "INSERT INTO messages (conversation_id, role, content, model_used, tool_calls_json, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(conversation_id)
        .bind(&message.role)
        .bind(&message.content)
        .bind(message.model_used.clone())
        .bind(message.tool_calls.as_ref().map(Value::to_string))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line_and_are_bounded() {
        assert_eq!(title_from("\n  list my files \nplease"), "list my files");
        assert_eq!(title_from(""), "New conversation");
        let long = "é".repeat(100);
        assert_eq!(title_from(&long).chars().count(), 61);
    }

    #[test]
    fn owners_and_admins_see_a_conversation() {
        let c = Conversation {
            id: "1".into(),
            owner: "alice".into(),
            title: String::new(),
            created_at: 0,
            updated_at: 0,
        };
        assert!(visible_to(&c, "alice", false));
        assert!(!visible_to(&c, "bob", false));
        assert!(visible_to(&c, "bob", true));
    }
}
