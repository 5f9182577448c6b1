//! The authenticated caller of a request, and how it is established from
//! `Authorization: Bearer <jwt|ak_...>` or `X-API-Key: ak_...`.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::Serialize;

use crate::auth::api_keys;
use crate::http::error::ApiError;
use crate::http::scopes::{Scope, Scopes};
use crate::state::AppState;
use crate::store::db::now_ms;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    Jwt,
    ApiKey,
    DeclaredApiKey,
    /// `AI_AUTH_ENABLED=false`: every request acts as the admin.
    AuthDisabled,
}

#[derive(Clone, Debug, Serialize)]
pub struct Principal {
    pub username: String,
    /// Effective scopes: the credential's, cut down to what the user holds now.
    pub scopes: Scopes,
    pub auth_method: AuthMethod,
    /// The API key id, for key-authenticated requests.
    pub key_id: Option<String>,
}

impl Principal {
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.has(scope)
    }

    /// 403 naming the scope when it is missing.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "Missing required scope: {scope}"
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.has_scope(Scope::Admin)
    }

    /// The audit actor: the username for a user's own credentials (the same
    /// form the login events record), `key:<id>` for an API key.
    pub fn actor(&self) -> String {
        match &self.key_id {
            Some(id) => format!("key:{id}"),
            None => self.username.clone(),
        }
    }

    /// The identity rate limits and MCP sessions are keyed by.
    pub fn identity(&self) -> String {
        match &self.key_id {
            Some(id) => format!("key:{id}"),
            None => format!("user:{}", self.username),
        }
    }
}

/// The result of looking at a request's credentials, stored in its extensions.
#[derive(Clone, Debug)]
pub enum AuthOutcome {
    Anonymous,
    Authenticated(Principal),
    /// Credentials were sent but refused; the reason never contains them.
    Refused(&'static str),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Looks at the credentials of a request; cheap (an HMAC or a SHA-256 and map lookups).
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> AuthOutcome {
    if !state.settings.auth_enabled {
        return AuthOutcome::Authenticated(Principal {
            username: "admin".into(),
            scopes: Scopes::ADMIN,
            auth_method: AuthMethod::AuthDisabled,
            key_id: None,
        });
    }
    if let Some(value) = headers.get("x-api-key") {
        return match value.to_str() {
            Ok(key) => api_key(state, key.trim()),
            Err(_) => AuthOutcome::Refused("malformed API key"),
        };
    }
    if headers.contains_key(axum::http::header::AUTHORIZATION) {
        return match bearer(headers) {
            Some(token) if api_keys::looks_like_key(token) => api_key(state, token),
            Some(token) => access_token(state, token),
            None => AuthOutcome::Refused("unsupported authorization scheme"),
        };
    }
    AuthOutcome::Anonymous
}

/// A credential given outside the headers (the `?token=` of a WebSocket
/// upgrade, which browsers cannot send headers with): a JWT or an `ak_` key.
pub fn authenticate_token(state: &AppState, token: &str) -> AuthOutcome {
    if !state.settings.auth_enabled {
        return authenticate(state, &HeaderMap::new());
    }
    if api_keys::looks_like_key(token) {
        api_key(state, token)
    } else {
        access_token(state, token)
    }
}

fn access_token(state: &AppState, token: &str) -> AuthOutcome {
    let snapshot = state.snapshot();
    let claims = match snapshot
        .jwt_cache
        .verify(&snapshot.jwt, &state.settings.jwt, token)
    {
        Ok(claims) => claims,
        Err(err) => return AuthOutcome::Refused(err.as_str()),
    };
    let Some(user) = state.identities.user(&claims.sub) else {
        return AuthOutcome::Refused("user no longer exists");
    };
    if user.disabled {
        return AuthOutcome::Refused("user disabled");
    }
    if !user.accepts(&claims.uid, claims.generation) {
        // Another user of the same name, or a password change / disable since the token.
        return AuthOutcome::Refused("token no longer valid for this user");
    }
    AuthOutcome::Authenticated(Principal {
        username: claims.sub,
        scopes: claims.scopes.intersect(user.scopes),
        auth_method: AuthMethod::Jwt,
        key_id: None,
    })
}

fn api_key(state: &AppState, key: &str) -> AuthOutcome {
    if !api_keys::looks_like_key(key) {
        return AuthOutcome::Refused("malformed API key");
    }
    let hash = api_keys::hash_key(key);
    let now = now_ms();
    if let Some(stored) = state.identities.key(&hash) {
        if stored.expires_at.is_some_and(|t| t <= now) {
            return AuthOutcome::Refused("API key expired");
        }
        let Some(owner) = state.identities.user(&stored.owner) else {
            return AuthOutcome::Refused("API key owner no longer exists");
        };
        if owner.disabled {
            return AuthOutcome::Refused("API key owner disabled");
        }
        stored.touch(now);
        return AuthOutcome::Authenticated(Principal {
            username: stored.owner,
            scopes: stored.scopes.intersect(owner.scopes),
            auth_method: AuthMethod::ApiKey,
            key_id: Some(stored.id),
        });
    }
    let snapshot = state.snapshot();
    if let Some(declared) = snapshot.declared_keys.get(&hash) {
        if declared.expires_at.is_some_and(|t| t <= now) {
            return AuthOutcome::Refused("API key expired");
        }
        // `declared:` cannot start a username (':' is not allowed in one), so a declared key
        // never acts as, lists for or revokes on behalf of a user who shares its name.
        return AuthOutcome::Authenticated(Principal {
            username: format!("declared:{}", declared.name),
            scopes: declared.scopes,
            auth_method: AuthMethod::DeclaredApiKey,
            key_id: Some(format!("declared:{}", declared.name)),
        });
    }
    AuthOutcome::Refused("unknown API key")
}

/// Handlers take `Principal` to require authentication; the scope check
/// layer has already turned refused or missing credentials into a 401.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<AuthOutcome>() {
            Some(AuthOutcome::Authenticated(p)) => Ok(p.clone()),
            Some(AuthOutcome::Refused(_)) => Err(ApiError::Unauthorized(
                "Could not validate credentials".into(),
            )),
            _ => Err(ApiError::unauthorized()),
        }
    }
}
