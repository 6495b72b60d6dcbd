use todo_core::config::Env;
use todo_frontend::FrontendConfig;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = FrontendConfig::from_env(Env::from_process());
    todo_core::service::run("todo-frontend", config, |c| &c.service, todo_frontend::build).await
}
