//! The agent is ready when the MCP service it calls is.

use std::time::Duration;

use futures::future::BoxFuture;
use todo_core::http::Readiness;

pub struct McpReachable {
    readyz: String,
    client: reqwest::Client,
}

impl McpReachable {
    pub fn new(mcp_url: &str) -> Self {
        // `http://host:port/mcp` → `http://host:port/readyz`
        let base = mcp_url.trim_end_matches('/');
        let base = base.strip_suffix("/mcp").unwrap_or(base);
        McpReachable {
            readyz: format!("{base}/readyz"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
        }
    }
}

impl Readiness for McpReachable {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.client.get(&self.readyz).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("MCP service not ready ({})", response.status())),
                Err(e) => Err(format!("MCP service unreachable: {e}")),
            }
        })
    }
}
