//! `POST /api/upload`: a file for the agent to work on, as v3.0 accepted it
//! (multipart, field `file`, optional `conversation_id`). The file is stored in
//! the upload directory under a name the server chooses, only when that
//! directory is one the policy lets the agent write (otherwise uploads are off
//! and the answer says why), and never beyond `AI_MAX_UPLOAD_SIZE`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Extension, Router};
use sha2::Digest;
use tokio::io::AsyncWriteExt;

use crate::auth::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{Json, Query};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::conversations;
use crate::store::db::now_ms;
use crate::store::uploads::{self, Upload};

/// Room for the multipart framing and small fields around the file.
const FORM_OVERHEAD: u64 = 64 * 1024;

/// Removes a partly written file unless it was kept.
struct Partial(Option<PathBuf>);

impl Partial {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

struct Received {
    partial: Partial,
    tmp: PathBuf,
    filename: String,
    content_type: String,
    size: u64,
    sha256: String,
}

fn too_large(max: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the file is larger than the upload limit of {max} bytes (AI_MAX_UPLOAD_SIZE)"
    ))
}

fn form_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("the multipart form cannot be read: {e}"))
}

/// Whether uploads are on: the directory must be a write root of the policy in force.
fn check_enabled(state: &AppState, dir: &Path) -> ApiResult<()> {
    let decision = state
        .snapshot()
        .policy
        .check_path(dir, policy::Access::Write);
    if decision.allowed {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "uploads are disabled on this server: the upload directory {} (AI_UPLOAD_DIR) is not writable under the policy ({}); \
         add it to paths.write to turn uploads on",
        dir.display(),
        decision.reason
    )))
}

async fn receive_file(
    mut field: axum::extract::multipart::Field<'_>,
    dir: &Path,
    id: &str,
    max: u64,
) -> ApiResult<Received> {
    let filename = uploads::sanitize_filename(field.file_name().unwrap_or("upload"));
    let content_type = field
        .content_type()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or("application/octet-stream")
        .to_string();
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| ApiError::internal(format!("cannot create the upload directory: {e}")))?;
    let tmp = dir.join(format!(".upload-{id}.partial"));
    let partial = Partial(Some(tmp.clone()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .await
        .map_err(|e| ApiError::internal(format!("cannot create an upload file: {e}")))?;
    let mut hasher = sha2::Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("cannot write an upload file: {e}")))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::internal(format!("cannot write an upload file: {e}")))?;
    Ok(Received {
        partial,
        tmp,
        filename,
        content_type,
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

#[utoipa::path(post, path = "/api/upload", tag = "conversations",
    request_body(content_type = "multipart/form-data",
        description = "`file`: the file; `conversation_id` (form field or query): the conversation it belongs to"),
    params(("conversation_id" = Option<String>, Query)),
    responses((status = 201, body = Upload, description = "stored; listed in its conversation"),
        (status = 400, description = "not a multipart form, or no `file` field"),
        (status = 403, description = "the policy refuses the file's name (a deny glob), or uploads are disabled: the upload directory is not a write root of the policy"),
        (status = 404, description = "no such conversation (or not yours)"),
        (status = 413, description = "larger than AI_MAX_UPLOAD_SIZE")),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Upload>)> {
    let max = state.settings.agent.max_upload_size;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large(max));
    }
    let mut multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "expected a multipart/form-data body with a `file` field: {e}"
        ))
    })?;
    // Before anything is written: the policy decides whether uploads are on.
    let dir = state.settings.agent.upload_dir.clone();
    check_enabled(&state, &dir)?;

    let id = uploads::new_id();
    let mut conversation_id = query.get("conversation_id").cloned();
    let mut received: Option<Received> = None;
    while let Some(field) = multipart.next_field().await.map_err(form_error)? {
        match field.name() {
            Some("file") if received.is_none() => {
                received = Some(receive_file(field, &dir, &id, max).await?);
            }
            Some("file") => {
                return Err(ApiError::BadRequest(
                    "one file per request: the form has more than one `file` field".into(),
                ));
            }
            Some("conversation_id") => {
                let text = field.text().await.map_err(form_error)?;
                if text.len() > 200 {
                    return Err(ApiError::BadRequest("conversation_id is too long".into()));
                }
                conversation_id = Some(text);
            }
            // Other fields are not used; reading on skips them.
            _ => {}
        }
    }
    let Some(file) = received else {
        return Err(ApiError::BadRequest(
            "the form has no `file` field (send the file as multipart/form-data field `file`)"
                .into(),
        ));
    };

    let conversation_id = conversation_id
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if let Some(cid) = &conversation_id {
        state
            .db
            .get_conversation(cid)
            .await?
            .filter(|c| conversations::visible_to(c, &principal.username, principal.is_admin()))
            .ok_or_else(|| ApiError::NotFound("Conversation not found".into()))?;
    }

    let stored_name = uploads::stored_name(&id, &file.filename);
    let dest = dir.join(&stored_name);
    // The name itself may be refused (a deny glob such as **/*.pem).
    let decision = state
        .snapshot()
        .policy
        .check_path(&dest, policy::Access::Write);
    if !decision.allowed {
        return Err(ApiError::Forbidden(format!(
            "the policy refuses to store a file named {:?}: {}",
            file.filename, decision.reason
        )));
    }
    tokio::fs::rename(&file.tmp, &dest)
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the upload: {e}")))?;
    file.partial.keep();
    let stored = Partial(Some(dest));
    let row = Upload {
        id,
        owner: principal.username.clone(),
        conversation_id,
        filename: file.filename,
        stored_name,
        content_type: file.content_type,
        size: file.size as i64,
        sha256: file.sha256,
        created_at: now_ms(),
    };
    state.db.insert_upload(&row).await?;
    stored.keep();
    state
        .audit
        .record(
            AuditEvent::new("upload", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(row.id.clone())
                .reason(format!("{} ({} bytes)", row.filename, row.size)),
        )
        .await;
    Ok((StatusCode::CREATED, Json(row)))
}

pub fn router() -> Router<AppState> {
    // The size is enforced while the file streams in, against AI_MAX_UPLOAD_SIZE.
    Router::new().route(
        "/api/upload",
        post(upload).layer(DefaultBodyLimit::disable()),
    )
}
