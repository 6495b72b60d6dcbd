use todo_core::config::Env;
use todo_mcp::McpConfig;

// glibc's and musl's allocators are slow under many small, concurrent allocations (rows, JSON).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = McpConfig::from_env(Env::from_process());
    todo_core::service::run_with_streams("todo-mcp", config, |c| &c.service, todo_mcp::build).await
}
