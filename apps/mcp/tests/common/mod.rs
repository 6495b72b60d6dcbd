//! The test harness: a real `todo-mcp` router on a real socket, and the official Rust MCP client.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt as _};
use serde_json::Value;
use todo_core::auth::{TokenConfig, TokenIssuer, TokenVerifier};
use todo_core::config::Env;
use todo_core::db::Db;
use todo_core::test_support::TestDb;
use todo_mcp::McpConfig;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "mcp-test-secret-that-is-long-enough";

pub struct Server {
    pub url: String,
    pub db: Db,
    /// Cancelled to begin the server's shutdown, as SIGTERM does.
    pub stopping: CancellationToken,
    issuer: TokenIssuer,
}

pub async fn start(test_db: &TestDb) -> Server {
    start_with(test_db, &[]).await
}

/// The server with more settings from the environment (`MAX_TASKS_PER_USER`, say).
pub async fn start_with(test_db: &TestDb, extra: &[(&str, &str)]) -> Server {
    let mut vars = vec![("BETTER_AUTH_SECRET", SECRET), ("DATABASE_URL", test_db.url.as_str())];
    vars.extend_from_slice(extra);
    let config = McpConfig::from_env(Env::from_pairs(vars)).expect("config");
    let db = Db::connect_lazy(&config.database).unwrap();
    db.migrate().await.unwrap();
    let verifier = Arc::new(TokenVerifier::new(&config.tokens, None));
    let changes = db.watch_task_changes().await.unwrap();
    let stopping = CancellationToken::new();
    let app = todo_mcp::router(db.clone(), changes, verifier, &config, stopping.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url,
        db,
        stopping,
        issuer: TokenIssuer::new(&tokens()),
    }
}

pub fn tokens() -> TokenConfig {
    TokenConfig {
        secret: SECRET.as_bytes().to_vec(),
        issuer: "todo-chatbot".into(),
        audience: "todo-chatbot".into(),
        ttl: Duration::from_secs(600),
        local_accounts: true,
    }
}

impl Server {
    pub fn token(&self, user: &str) -> String {
        self.issuer.issue(user, &format!("{user}@example.com"), user).unwrap()
    }

    pub async fn client(&self, user: &str, mode: ClientLifecycleMode) -> RunningService<RoleClient, ()> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(self.token(user)),
        );
        ().serve_with_lifecycle(transport, mode).await.expect("client connects")
    }
}

pub fn legacy() -> ClientLifecycleMode {
    ClientLifecycleMode::Initialize
}

pub fn stateless() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    }
}

pub async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .expect("tool call answered")
}

pub fn structured(result: &CallToolResult) -> &Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result.structured_content.as_ref().expect("structured content")
}
