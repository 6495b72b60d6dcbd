//! The todo-chatbot web front end: serves the UI (embedded) and forwards `/api/*` to the backend.
//! In a cluster it is the only public service.

mod assets;
pub mod config;
mod proxy;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};
use todo_core::http::{UpstreamReady, health_routes, with_common_layers};
use tower_http::compression::CompressionLayer;

pub use config::FrontendConfig;

pub async fn build(config: &FrontendConfig) -> anyhow::Result<Router> {
    router(config)
}

pub fn router(config: &FrontendConfig) -> anyhow::Result<Router> {
    let backend = proxy::Backend::new(&config.backend_url, config.trusted_proxies.clone())?;
    let pages = Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .layer(CompressionLayer::new());
    let app = Router::new()
        .merge(pages)
        .route("/api", any(proxy::forward))
        .route("/api/{*rest}", any(proxy::forward))
        .with_state(backend)
        .merge(health_routes(Arc::new(UpstreamReady::new(
            "the backend",
            &config.backend_url,
        ))));
    Ok(with_common_layers(app, &config.service))
}
