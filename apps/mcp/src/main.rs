use anyhow::Context as _;
use todo_core::config::{Env, LogFormat};
use todo_core::http::{bind, serve, shutdown_signal};
use todo_mcp::McpConfig;

// glibc's and musl's allocators are slow under many small, concurrent allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = McpConfig::from_env(Env::from_process());
    todo_core::telemetry::init(config.as_ref().map_or(LogFormat::Json, |c| c.service.log_format));
    let config = config.context("todo-mcp cannot start")?;
    let app = todo_mcp::build(&config).await?;
    let listener = bind(config.service.addr).await?;
    tracing::info!(addr = %config.service.addr, "todo-mcp listening");
    serve(listener, app, shutdown_signal(), config.service.shutdown_timeout).await
}
