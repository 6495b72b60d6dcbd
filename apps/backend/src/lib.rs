//! The todo-chatbot backend: accounts, the task REST API, health and OpenAPI docs.

mod agent;
pub mod config;
mod extract;
mod openapi;
mod routes;
mod state;
mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, patch, post};
use todo_core::auth::{Passwords, TokenIssuer};
use todo_core::http::{health_routes, with_common_layers};
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

pub use agent::AgentClient;
pub use config::BackendConfig;
pub use openapi::ApiDoc;
pub use state::AppState;
pub use throttle::Limits;

/// Connects to the database, applies migrations and builds the application.
pub async fn build(config: &BackendConfig) -> anyhow::Result<Router> {
    let (db, verifier) = todo_core::service::connect(&config.database, &config.tokens, config.jwks.as_ref()).await?;
    let state = AppState {
        db,
        issuer: Arc::new(TokenIssuer::new(&config.tokens)),
        verifier,
        agent: agent::AgentClient::new(&config.agent_url, config.agent_timeout)?,
        passwords: Passwords::new(config.password_workers, config.password_queue),
        throttle: throttle::Throttle::start(config.limits, config.trusted_proxies.clone()),
        local_accounts: config.tokens.local_accounts,
        caps: config.caps,
    };
    Ok(router(state, config))
}

pub fn router(state: AppState, config: &BackendConfig) -> Router {
    let api = Router::new()
        .route("/api/auth/sign-up", post(routes::auth::sign_up))
        .route("/api/auth/sign-in", post(routes::auth::sign_in))
        .route("/api/auth/sign-out", post(routes::auth::sign_out))
        .route("/api/auth/renew", post(routes::auth::renew))
        .route("/api/auth/me", get(routes::auth::me).delete(routes::auth::delete_me))
        .route(
            "/api/{user_id}/tasks",
            get(routes::tasks::list).post(routes::tasks::create),
        )
        .route(
            "/api/{user_id}/tasks/{id}",
            get(routes::tasks::get_one)
                .put(routes::tasks::update)
                .patch(routes::tasks::patch)
                .delete(routes::tasks::delete),
        )
        .route(
            "/api/{user_id}/tasks/{id}/complete",
            patch(routes::tasks::toggle_complete),
        )
        .route("/api/{user_id}/chat", post(routes::chat::send))
        .route("/api/{user_id}/conversations", get(routes::chat::conversations))
        .route(
            "/api/{user_id}/conversations/{id}/messages",
            get(routes::chat::messages),
        )
        .with_state(state.clone());
    let app = Router::new()
        .merge(api)
        .merge(health_routes(Arc::new(state.db.clone())))
        .merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()));
    with_common_layers(app, &config.service)
}
