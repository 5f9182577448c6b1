//! The v3.0 routes this server keeps: `GET /`, `GET /api/stats`,
//! `POST /api/upload` and `PUT /api/auth/users/{username}`, on the real binary.

use serde_json::{Value, json};

use crate::support::llm_stub::{LlmStub, Turn};
use crate::support::{ServerBuilder, TestServer};

/// A multipart/form-data body with a file field and optional text fields.
pub fn multipart(file_name: &str, contents: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "----aio-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(contents);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn upload(
    server: &TestServer,
    token: &str,
    file_name: &str,
    contents: &[u8],
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let (content_type, body) = multipart(file_name, contents, fields);
    server
        .post("/api/upload")
        .bearer(token)
        .header("Content-Type", content_type)
        .body(body)
        .fetch()
        .await
}

/// A policy whose write roots include the server's upload directory.
fn upload_policy(uploads: &std::path::Path) -> String {
    format!(
        "version: 1
paths:
  read: [{0}]
  write: [{0}]
  deny: [\"**/*.pem\"]
rateLimits:
  default: {{requests: 100000, per: 1m}}
  routes:
    /api/auth/login: {{requests: 100000, per: 1m}}
",
        uploads.display()
    )
}

#[tokio::test]
async fn service_info_and_stats() {
    let server = ServerBuilder::default()
        .env("AI_APP_NAME", "Ops Assistant")
        .start()
        .await;
    let (status, info) = server.get("/").header("Accept", "*/*").fetch().await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["name"], json!("Ops Assistant"));
    assert_eq!(info["version"], json!(env!("CARGO_PKG_VERSION")));
    assert!(info["tools"].as_u64().unwrap() >= 3, "{info}");

    assert_eq!(server.get("/api/stats").fetch().await.0, 401);
    let admin = server.admin().await;
    let (status, stats) = server.get("/api/stats").bearer(&admin).fetch().await;
    assert_eq!(status, 200, "{stats}");
    assert!(
        stats["memory"]["total_bytes"].as_u64().unwrap() > 0,
        "{stats}"
    );
    assert!(
        stats["disk"]["total_bytes"].as_u64().unwrap() > 0,
        "{stats}"
    );
    let cpu = stats["cpu"]["percent"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&cpu), "{stats}");
    assert!(stats["uptime_seconds"].as_f64().unwrap() > 0.0);
    // Cached: a second reading right away is the same one.
    let (_, again) = server.get("/api/stats").bearer(&admin).fetch().await;
    assert_eq!(again["measured_at"], stats["measured_at"]);
}

#[tokio::test]
async fn put_user_takes_the_v3_body() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    server
        .create_user(&admin, "dana", "dana-first-passphrase", &["read"])
        .await;
    // v3 clients send the user back with fields this server does not keep; they are ignored.
    let (status, body) = server
        .put("/api/auth/users/dana")
        .bearer(&admin)
        .json(&json!({
            "id": 7, "username": "dana", "email": "dana@example.org", "full_name": "Dana D.",
            "scopes": ["read", "write"], "is_admin": false, "password": "dana-second-passphrase"
        }))
        .fetch()
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scopes"], json!(["read", "write"]));
    assert_eq!(body["email"], json!("dana@example.org"));
    assert_eq!(body["full_name"], json!("Dana D."));
    let me = server.login("dana", "dana-second-passphrase").await.access;
    assert_eq!(
        server.get_json("/api/auth/me", &me).await["scopes"],
        json!(["read", "write"])
    );
    assert_eq!(
        server
            .put("/api/auth/users/dana")
            .bearer(&me)
            .json(&json!({"disabled": false}))
            .fetch()
            .await
            .0,
        403,
        "admin only"
    );
    let (status, body) = server
        .put("/api/auth/users/dana")
        .bearer(&admin)
        .json(&json!({"is_admin": true, "disabled": true}))
        .fetch()
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["scopes"].as_array().unwrap().contains(&json!("admin")));
    assert_eq!(body["disabled"], json!(true));
    let (status, body) = server
        .put("/api/auth/users/dana")
        .bearer(&admin)
        .json(&json!({"scopes": ["root"]}))
        .fetch()
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("root"), "{body}");
    let (status, _) = server
        .put("/api/auth/users/nobody")
        .bearer(&admin)
        .json(&json!({"disabled": true}))
        .fetch()
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn uploads_are_off_unless_the_upload_dir_is_a_write_root() {
    // The built-in policy writes nowhere: uploads are disabled and say so.
    let server = ServerBuilder::default().policy(None).start().await;
    let admin = server.admin().await;
    let (status, body) = upload(&server, &admin, "a.txt", b"hello", &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("uploads are disabled"),
        "{body}"
    );
    assert!(!server.data_dir().join("uploads").exists());
}

#[tokio::test]
async fn uploads_are_stored_sanitised_bounded_and_listed_in_their_conversation() {
    let dirs = crate::support::Dirs::new();
    let uploads = dirs.data().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let uploads = uploads.canonicalize().unwrap();
    let stub = LlmStub::start(vec![Turn::text("Noted.")]).await;
    let server = ServerBuilder::default()
        .dirs(dirs.clone())
        .policy(Some(&upload_policy(&uploads)))
        .env("AI_MAX_UPLOAD_SIZE", "1000")
        .env("AI_UPLOAD_DIR", uploads.to_str().unwrap())
        .env("AI_OLLAMA_URL", &stub.url)
        .start()
        .await;
    let admin = server.admin().await;
    let reader = server
        .create_user(&admin, "reader", "reader-passphrase", &["read"])
        .await;
    let writer = server
        .create_user(&admin, "writer", "writer-passphrase", &["read", "write"])
        .await;
    assert_eq!(upload(&server, &reader, "a.txt", b"x", &[]).await.0, 403);

    // The writer's conversation, from a chat turn with the scripted model.
    let (status, chat) = server
        .post("/api/chat")
        .bearer(&writer)
        .json(&json!({"message": "I will send a file"}))
        .fetch()
        .await;
    assert_eq!(status, 200, "{chat}");
    let conversation_id = chat["conversation_id"].as_str().map(str::to_string);
    assert!(conversation_id.is_some(), "{chat}");

    let fields: Vec<(&str, &str)> = conversation_id
        .as_deref()
        .map(|id| vec![("conversation_id", id)])
        .unwrap_or_default();
    let (status, body) = upload(
        &server,
        &writer,
        "../../etc/report v1.txt",
        b"quarterly",
        &fields,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["filename"], json!("report v1.txt"));
    assert_eq!(body["size"], json!(9));
    let stored = body["stored_name"].as_str().unwrap();
    assert!(!stored.contains('/'), "{stored}");
    assert_eq!(
        std::fs::read(uploads.join(stored)).unwrap(),
        b"quarterly",
        "stored in the upload directory under the server's name"
    );
    assert!(!dirs.root.path().join("etc").exists());

    // Too large: refused while streaming, nothing left behind.
    let before = std::fs::read_dir(&uploads).unwrap().count();
    let (status, body) = upload(&server, &writer, "big.txt", &[b'x'; 5000], &[]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("1000"), "{body}");
    assert_eq!(std::fs::read_dir(&uploads).unwrap().count(), before);

    // A name the policy denies, a missing file field, someone else's conversation.
    let (status, body) = upload(&server, &writer, "server.pem", b"k", &[]).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = server
        .post("/api/upload")
        .bearer(&writer)
        .header("Content-Type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n")
        .fetch()
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = server
        .post("/api/upload")
        .bearer(&writer)
        .json(&json!({"file": "not multipart"}))
        .fetch()
        .await;
    assert_eq!(status, 400);
    let (status, _) = upload(
        &server,
        &writer,
        "a.txt",
        b"a",
        &[("conversation_id", "nope")],
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = upload(&server, &admin, "a.txt", b"a", &[]).await;
    assert_eq!(status, 201, "an admin may upload");

    if let Some(id) = conversation_id {
        let detail = server
            .get_json(&format!("/api/conversations/{id}"), &writer)
            .await;
        assert_eq!(
            detail["uploads"][0]["filename"],
            json!("report v1.txt"),
            "{detail}"
        );
    }
    let audit = server.audit(&admin, "action=upload").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
}
