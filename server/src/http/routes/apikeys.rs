//! `/api/auth/apikeys`: keys carry at most their creator's scopes, are shown
//! once, and are stored as SHA-256.

use crate::http::extract::Json;
use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{AuthMethod, Principal, api_keys};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::rfc3339;
use crate::http::scopes::Scopes;
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::{ApiKeyRow, now_ms};

/// The longest lifetime a key can be given (ten years): far enough for any real rotation
/// schedule, near enough that every expiry is a representable time.
pub const MAX_LIFETIME_DAYS: u32 = 3650;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// Default: the creator's scopes. Never more than the creator holds.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Scopes>,
    /// Lifetime in days (1–3650); no expiry when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
    /// Absolute expiry (RFC 3339, at most 3650 days ahead); wins over `expires_in_days`.
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyOut {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Scopes,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key itself: shown only in this response.
    pub key: String,
    #[serde(flatten)]
    pub info: KeyOut,
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// Admins: list every user's keys.
    #[serde(default)]
    pub all: bool,
}

fn key_out(state: &AppState, k: &ApiKeyRow) -> KeyOut {
    let last_used = match (k.last_used_at, state.identities.pending_last_used(&k.id)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    KeyOut {
        id: k.id.clone(),
        name: k.name.clone(),
        owner: k.owner.clone(),
        prefix: k.prefix.clone(),
        scopes: k.scopes,
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: last_used.map(rfc3339),
        revoked: k.revoked,
    }
}

#[utoipa::path(post, path = "/api/auth/apikeys", tag = "apikeys", request_body = CreateKey,
    security(("bearer" = [])), responses((status = 201, body = CreatedKey),
        (status = 403, description = "scopes above your own, or not a password login")))]
pub async fn create_key(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Json(body): Json<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    if !matches!(
        principal.auth_method,
        AuthMethod::Jwt | AuthMethod::AuthDisabled
    ) {
        return Err(ApiError::Forbidden(
            "API keys can only be created after a password login".into(),
        ));
    }
    let name = body.name.trim().to_string();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::BadRequest("name must be 1-100 characters".into()));
    }
    let scopes = body.scopes.unwrap_or(principal.scopes);
    if scopes.is_empty() {
        return Err(ApiError::BadRequest("scopes must not be empty".into()));
    }
    if !scopes.within(principal.scopes) {
        return Err(ApiError::Forbidden(format!(
            "requested scopes [{}] exceed your own [{}]",
            scopes.to_db(),
            principal.scopes.to_db()
        )));
    }
    let now = now_ms();
    let expires_at = match (body.expires_at.as_deref(), body.expires_in_days) {
        (Some(text), _) => Some(
            text.parse::<jiff::Timestamp>()
                .map_err(|_| ApiError::BadRequest("expires_at must be an RFC 3339 time".into()))?
                .as_millisecond(),
        ),
        (None, Some(days)) if !(1..=MAX_LIFETIME_DAYS).contains(&days) => {
            return Err(ApiError::Unprocessable(format!(
                "expires_in_days must be between 1 and {MAX_LIFETIME_DAYS}"
            )));
        }
        (None, Some(days)) => Some(now + i64::from(days) * 86_400_000),
        (None, None) => None,
    };
    if expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::BadRequest(
            "the expiry must be in the future".into(),
        ));
    }
    if expires_at.is_some_and(|t| t > now + i64::from(MAX_LIFETIME_DAYS) * 86_400_000) {
        return Err(ApiError::Unprocessable(format!(
            "the expiry must be at most {MAX_LIFETIME_DAYS} days ahead"
        )));
    }
    let (key, hash, prefix) = api_keys::generate();
    let row = ApiKeyRow {
        id: api_keys::new_id(),
        name,
        owner: principal.username.clone(),
        key_hash: hash,
        prefix,
        scopes,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked: false,
    };
    state.db.insert_api_key(&row).await?;
    state.identities.put_key(&row);
    state
        .audit
        .record(
            AuditEvent::new("apikey.create", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(format!("key {} ({})", row.id, row.name))
                .reason(format!("scopes {}", scopes.to_db())),
        )
        .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            info: key_out(&state, &row),
        }),
    ))
}

#[utoipa::path(get, path = "/api/auth/apikeys", tag = "apikeys", security(("bearer" = []), ("api_key" = [])),
    params(("all" = Option<bool>, Query, description = "admins: every user's keys")),
    responses((status = 200, body = Vec<KeyOut>)))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<KeyOut>>> {
    let owner = if query.all && principal.is_admin() {
        None
    } else {
        Some(principal.username.as_str())
    };
    let keys = state.db.list_api_keys(owner).await?;
    Ok(Json(keys.iter().map(|k| key_out(&state, k)).collect()))
}

#[utoipa::path(delete, path = "/api/auth/apikeys/{id}", tag = "apikeys", params(("id" = String, Path)),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "revoked"), (status = 404, description = "no such key of yours")))]
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let key = state
        .db
        .get_api_key(&id)
        .await?
        .filter(|k| k.owner == principal.username || principal.is_admin())
        .ok_or_else(|| ApiError::NotFound(format!("API key {id:?} not found")))?;
    state.db.revoke_api_key(&key.id).await?;
    state.identities.remove_key(&key.id);
    state
        .audit
        .record(
            AuditEvent::new("apikey.revoke", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(format!("key {} ({}) of {}", key.id, key.name, key.owner)),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/apikeys", get(list_keys).post(create_key))
        .route("/api/auth/apikeys/{id}", delete(revoke_key))
}
