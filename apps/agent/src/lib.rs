//! The todo-chatbot agent: turns a conversation into MCP tool calls and a reply, with an
//! OpenAI-compatible model or the offline engine. Stateless: the backend sends the history.

pub mod config;
pub mod mcp;
pub mod model;
pub mod offline;
pub mod openai;
mod routes;
pub mod runner;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;
use todo_core::auth::{JwksVerifier, TokenVerifier};
use todo_core::http::{UpstreamReady, health_routes, with_common_layers};

pub use config::{AgentConfig, Provider};
pub use routes::AppState;
pub use runner::{Agent, Limits};

use crate::mcp::McpGateway;
use crate::model::ChatModel;

pub async fn build(config: &AgentConfig) -> anyhow::Result<Router> {
    let jwks = config.jwks.clone().map(JwksVerifier::new).transpose()?.map(Arc::new);
    let verifier = Arc::new(TokenVerifier::new(&config.tokens, jwks));
    let model: Arc<dyn ChatModel> = match &config.provider {
        Provider::Offline => Arc::new(offline::OfflineModel),
        Provider::OpenAi(settings) => Arc::new(openai::OpenAiModel::new(settings.clone())),
    };
    tracing::info!(model = model.name(), mcp = %config.mcp_url, "agent configured");
    let agent = Arc::new(Agent::new(
        model,
        McpGateway::new(&config.mcp_url),
        config.limits.clone(),
    ));
    Ok(router(AppState { agent, verifier }, config))
}

pub fn router(state: AppState, config: &AgentConfig) -> Router {
    // `http://host:port/mcp` → the MCP service's root, whose `/readyz` says whether it can work.
    let mcp_root = config.mcp_url.trim_end_matches('/');
    let mcp_root = mcp_root.strip_suffix("/mcp").unwrap_or(mcp_root);
    let readiness = Arc::new(UpstreamReady::new("the MCP service", mcp_root));
    let app = Router::new()
        .route("/v1/respond", post(routes::respond))
        .with_state(state)
        .merge(health_routes(readiness));
    with_common_layers(app, &config.service)
}
