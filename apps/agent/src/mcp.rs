//! The agent's MCP client: the task tools of `MCP_URL`, called with the user's own token.
//!
//! Each respond request opens a stateless (2026-07-28) rmcp client carrying the caller's bearer
//! token, so the MCP server decides whose tasks are reachable. The tool list is the same for every
//! user: it is cached and fetched again when a call names a tool the cache does not know.
//!
//! The server's `server/discover` answer is the same for every user too. The first session asks
//! for it; later ones start from that snapshot instead of spending a round trip on every chat
//! (2026-07-28 requests carry their protocol version themselves, so nothing else is negotiated).
//! A failed call forgets the snapshot, so a server that changed is discovered afresh.
//!
//! A session that starts from the snapshot connects on its first request, not before: a reply
//! that needs no MCP request (a greeting, a refusal, with the tool list cached) opens no client.
//! That is a matter of correctness, not only thrift: an rmcp client started from a snapshot that
//! never sends a request cannot be closed (its transport worker waits for a first message and
//! never sees the cancellation), so such a reply used to hang. Without a snapshot the session
//! discovers at once, so a server that is gone fails the request before the model's turn.

use std::sync::Arc;

use rmcp::model::{CallToolRequestParams, ProtocolVersion, ServerPeerInfo, Tool};
use rmcp::service::{RoleClient, RunningService, ServiceError, serve_directly};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt as _};
use serde_json::{Map, Value};
use thiserror::Error;
use tokio::sync::{OnceCell, RwLock};

use crate::model::ToolSpec;

#[derive(Debug, Error)]
pub enum McpError {
    #[error("the task service (MCP) is unreachable: {0}")]
    Unreachable(String),
    #[error("the task service (MCP) failed: {0}")]
    Failed(String),
    /// The MCP server answered 401: it refuses the caller's token (the account was deleted, or
    /// the token expired meanwhile). The agent checks signatures only; the MCP server, which has
    /// the database, also checks revocations.
    #[error("the task service (MCP) refused the token: {0}")]
    Refused(String),
}

/// A tool call's outcome as the model and the user see it.
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    /// The structured result, or the text content when there is none.
    pub result: Value,
    pub is_error: bool,
}

#[derive(Clone)]
pub struct McpGateway {
    url: String,
    /// One HTTP client for every session: building one per request (rmcp's default) costs a TLS
    /// set-up and a new TCP connection each time, which was most of a chat's CPU time.
    http: reqwest::Client,
    tools: Arc<RwLock<Option<Arc<Vec<ToolSpec>>>>>,
    /// What `server/discover` answered, once it has.
    discovered: Arc<RwLock<Option<ServerPeerInfo>>>,
}

/// One user's connection to the MCP server, for the duration of one respond request.
pub struct McpSession {
    gateway: McpGateway,
    token: String,
    client: OnceCell<RunningService<RoleClient, ()>>,
}

impl McpGateway {
    pub fn new(url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            // The MCP endpoint never redirects; following one could replay the user's token.
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        McpGateway {
            url: url.into(),
            http,
            tools: Arc::default(),
            discovered: Arc::default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A session for one respond request with the caller's token: connected now when the server
    /// has yet to be discovered, else when first used.
    pub async fn session(&self, token: &str) -> Result<McpSession, McpError> {
        let client = if self.discovered.read().await.is_some() {
            OnceCell::new()
        } else {
            OnceCell::new_with(Some(self.connect(token).await?))
        };
        Ok(McpSession {
            gateway: self.clone(),
            token: token.to_string(),
            client,
        })
    }

    async fn connect(&self, token: &str) -> Result<RunningService<RoleClient, ()>, McpError> {
        let transport = StreamableHttpClientTransport::with_client(
            self.http.clone(),
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(token.to_string()),
        );
        let known = self.discovered.read().await.clone();
        let client = match known {
            Some(server) => serve_directly::<RoleClient, _, _, _, _>((), transport, Some(server)),
            None => {
                let mode = ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                };
                let client = ().serve_with_lifecycle(transport, mode).await.map_err(|e| {
                    if e.auth_challenge().is_some() {
                        McpError::Refused(e.to_string())
                    } else {
                        McpError::Unreachable(e.to_string())
                    }
                })?;
                if let Some(server) = client.peer_info() {
                    *self.discovered.write().await = Some((*server).clone());
                }
                client
            }
        };
        Ok(client)
    }

    /// Whether the server still takes `token`, asked with a bare `ping`: `None` when it cannot be
    /// asked. rmcp reports a 401 to a session that started from a snapshot as a closed transport,
    /// not as the refusal it was, so a failed request asks before calling the server unreachable.
    async fn accepts(&self, token: &str) -> Option<bool> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json, text/event-stream")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(r#"{"jsonrpc":"2.0","id":0,"method":"ping"}"#)
            .timeout(std::time::Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        Some(response.status() != reqwest::StatusCode::UNAUTHORIZED)
    }

    /// `error`, or `Refused` when the reason was the server refusing the token.
    async fn refused_or(&self, token: &str, error: McpError) -> McpError {
        match error {
            McpError::Refused(_) => error,
            _ if self.accepts(token).await == Some(false) => McpError::Refused(error.to_string()),
            _ => error,
        }
    }

    async fn forget_tools(&self) {
        *self.tools.write().await = None;
    }

    async fn forget_discovery(&self) {
        *self.discovered.write().await = None;
    }

    /// Whether sessions start from a cached `server/discover` answer.
    pub async fn has_discovered(&self) -> bool {
        self.discovered.read().await.is_some()
    }
}

impl McpSession {
    /// The rmcp client, connected on first use.
    async fn client(&self) -> Result<&RunningService<RoleClient, ()>, McpError> {
        match self.client.get_or_try_init(|| self.gateway.connect(&self.token)).await {
            Ok(client) => Ok(client),
            Err(e) => Err(self.gateway.refused_or(&self.token, e).await),
        }
    }

    /// The tools, from the cache when it has them.
    pub async fn tools(&self) -> Result<Arc<Vec<ToolSpec>>, McpError> {
        if let Some(tools) = self.gateway.tools.read().await.as_ref() {
            return Ok(tools.clone());
        }
        let listed = match self.client().await?.list_all_tools().await {
            Ok(listed) => listed,
            Err(e) if e.auth_challenge().is_some() => return Err(McpError::Refused(format!("tools/list: {e}"))),
            Err(e) => {
                let error = McpError::Failed(format!("tools/list: {e}"));
                return Err(self.gateway.refused_or(&self.token, error).await);
            }
        };
        let tools = Arc::new(listed.iter().map(tool_spec).collect::<Vec<_>>());
        *self.gateway.tools.write().await = Some(tools.clone());
        Ok(tools)
    }

    /// Fetches the tool list again (after a call named a tool the cached list lacked).
    pub async fn refresh_tools(&self) -> Result<Arc<Vec<ToolSpec>>, McpError> {
        self.gateway.forget_tools().await;
        self.tools().await
    }

    pub async fn call(&self, name: &str, arguments: Map<String, Value>) -> Result<ToolOutcome, McpError> {
        let result = self
            .client()
            .await?
            .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(arguments))
            .await;
        let result = match result {
            Ok(result) => result,
            Err(e) => {
                // Whatever failed, the next session asks the server afresh what it is.
                self.gateway.forget_discovery().await;
                let error = match e {
                    _ if e.auth_challenge().is_some() => McpError::Refused(format!("tools/call {name}: {e}")),
                    ServiceError::TransportSend(_) | ServiceError::TransportClosed => {
                        McpError::Unreachable(format!("tools/call {name}: {e}"))
                    }
                    other => McpError::Failed(format!("tools/call {name}: {other}")),
                };
                return Err(self.gateway.refused_or(&self.token, error).await);
            }
        };
        let text: Vec<&str> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
            .collect();
        let result_value = match result.structured_content {
            Some(value) => value,
            None => Value::String(text.join("\n")),
        };
        Ok(ToolOutcome {
            result: result_value,
            is_error: result.is_error.unwrap_or(false),
        })
    }

    pub async fn close(self) {
        if let Some(client) = self.client.into_inner() {
            let _ = client.cancel().await;
        }
    }
}

fn tool_spec(tool: &Tool) -> ToolSpec {
    ToolSpec {
        name: tool.name.to_string(),
        description: tool.description.as_deref().unwrap_or_default().to_string(),
        parameters: Value::Object((*tool.input_schema).clone()),
    }
}
