//! The backend's client of the agent service (`POST {AGENT_URL}/v1/respond`), with the caller's
//! own bearer token so the agent and the MCP server act for that user only.

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_core::domain::ChatRole;
use todo_core::http::ApiError;

#[derive(Clone)]
pub struct AgentClient {
    respond_url: String,
    http: reqwest::Client,
}

#[derive(Serialize)]
pub struct Turn<'a> {
    pub role: ChatRole,
    pub content: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct AgentReply {
    pub response: String,
    pub tool_calls: Vec<Value>,
}

impl AgentClient {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .context("cannot build the agent's HTTP client")?;
        Ok(AgentClient {
            respond_url: format!("{base_url}/v1/respond"),
            http,
        })
    }

    /// Unreachable → 503, too slow → 504, an agent error → 502; each a JSON error.
    pub async fn respond(
        &self,
        token: &str,
        messages: &[Turn<'_>],
        time_zone: Option<&str>,
    ) -> Result<AgentReply, ApiError> {
        let response = self
            .http
            .post(&self.respond_url)
            .bearer_auth(token)
            .json(&serde_json::json!({ "messages": messages, "time_zone": time_zone }))
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let message = body["error"]["message"].as_str().unwrap_or("no details").to_string();
            // The agent's own words stay in the log: the user gets one fixed message per kind.
            tracing::error!(%status, %message, "the agent answered an error");
            return Err(match status.as_u16() {
                503 => ApiError::new(
                    status,
                    "agent_unavailable",
                    "the assistant cannot reach your tasks right now; try again shortly",
                ),
                504 => ApiError::new(status, "agent_timeout", "the assistant's language model took too long"),
                _ => ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    "agent_error",
                    "the assistant failed to answer; try again shortly",
                ),
            });
        }
        response.json().await.map_err(|e| transport_error(&e))
    }
}

fn transport_error(error: &reqwest::Error) -> ApiError {
    tracing::error!(error = %error, "cannot reach the agent");
    if error.is_timeout() {
        ApiError::new(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "agent_timeout",
            "the assistant did not answer in time",
        )
    } else if error.is_decode() {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "agent_error",
            "the assistant's answer could not be read",
        )
    } else {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "agent_unavailable",
            "the assistant is unreachable right now",
        )
    }
}
