//! The audit trail: every security-relevant event becomes one database row
//! and one JSON log line on target `audit`. Callers pass only names, ids and
//! reasons — never a password, token or key.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::store::db::{AuditRow, Db, now_ms};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
    /// Allowed, then failed while doing it (a tool call on a missing file).
    Error,
}

impl Outcome {
    /// Every outcome's name, as stored and as `GET /api/audit?outcome=` takes it.
    pub const NAMES: [&'static str; 4] = ["success", "failure", "denied", "error"];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

/// One event; build with [`AuditEvent::new`] and the setters.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: String,
    pub ip: String,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub reason: String,
    pub request_id: String,
}

impl AuditEvent {
    pub fn new(action: impl Into<String>, outcome: Outcome) -> Self {
        AuditEvent {
            actor: "-".into(),
            ip: "-".into(),
            action: action.into(),
            target: String::new(),
            outcome,
            reason: String::new(),
            request_id: String::new(),
        }
    }
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }
    /// Client IP and request id of the request being served.
    pub fn context(mut self, ctx: &crate::state::RequestContext) -> Self {
        self.ip = ctx.client_ip.to_string();
        self.request_id = ctx.request_id.clone();
        self
    }
}

/// The longest text an audit field keeps, in bytes; longer text is cut at a character boundary
/// and ends with a marker saying how long it was.
pub const MAX_FIELD_BYTES: usize = 1024;

fn bounded(text: String) -> String {
    if text.len() <= MAX_FIELD_BYTES {
        return text;
    }
    let mut end = MAX_FIELD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[truncated, {} bytes in all]", &text[..end], text.len())
}

#[derive(Clone)]
pub struct Audit {
    db: Db,
    file: Option<Arc<Mutex<tokio::fs::File>>>,
}

impl Audit {
    /// `file` (AI_AUDIT_LOG_PATH) receives a copy of each JSON line when set.
    pub async fn new(db: Db, file: Option<PathBuf>) -> anyhow::Result<Audit> {
        let file = match file {
            Some(path) => {
                if let Some(parent) = path.parent()
                    && !parent.as_os_str().is_empty()
                {
                    tokio::fs::create_dir_all(parent).await?;
                }
                let f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(crate::store::private::FILE_MODE)
                    .open(&path)
                    .await?;
                // An existing file keeps the mode it was created with; the trail is private.
                crate::store::private::restrict_if_present(&path)?;
                Some(Arc::new(Mutex::new(f)))
            }
            None => None,
        };
        Ok(Audit { db, file })
    }

    /// Records an event. A storage failure is logged, never hidden and never
    /// turned into a failed request.
    pub async fn record(&self, event: AuditEvent) {
        // Bounded once here, so the row, the log line and the file carry the same text and one
        // request with a huge path cannot write megabytes to each of them.
        let mut row = AuditRow {
            id: 0,
            ts: now_ms(),
            actor: bounded(event.actor),
            ip: bounded(event.ip),
            action: bounded(event.action),
            target: bounded(event.target),
            outcome: event.outcome.as_str().into(),
            reason: bounded(event.reason),
            request_id: bounded(event.request_id),
        };
        // Stored first, so that the log line and the file carry the row's id (0 when storing failed).
        match self.db.insert_audit(&row).await {
            Ok(id) => row.id = id,
            Err(err) => {
                tracing::error!(error = %err, action = %row.action, "cannot store an audit row")
            }
        }
        tracing::info!(
            target: "audit",
            id = row.id,
            ts = row.ts,
            actor = %row.actor,
            ip = %row.ip,
            action = %row.action,
            audit_target = %row.target,
            outcome = %row.outcome,
            reason = %row.reason,
            request_id = %row.request_id,
            "audit"
        );
        if let Some(file) = &self.file {
            let mut line = serde_json::to_string(&row).unwrap_or_default();
            line.push('\n');
            let mut f = file.lock().await;
            if let Err(err) = f.write_all(line.as_bytes()).await {
                tracing::error!(error = %err, "cannot append to the audit log file");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fields_are_cut_at_a_character_boundary_with_a_marker() {
        assert_eq!(bounded("short".into()), "short");
        let exact = "x".repeat(MAX_FIELD_BYTES);
        assert_eq!(bounded(exact.clone()), exact);
        let long = format!("{}é{}", "a".repeat(MAX_FIELD_BYTES - 1), "b".repeat(5000));
        let cut = bounded(long.clone());
        assert!(cut.starts_with(&"a".repeat(MAX_FIELD_BYTES - 1)));
        assert!(!cut.contains('é'), "the split character is dropped whole");
        assert!(cut.ends_with(&format!("…[truncated, {} bytes in all]", long.len())));
        assert!(cut.len() < MAX_FIELD_BYTES + 64);
    }
}
