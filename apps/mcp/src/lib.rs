//! The todo-chatbot MCP server: the task tools (with the tasks as resources, and prompts) over
//! streamable HTTP at `/mcp`, stateless, for the agent and any MCP client a user owns. Every request
//! needs the user's bearer token.

pub mod config;
pub mod prompts;
pub mod resources;
pub mod server;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts as _, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use todo_core::auth::TokenVerifier;
use todo_core::db::Db;
use todo_core::http::{AuthUser, health_routes, with_common_layers};

pub use config::McpConfig;
pub use server::TodoServer;

/// Connects to the database, applies migrations and builds the application.
pub async fn build(config: &McpConfig) -> anyhow::Result<Router> {
    let (db, verifier) = todo_core::service::connect(&config.database, &config.tokens, config.jwks.as_ref()).await?;
    Ok(router(db, verifier, config))
}

pub fn router(db: Db, verifier: Arc<TokenVerifier>, config: &McpConfig) -> Router {
    let mut transport = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(config.allowed_hosts.clone());
    transport.allowed_origins = config.allowed_origins.clone();
    let transport = transport.enforce_origin_validation();
    let server = TodoServer::new(db.clone());
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        transport,
    );
    let app = Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(verifier, require_token))
        .merge(health_routes(Arc::new(db)));
    with_common_layers(app, &config.service)
}

/// Verifies the bearer token before any MCP message is read: no token, no tools.
async fn require_token(State(verifier): State<Arc<TokenVerifier>>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    match AuthUser::from_request_parts(&mut parts, &verifier).await {
        Ok(user) => {
            parts.extensions.insert(user);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(rejection) => rejection.into_response(),
    }
}
