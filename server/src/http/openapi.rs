//! The OpenAPI document served at `/api/openapi.json`.

use crate::http::extract::Json;
use axum::http::Method;
use axum::routing::get;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

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

/// The whole API: the security routes, the agent routes and the `/v1` door in one document,
/// with the answers every route shares.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::http::routes::agent_doc::AgentApiDoc::openapi());
    doc.merge(crate::http::openai::OpenAiDoc::openapi());
    CommonResponses.modify(&mut doc);
    doc
}

/// The body of every error answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// What went wrong, for a person to read.
    detail: String,
}

/// Adds to every operation the answers the layers in front of its handler can give, so route
/// annotations list only their handler's own: 401/403 from authentication and the scope check
/// (by the route table in [`crate::http::scopes`]), 429 from the rate limiter, 400/413/415/422
/// from the body and parameter extractors, 503 at the connection limit.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert(
            "ErrorDetail".into(),
            <ErrorDetail as utoipa::PartialSchema>::schema(),
        );
        let mut seen_ids = std::collections::HashSet::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                add_common(path, &method, operation);
                unique_operation_id(&mut seen_ids, operation);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, item.get.as_mut()),
        (Method::PUT, item.put.as_mut()),
        (Method::POST, item.post.as_mut()),
        (Method::DELETE, item.delete.as_mut()),
        (Method::PATCH, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// Operation ids are handler names, which repeat across modules (`login`); a repeated one is
/// prefixed with the operation's first tag (`console_login`), as the OpenAPI rules require.
fn unique_operation_id(seen: &mut std::collections::HashSet<String>, operation: &mut Operation) {
    let Some(id) = operation.operation_id.clone() else {
        return;
    };
    let mut unique = id.clone();
    if seen.contains(&unique) {
        let tag = operation
            .tags
            .as_ref()
            .and_then(|tags| tags.first())
            .cloned()
            .unwrap_or_else(|| "op".into());
        unique = format!("{tag}_{id}");
        let mut n = 2;
        while seen.contains(&unique) {
            unique = format!("{tag}_{id}_{n}");
            n += 1;
        }
        operation.operation_id = Some(unique.clone());
    }
    seen.insert(unique);
}

fn add_common(path: &str, method: &Method, operation: &mut Operation) {
    use crate::http::scopes::{RouteAccess, access_for};
    let access = access_for(method, path);
    let mut add = |status: &str, description: &str| {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(path, description));
    };
    if access != RouteAccess::Public {
        add("401", "no valid credentials");
    }
    if matches!(access, RouteAccess::Scope(_)) {
        add("403", "the credentials lack the route's scope");
    }
    add("429", "rate limited (`Retry-After` says when to retry)");
    add(
        "503",
        "the server is at its connection limit (`Retry-After`)",
    );
    let has_params = operation
        .parameters
        .as_ref()
        .is_some_and(|params| !params.is_empty());
    if operation.request_body.is_some() {
        add("400", "the body is not valid JSON (or form)");
        add("413", "the body is too large");
        add("415", "the body's content type is not accepted");
        add("422", "the body does not match the schema");
    }
    if has_params {
        add("400", "a parameter is not valid");
        add("422", "a parameter is out of its range");
    }
    if access != RouteAccess::Public && operation.security.is_none() {
        operation.security = Some(vec![
            SecurityRequirement::new("bearer", Vec::<String>::new()),
            SecurityRequirement::new("api_key", Vec::<String>::new()),
        ]);
    }
}

/// An error answer: `{"detail"}`, except on the OpenAI-compatible routes, which speak
/// OpenAI's error shape and document it themselves.
fn error_response(path: &str, description: &str) -> RefOr<utoipa::openapi::Response> {
    let builder = ResponseBuilder::new().description(description);
    let builder = if path.starts_with("/v1/") {
        builder
    } else {
        builder.content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorDetail")))
                .build(),
        )
    };
    RefOr::T(builder.build())
}

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/api/openapi.json", get(openapi_json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::to_value(document()).unwrap_or_default()
    }

    #[test]
    fn path_parameters_are_in_the_template_and_ids_are_unique() {
        let doc = doc();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                for param in op["parameters"].as_array().into_iter().flatten() {
                    if param["in"] == "path" {
                        let name = param["name"].as_str().unwrap_or_default();
                        assert!(
                            path.contains(&format!("{{{name}}}")),
                            "{method} {path}: path parameter {name} is not in the path"
                        );
                    }
                }
                let id = op["operationId"].as_str().unwrap_or_default().to_string();
                assert!(ids.insert(id.clone()), "operation id {id} repeats");
            }
        }
        let audit = &doc["paths"]["/api/audit"]["get"]["parameters"];
        assert!(
            audit
                .as_array()
                .is_some_and(|ps| ps.iter().all(|p| p["in"] == "query"))
        );
    }

    #[test]
    fn every_operation_lists_the_answers_of_the_layers_in_front() {
        let doc = doc();
        let responses = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default()
        };
        for status in ["401", "403", "429", "503", "400", "422"] {
            assert!(
                responses("/api/audit", "get").contains(&status.to_string()),
                "{status}"
            );
        }
        let login = responses("/api/auth/login", "post");
        assert!(login.contains(&"422".to_string()) && login.contains(&"415".to_string()));
        assert!(!responses("/health", "get").contains(&"401".to_string()));
        assert!(
            doc["paths"]["/api/auth/login"]["post"]["requestBody"]["content"]["application/json"]
                .is_object(),
            "login documents its JSON body"
        );
        assert_eq!(
            doc["components"]["schemas"]["ErrorDetail"]["required"][0],
            "detail"
        );
    }

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
