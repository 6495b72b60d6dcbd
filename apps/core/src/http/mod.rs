//! What every service's HTTP side shares.

mod client_addr;
mod error;
mod extract;
mod health;
mod layers;
mod metrics;
mod server;
mod upstream;

pub use client_addr::TrustedProxies;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use extract::{ApiJson, ApiPath, ApiQuery, AuthUser};
pub use health::{Readiness, health_routes, metrics_routes};
pub use layers::{BODY_LIMIT_BYTES, with_common_layers};
pub use server::{bind, serve, shutdown_signal};
pub use upstream::UpstreamReady;
