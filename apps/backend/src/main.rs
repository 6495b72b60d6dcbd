use todo_backend::BackendConfig;
use todo_core::config::Env;

// glibc's and musl's allocators are slow under many small, concurrent allocations (rows, JSON).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = BackendConfig::from_env(Env::from_process());
    todo_core::service::run("todo-backend", config, |c| &c.service, todo_backend::build).await
}
