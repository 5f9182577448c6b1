//! The conversation store on every backend (SQLite, and PostgreSQL when
//! `AI_TEST_DATABASE_URL` is set): a turn with a tool call is stored whole,
//! listed, renamed and deleted with its messages.

use crate::support::{agent_server, backends, llm_stub};
use agent_server::AgentServer;
use llm_stub::{LlmStub, Turn};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn conversations_round_trip_on_every_backend() {
    for backend in backends::all().await {
        let name = backend.name();
        let stub = LlmStub::start(vec![]).await;
        let probe = tempfile::tempdir().expect("tempdir");
        let url = backend.url(probe.path());
        let server = AgentServer::start(&stub.url, &[("AI_DATABASE_URL", url.as_str())]).await;
        let data = server.data_root();
        std::fs::write(data.join("notes.md"), "# notes\n").expect("write");
        stub.push(Turn::call(
            "read_file",
            json!({"path": data.join("notes.md").display().to_string()}),
        ));
        stub.push(Turn::text("It is a heading."));

        let (status, body) = server
            .chat(&server.admin, json!({"message": "what is in notes.md?"}))
            .await;
        assert_eq!(status, 200, "{name}: {body}");
        let id = body["conversation_id"].as_str().expect("id").to_string();
        let path = format!("/api/conversations/{id}");

        let (status, conversation) = server.get(&path, &server.admin).await;
        assert_eq!(status, 200, "{name}: {conversation}");
        let messages = conversation["messages"].as_array().expect("messages");
        let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "assistant"], "{name}");
        assert_eq!(messages[1]["tool_calls"][0]["name"], "read_file", "{name}");
        assert_eq!(
            messages[2]["tool_calls"]["result"]["content"], "# notes\n",
            "{name}"
        );
        assert_eq!(messages[3]["model_used"], "llama3.1:8b", "{name}");
        assert!(
            messages
                .windows(2)
                .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64()),
            "{name}"
        );

        let (status, _) = server
            .send(
                Method::PUT,
                &path,
                &server.admin,
                Some(json!({"title": "Notes"})),
            )
            .await;
        assert_eq!(status, 200, "{name}");
        let (_, list) = server.get("/api/conversations", &server.admin).await;
        assert_eq!(list["conversations"][0]["title"], "Notes", "{name}");
        assert_eq!(
            server
                .send(Method::DELETE, &path, &server.admin, None)
                .await
                .0,
            200,
            "{name}"
        );
        assert_eq!(server.get(&path, &server.admin).await.0, 404, "{name}");
        let (_, list) = server.get("/api/conversations", &server.admin).await;
        assert_eq!(list["count"], 0, "{name}");
    }
}
