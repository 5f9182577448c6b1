//! `/api/auth/users` (admin): create, list, disable, change scopes, reset password, delete.

use crate::http::extract::Json;
use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Principal, passwords};
use crate::http::error::{ApiError, ApiResult};
use crate::http::routes::rfc3339;
use crate::http::scopes::{Scope, Scopes};
use crate::state::{AppState, RequestContext};
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::db::{OwnedData, UserRow, now_ms};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    /// Default: `["read"]`.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Scopes>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub disabled: Option<bool>,
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Scopes>,
    /// A new password (a reset); every refresh token of the user is revoked.
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub username: String,
    #[schema(value_type = Vec<String>)]
    pub scopes: Scopes,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserRow> for UserOut {
    fn from(u: &UserRow) -> Self {
        UserOut {
            username: u.username.clone(),
            scopes: u.scopes,
            disabled: u.disabled,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

pub fn validate_username(name: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-@".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "username must be 1-64 characters of letters, digits, '.', '_', '-', '@'".into(),
        ))
    }
}

#[utoipa::path(post, path = "/api/auth/users", tag = "users", request_body = CreateUser,
    security(("bearer" = [])), responses((status = 201, body = UserOut), (status = 409, description = "name taken")))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Json(body): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<UserOut>)> {
    principal.require(Scope::Admin)?;
    validate_username(&body.username)?;
    passwords::validate_new(&body.password)?;
    let scopes = body.scopes.unwrap_or(Scopes::of([Scope::Read]));
    if scopes.is_empty() {
        return Err(ApiError::BadRequest("scopes must not be empty".into()));
    }
    let now = now_ms();
    let user = UserRow {
        uid: crate::store::db::new_user_id(),
        token_generation: 0,
        username: body.username.clone(),
        password_hash: passwords::hash(&state.hash_pool, body.password).await?,
        scopes,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    if !state.db.insert_user(&user).await? {
        return Err(ApiError::Conflict(format!(
            "user {:?} already exists",
            user.username
        )));
    }
    state.identities.put_user(&user);
    state
        .audit
        .record(
            AuditEvent::new("user.create", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(&user.username)
                .reason(format!("scopes {}", scopes.to_db())),
        )
        .await;
    Ok((StatusCode::CREATED, Json(UserOut::from(&user))))
}

#[utoipa::path(get, path = "/api/auth/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Vec<UserOut>)))]
pub async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<UserOut>>> {
    principal.require(Scope::Admin)?;
    Ok(Json(
        state
            .db
            .list_users()
            .await?
            .iter()
            .map(UserOut::from)
            .collect(),
    ))
}

#[utoipa::path(patch, path = "/api/auth/users/{username}", tag = "users", request_body = UpdateUser,
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserOut), (status = 404, description = "no such user")))]
pub async fn update_user(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(username): Path<String>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Json<UserOut>> {
    principal.require(Scope::Admin)?;
    let mut user = state
        .db
        .get_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username:?} not found")))?;
    let own = username == principal.username;
    let mut changes = Vec::new();
    if let Some(disabled) = body.disabled {
        if own && disabled {
            return Err(ApiError::BadRequest("you cannot disable yourself".into()));
        }
        user.disabled = disabled;
        changes.push(if disabled {
            "disabled".to_string()
        } else {
            "enabled".to_string()
        });
    }
    if let Some(scopes) = body.scopes {
        if scopes.is_empty() {
            return Err(ApiError::BadRequest("scopes must not be empty".into()));
        }
        if own && !scopes.has(Scope::Admin) {
            return Err(ApiError::BadRequest(
                "you cannot remove your own admin scope".into(),
            ));
        }
        user.scopes = scopes;
        changes.push(format!("scopes {}", scopes.to_db()));
    }
    let password_reset = body.password.is_some();
    if let Some(password) = body.password {
        passwords::validate_new(&password)?;
        user.password_hash = passwords::hash(&state.hash_pool, password).await?;
        changes.push("password reset".into());
    }
    user.updated_at = now_ms();
    if password_reset || body.disabled == Some(true) {
        // Access tokens issued before stop working at once.
        user.token_generation += 1;
    }
    if !state.db.update_user(&user).await? {
        return Err(ApiError::NotFound(format!("user {username:?} not found")));
    }
    state.identities.put_user(&user);
    if password_reset {
        // The flagged weak hash is no longer the current one.
        state.identities.set_must_change_password(&username, false);
    }
    if user.disabled || password_reset {
        state.db.revoke_refresh_for_user(&username).await?;
    }
    state
        .audit
        .record(
            AuditEvent::new("user.update", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(&username)
                .reason(changes.join(", ")),
        )
        .await;
    Ok(Json(UserOut::from(&user)))
}

/// What to do with the conversations of the user being deleted.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `delete` (default) or `reassign`.
    pub conversations: Option<String>,
    /// With `conversations=reassign`: the existing user who receives them.
    pub to: Option<String>,
}

#[utoipa::path(delete, path = "/api/auth/users/{username}", tag = "users",
    params(("username" = String, Path), DeleteQuery), security(("bearer" = [])),
    responses((status = 204, description = "deleted with its keys and tokens; its conversations deleted or handed over"),
        (status = 404, description = "no such user"), (status = 422, description = "bad conversations/to")))]
pub async fn delete_user(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(username): Path<String>,
    Query(query): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Admin)?;
    if username == principal.username {
        return Err(ApiError::BadRequest("you cannot delete yourself".into()));
    }
    let owned = match (query.conversations.as_deref(), query.to) {
        (None | Some("delete"), None) => OwnedData::Delete,
        (Some("reassign"), Some(heir)) => {
            if heir == username || state.db.get_user(&heir).await?.is_none() {
                return Err(ApiError::Unprocessable(format!(
                    "cannot hand the conversations to {heir:?}: name another existing user"
                )));
            }
            OwnedData::ReassignTo(heir)
        }
        (Some("reassign"), None) => {
            return Err(ApiError::Unprocessable(
                "conversations=reassign needs to=<username>".into(),
            ));
        }
        _ => {
            return Err(ApiError::Unprocessable(
                "conversations must be `delete` (the default) or `reassign` with to=<username>"
                    .into(),
            ));
        }
    };
    if !state.db.delete_user(&username, &owned).await? {
        return Err(ApiError::NotFound(format!("user {username:?} not found")));
    }
    let fate = match &owned {
        OwnedData::Delete => "conversations deleted".to_string(),
        OwnedData::ReassignTo(heir) => format!("conversations handed to {heir}"),
    };
    state.identities.remove_user(&username);
    state
        .audit
        .record(
            AuditEvent::new("user.delete", Outcome::Success)
                .context(&ctx)
                .actor(principal.actor())
                .target(&username)
                .reason(fate),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The body v3.0's `PUT /api/auth/users/{username}` took; fields it did not know are ignored, as there.
#[derive(Deserialize, ToSchema)]
pub struct V3UserUpdate {
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// A new password (a reset); every refresh token of the user is revoked.
    pub password: Option<String>,
    pub disabled: Option<bool>,
    /// Adds or removes the `admin` scope.
    pub is_admin: Option<bool>,
    pub scopes: Option<Vec<String>>,
}

#[utoipa::path(put, path = "/api/auth/users/{username}", tag = "users", request_body = V3UserUpdate,
    params(("username" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserOut, description = "the user, with `email` and `full_name`"),
        (status = 400, description = "an unknown scope, a short password, or a change to yourself that would lock you out"),
        (status = 404, description = "no such user")))]
pub async fn replace_user(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    principal: Principal,
    Path(username): Path<String>,
    Json(body): Json<V3UserUpdate>,
) -> ApiResult<Json<serde_json::Value>> {
    principal.require(Scope::Admin)?;
    for (name, value) in [("email", &body.email), ("full_name", &body.full_name)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > 200) {
            return Err(ApiError::BadRequest(format!(
                "{name} must be at most 200 characters"
            )));
        }
    }
    let current = state
        .db
        .get_user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username:?} not found")))?;
    let mut scopes = match &body.scopes {
        Some(names) => Some(Scopes::parse_names(names).map_err(ApiError::BadRequest)?),
        None => None,
    };
    if let Some(admin) = body.is_admin {
        let base = scopes.unwrap_or(current.scopes);
        scopes = Some(if admin {
            Scopes::of(base.iter().chain([Scope::Admin]))
        } else {
            Scopes::of(base.iter().filter(|s| *s != Scope::Admin))
        });
    }
    let update = UpdateUser {
        disabled: body.disabled,
        scopes,
        password: body.password,
    };
    let Json(user) = update_user(
        State(state.clone()),
        Extension(ctx),
        principal,
        Path(username.clone()),
        Json(update),
    )
    .await?;
    if body.email.is_some() || body.full_name.is_some() {
        state
            .db
            .update_profile(&username, body.email.as_deref(), body.full_name.as_deref())
            .await?;
    }
    let (email, full_name) = state.db.get_profile(&username).await?;
    let mut out = serde_json::to_value(user).map_err(ApiError::internal)?;
    out["email"] = serde_json::json!(email);
    out["full_name"] = serde_json::json!(full_name);
    Ok(Json(out))
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/users", get(list_users).post(create_user))
        .route(
            "/api/auth/users/{username}",
            patch(update_user).put(replace_user).delete(delete_user),
        )
}
