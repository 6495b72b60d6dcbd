//! `/healthz` (the process is alive), `/readyz` (its dependencies answer) and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use futures::future::BoxFuture;

use super::ApiError;
use crate::db::Db;

/// What a service must reach to serve requests.
pub trait Readiness: Send + Sync + 'static {
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

impl Readiness for Db {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.ping().await.map_err(|e| {
                tracing::warn!(error = %e, "the database does not answer");
                "the database is unreachable".to_string()
            })
        })
    }
}

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub fn health_routes<S: Clone + Send + Sync + 'static>(readiness: Arc<dyn Readiness>) -> Router<S> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/readyz",
            get(move || {
                let readiness = readiness.clone();
                async move {
                    match tokio::time::timeout(READINESS_TIMEOUT, readiness.check()).await {
                        Ok(Ok(())) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
                        Ok(Err(reason)) => not_ready(reason),
                        Err(_) => not_ready("readiness check timed out".into()),
                    }
                }
            }),
        )
}

/// `/metrics` in Prometheus text. `with_common_layers` adds it to the main router, or the service
/// runner serves it on `METRICS_PORT` alone.
pub fn metrics_routes() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                super::metrics::render(),
            )
        }),
    )
}

fn not_ready(reason: String) -> axum::response::Response {
    tracing::warn!(%reason, "not ready");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", reason).into_response()
}
