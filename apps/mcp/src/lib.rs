//! The todo-chatbot MCP server: the task tools (with the tasks as live resources, and prompts)
//! over streamable HTTP at `/mcp`, for the agent and any MCP client a user owns. 2026-07-28 clients
//! are served statelessly; 2025-11-25 clients that initialize get a session, which their resource
//! subscriptions need ([`routing`]). Every request needs the user's bearer token.

pub mod config;
mod identity;
pub mod prompts;
pub mod resources;
mod routing;
pub mod server;
mod sessions;
pub mod subscriptions;
pub mod tools;
pub mod views;

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{FromRequestParts as _, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use todo_core::auth::TokenVerifier;
use todo_core::db::Db;
use todo_core::db::changes::ChangeFeed;
use todo_core::http::{AuthUser, health_routes, with_common_layers};
use tokio_util::sync::CancellationToken;

pub use config::McpConfig;
pub use server::TodoServer;

use crate::routing::Transports;
use crate::sessions::SessionOwners;
use crate::subscriptions::Live;

/// Connects to the database, applies migrations, starts reading the task change feed and builds
/// the application. `stopping` is cancelled when the server begins to shut down.
pub async fn build(config: &McpConfig, stopping: CancellationToken) -> anyhow::Result<Router> {
    let (db, verifier) = todo_core::service::connect(&config.database, &config.tokens, config.jwks.as_ref()).await?;
    let changes = db
        .watch_task_changes()
        .await
        .context("cannot read the database's task change feed")?;
    Ok(router(db, changes, verifier, config, stopping))
}

/// The application over a migrated database. When `stopping` is cancelled, open subscriptions
/// end with their final result, and then the transport closes sessions and their streams, so
/// that graceful shutdown is not held up by streams that never end on their own.
pub fn router(
    db: Db,
    changes: ChangeFeed,
    verifier: Arc<TokenVerifier>,
    config: &McpConfig,
    stopping: CancellationToken,
) -> Router {
    let live = Live::new(changes, stopping);
    let transport_closing = CancellationToken::new();
    tokio::spawn({
        let (live, transport_closing) = (live.clone(), transport_closing.clone());
        async move {
            live.closed().await;
            transport_closing.cancel();
        }
    });
    let transport = |sessions: bool| {
        let mut transport = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(sessions)
            .with_json_response(true)
            .with_allowed_hosts(config.allowed_hosts.clone());
        // Only sessions' streams need closing at shutdown. Closing the stateless transport would
        // cut requests still in flight (500 "empty response"); its listen streams end by
        // themselves on `stopping`.
        if sessions {
            transport = transport.with_cancellation_token(transport_closing.clone());
        }
        transport.allowed_origins = config.allowed_origins.clone();
        transport.enforce_origin_validation()
    };
    let sessions = Arc::new(LocalSessionManager::default());
    let server = TodoServer::new(db.clone(), config.caps, live);
    let handler = server.clone();
    let transports = Transports {
        stateless: StreamableHttpService::new(
            move || Ok(handler.for_session()),
            Arc::new(NeverSessionManager::default()),
            transport(false),
        ),
        sessions: StreamableHttpService::new(move || Ok(server.for_session()), sessions.clone(), transport(true)),
    };
    let app = Router::new()
        .route("/mcp", any(routing::route))
        .with_state(transports)
        .layer(middleware::from_fn_with_state(
            SessionOwners::new(sessions),
            sessions::bind_to_user,
        ))
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
