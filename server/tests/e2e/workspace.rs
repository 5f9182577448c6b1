//! The server creates the agent's workspace folder in its data dir.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;
use support::TestServer;

#[tokio::test]
async fn serve_creates_the_workspace_beside_the_database() {
    let server = TestServer::start().await;
    let workspace = server.data_dir().join("workspace");
    assert!(
        workspace.is_dir(),
        "{} was not created",
        workspace.display()
    );
    let health = server.health().await;
    assert_eq!(health["status"], "healthy", "{health}");
}
