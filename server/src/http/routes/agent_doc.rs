//! The agent routes in the OpenAPI document (merged into the server's document).

use super::{chat, conversations, models, tools, ws};

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        tools::list_tools,
        tools::call_tool,
        chat::chat,
        ws::ws_chat,
        models::list_models,
        conversations::list_conversations,
        conversations::get_conversation,
        conversations::rename_conversation,
        conversations::delete_conversation
    ),
    tags((name = "agent", description = "tools, chat and models"), (name = "conversations"))
)]
pub struct AgentApiDoc;

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    #[test]
    fn the_openapi_fragment_lists_every_agent_route() {
        let doc = serde_json::to_value(AgentApiDoc::openapi()).expect("json");
        for path in [
            "/tools",
            "/api/tools/{name}",
            "/api/chat",
            "/ws/chat",
            "/api/models",
            "/api/conversations",
        ] {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        let one = &doc["paths"]["/api/conversations/{id}"];
        assert!(one["get"].is_object() && one["put"].is_object() && one["delete"].is_object());
    }
}
