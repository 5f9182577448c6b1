//! `/api/conversations`: list, read, rename and delete stored conversations.
//! Users see their own; admins see all. Others' ids answer 404, never 403.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{AnyJson, Json, Path, Query};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::conversations;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/conversations", get(list_conversations))
        .route(
            "/api/conversations/{id}",
            get(get_conversation)
                .put(rename_conversation)
                .delete(delete_conversation),
        )
}

#[utoipa::path(get, path = "/api/conversations", tag = "conversations",
    params(("limit" = Option<i64>, Query, description = "1-100, default 20"), ("offset" = Option<i64>, Query)),
    responses((status = 200, description = "`{conversations, count}`, newest first; admins see all")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn list_conversations(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let number = |name: &str, default: i64, max: i64| -> ApiResult<i64> {
        match query.get(name) {
            None => Ok(default),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (0..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::Unprocessable(format!(
                    "{name} must be an integer between 0 and {max}"
                ))),
            },
        }
    };
    let limit = number("limit", 20, 100)?.max(1);
    let offset = number("offset", 0, i64::MAX)?;
    let owner = (!principal.is_admin()).then_some(principal.username.as_str());
    let list = state.db.list_conversations(owner, limit, offset).await?;
    Ok(Json(json!({"count": list.len(), "conversations": list})))
}

/// The conversation when `principal` may see it; 404 otherwise (others' ids are not confirmed).
async fn visible(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> ApiResult<conversations::Conversation> {
    state
        .db
        .get_conversation(id)
        .await?
        .filter(|c| conversations::visible_to(c, &principal.username, principal.is_admin()))
        .ok_or_else(|| ApiError::NotFound("Conversation not found".into()))
}

#[utoipa::path(get, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = String, Path)),
    responses((status = 200, description = "the conversation with its messages and uploaded files"), (status = 404, description = "not found or not yours")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn get_conversation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let conversation = visible(&state, &principal, &id).await?;
    let messages = state.db.messages(&conversation.id).await?;
    let mut body = serde_json::to_value(&conversation).map_err(ApiError::internal)?;
    body["messages"] = serde_json::to_value(messages).map_err(ApiError::internal)?;
    let uploads = state.db.conversation_uploads(&conversation.id).await?;
    body["uploads"] = serde_json::to_value(uploads).map_err(ApiError::internal)?;
    Ok(Json(body))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct RenameBody {
    title: String,
}

#[utoipa::path(put, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = String, Path)), request_body = RenameBody,
    responses((status = 200, description = "the renamed conversation"), (status = 404, description = "not found or not yours")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn rename_conversation(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(id): Path<String>,
    AnyJson(body): AnyJson<RenameBody>,
) -> ApiResult<Json<Value>> {
    let title = body.title.trim();
    if title.is_empty() {
        return Err(ApiError::Unprocessable("title must not be empty".into()));
    }
    let conversation = visible(&state, &principal, &id).await?;
    state
        .db
        .rename_conversation(&conversation.id, title)
        .await?;
    state
        .audit
        .record(
            AuditEvent::new("conversation.rename", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(conversation.id.clone()),
        )
        .await;
    let updated = visible(&state, &principal, &id).await?;
    Ok(Json(
        serde_json::to_value(updated).map_err(ApiError::internal)?,
    ))
}

#[utoipa::path(delete, path = "/api/conversations/{id}", tag = "conversations",
    params(("id" = String, Path)),
    responses((status = 200, description = "`{deleted: true, id}`"), (status = 404, description = "not found or not yours")),
    security(("bearer" = []), ("api_key" = [])))]
pub(super) async fn delete_conversation(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let conversation = visible(&state, &principal, &id).await?;
    state.db.delete_conversation(&conversation.id).await?;
    state
        .audit
        .record(
            AuditEvent::new("conversation.delete", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(conversation.id.clone()),
        )
        .await;
    Ok(Json(json!({"deleted": true, "id": conversation.id})))
}
