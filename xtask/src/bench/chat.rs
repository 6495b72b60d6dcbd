//! `cargo xtask bench chat`: `POST /api/{user}/chat` round trips through every service (backend →
//! agent with the offline engine → MCP → database) at 16 connections, each its own conversation,
//! alternating "add …" and "mark it done"; once on SQLite and once on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use xshell::Shell;

use super::load::{Request, latency_header, load};
use super::report::Row;
use super::stack::{on_both_databases, release_service};
use crate::flags::BenchArgs;
use crate::local::api::{Client, free_port, sign_up};
use crate::local::supervisor::Supervisor;
use crate::project::{Profile, build_services, random_hex};

pub fn run(sh: &Shell, args: &BenchArgs) -> anyhow::Result<Vec<Row>> {
    let connections = args.connections.unwrap_or(16);
    let seconds = args.seconds.unwrap_or(10);
    build_services(sh, Profile::Release)?;
    println!(
        "\nbench chat: chat round trips through backend, agent (offline), mcp and the database, \
         {connections} connections, {seconds}s per database\n"
    );
    on_both_databases(sh, args, &latency_header("chats/s"), |url, database| {
        chat_on(url, database, connections, Duration::from_secs(seconds))
    })
}

fn chat_on(database_url: &str, database: &str, connections: usize, duration: Duration) -> anyhow::Result<Vec<Row>> {
    let (backend_port, mcp_port, agent_port) = (free_port()?, free_port()?, free_port()?);
    let secret = random_hex(32);
    let service = |name, binary, port| release_service(name, binary, port, database_url, &secret);
    let mut supervisor = Supervisor::start(vec![
        service("backend", "todo-backend", backend_port).env("AGENT_URL", &format!("http://127.0.0.1:{agent_port}")),
        service("mcp", "todo-mcp", mcp_port),
        service("agent", "todo-agent", agent_port)
            .env("MCP_URL", &format!("http://127.0.0.1:{mcp_port}/mcp"))
            .env("LLM_PROVIDER", "offline"),
    ])?;
    for port in [backend_port, mcp_port, agent_port] {
        supervisor.wait_ready(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(60))?;
    }
    let pid = supervisor.pid("backend").context("backend is not running")?;
    let base = format!("http://127.0.0.1:{backend_port}");
    let (token, user) = sign_up(&base, "bench")?;
    let chat_url = format!("{base}/api/{user}/chat");
    // One conversation per connection, so "it" always means that connection's last task.
    let client = Client::new();
    let conversations: Vec<i64> = (0..connections)
        .map(|w| {
            let reply = client.post(&chat_url, Some(&token), &json!({"message": format!("add warm-up {w}")}))?;
            reply["conversation_id"].as_i64().context("no conversation id")
        })
        .collect::<anyhow::Result<_>>()?;
    let conversations = Arc::new(conversations);
    let request = Request::Post {
        url: chat_url,
        body: Arc::new(move |worker, i| {
            let message = if i % 2 == 0 {
                format!("add bench task {worker}-{i}")
            } else {
                "mark it done".to_string()
            };
            json!({"conversation_id": conversations[worker], "message": message}).to_string()
        }),
        headers: Vec::new(),
        must_contain: Some("\"is_error\":false"),
    };
    let result = load(&request, &token, connections, duration, pid)?;
    result.print(&format!("chat ({database})"), 24);
    Ok(vec![result.row(
        "chat",
        &format!("chat ({database}, {connections} connections)"),
        "chats/s",
        "backend",
    )])
}
