//! What every service's start-up shares: reaching the database and building the token verifier,
//! and the `main` sequence (config → logging → build → listen → serve until SIGTERM).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::auth::{JwksConfig, JwksVerifier, TokenConfig, TokenVerifier};
use crate::config::{ConfigError, LogFormat, ServiceConfig};
use crate::db::{Db, DbOptions};
use crate::http::{bind, metrics_routes, serve, shutdown_signal};

/// How long start-up waits for the database before giving up.
pub const DATABASE_STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// Connects (retrying until the deadline), applies migrations, and builds the token verifier,
/// which refuses the tokens of accounts deleted in this database.
pub async fn connect(
    database: &DbOptions,
    tokens: &TokenConfig,
    jwks: Option<&JwksConfig>,
) -> anyhow::Result<(Db, Arc<TokenVerifier>)> {
    let db = Db::connect_and_migrate(database, DATABASE_STARTUP_DEADLINE)
        .await
        .context("cannot prepare the database")?;
    let jwks = jwks.cloned().map(JwksVerifier::new).transpose()?.map(Arc::new);
    let verifier = TokenVerifier::new(tokens, jwks)
        .with_remembered_revocations(db.clone())
        .await
        .context("cannot listen for token revocations")?;
    Ok((db, Arc::new(verifier)))
}

/// A service's `main`: validated config, logging, the app, then serving until SIGTERM or Ctrl-C.
pub async fn run<C>(
    name: &str,
    config: Result<C, ConfigError>,
    service: impl Fn(&C) -> &ServiceConfig,
    build: impl AsyncFnOnce(&C) -> anyhow::Result<Router>,
) -> anyhow::Result<()> {
    run_with_streams(name, config, service, async |config, _stopping| build(config).await).await
}

/// [`run`] for a service with responses that never end on their own (event streams): `build`
/// gets a token that is cancelled when shutdown begins, to end them, since graceful shutdown
/// waits for every open response.
pub async fn run_with_streams<C>(
    name: &str,
    config: Result<C, ConfigError>,
    service: impl Fn(&C) -> &ServiceConfig,
    build: impl AsyncFnOnce(&C, CancellationToken) -> anyhow::Result<Router>,
) -> anyhow::Result<()> {
    crate::telemetry::init(config.as_ref().map_or(LogFormat::Json, |c| service(c).log_format));
    let config = config.with_context(|| format!("{name} cannot start"))?;
    let stopping = CancellationToken::new();
    let app = build(&config, stopping.clone()).await?;
    let settings = service(&config);
    let listener = bind(settings.addr).await?;
    tracing::info!(addr = %settings.addr, "{name} listening");
    if let Some(port) = settings.metrics_port {
        let addr = std::net::SocketAddr::new(settings.addr.ip(), port);
        let metrics = bind(addr).await.context("METRICS_PORT")?;
        tracing::info!(%addr, "{name} serves /metrics here only");
        let stopped = stopping.clone();
        tokio::spawn(async move {
            let served = axum::serve(metrics, metrics_routes())
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    let shutdown = async move {
        shutdown_signal().await;
        stopping.cancel();
    };
    serve(listener, app, shutdown, settings.shutdown_timeout).await
}
