use todo_agent::AgentConfig;
use todo_core::config::Env;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = AgentConfig::from_env(Env::from_process());
    todo_core::service::run("todo-agent", config, |c| &c.service, todo_agent::build).await
}
