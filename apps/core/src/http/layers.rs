//! The middleware stack every service wraps its routes in.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::ApiError;
use crate::config::ServiceConfig;

/// Request bodies above this size are refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Adds `/metrics` (unless it has a port of its own), JSON fallbacks, metrics, body limit, request ids, access logs, panic recovery and CORS.
pub fn with_common_layers(router: Router, config: &ServiceConfig) -> Router {
    // Install the recorder before the first request is counted.
    super::metrics::handle();
    let router = if config.metrics_port.is_none() {
        router.merge(super::metrics_routes())
    } else {
        router
    };
    let router = router
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::not_found(format!("no route for {method} {}", uri.path()))
        })
        .method_not_allowed_fallback(|method: Method, uri: Uri| async move {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {}", uri.path()),
            )
        })
        .layer(middleware::from_fn(super::metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES));

    let x_request_id = HeaderName::from_static("x-request-id");
    let router = router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    // Only the method, path and request id: headers (Authorization!) and query
                    // strings are never logged.
                    .make_span_with(|request: &Request<_>| {
                        let request_id = request
                            .extensions()
                            .get::<RequestId>()
                            .and_then(|id| id.header_value().to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %request_id,
                        )
                    })
                    .on_request(())
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(x_request_id))
            .layer(CatchPanicLayer::custom(
                |_panic: Box<dyn std::any::Any + Send>| -> Response {
                    ApiError::internal("handler panicked").into_response()
                },
            )),
    );

    if config.cors_origins.is_empty() {
        router
    } else {
        router.layer(cors(&config.cors_origins))
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(3600))
}
