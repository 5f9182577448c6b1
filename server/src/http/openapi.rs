//! The OpenAPI document served at `/api/openapi.json`.

use crate::http::extract::Json;
use axum::routing::get;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::routes;
use crate::state::AppState;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "ai-orchestrator", description = "AI-agent backend whose tools act only as a policy allows."),
    paths(
        crate::http::console::root,
        routes::health::health,
        routes::health::ready,
        routes::health::metrics,
        routes::auth::login,
        routes::auth::refresh_tokens,
        routes::auth::logout,
        routes::auth::me,
        routes::password::change_password,
        routes::users::create_user,
        routes::users::list_users,
        routes::users::update_user,
        routes::users::replace_user,
        routes::users::delete_user,
        routes::apikeys::create_key,
        routes::apikeys::list_keys,
        routes::apikeys::revoke_key,
        routes::security::config,
        routes::security::rate_limit_stats,
        routes::audit::list,
        routes::policy::check,
        crate::http::console::session::login,
        crate::http::console::session::refresh,
        crate::http::console::session::logout,
        routes::stats::stats,
        routes::upload::upload,
        openapi_json,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health"), (name = "auth"), (name = "users", description = "admin only"),
        (name = "apikeys"), (name = "security", description = "admin only"),
        (name = "console", description = "the web console's cookie-held session"),
    )
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/api/openapi.json", tag = "health", responses((status = 200, description = "this document")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// The whole API: the security routes, the agent routes and the `/v1` door in one document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::http::routes::agent_doc::AgentApiDoc::openapi());
    doc.merge(crate::http::openai::OpenAiDoc::openapi());
    doc
}

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/api/openapi.json", get(openapi_json))
}

#[cfg(test)]
mod tests {
    /// The v3 routes kept for upgrading users are described like the others.
    #[test]
    fn the_v3_routes_are_documented() {
        let doc = serde_json::to_value(super::document()).expect("json");
        for (method, path) in [
            ("get", "/"),
            ("get", "/api/stats"),
            ("post", "/api/upload"),
            ("put", "/api/auth/users/{username}"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} is missing from the OpenAPI document"
            );
        }
    }
}
