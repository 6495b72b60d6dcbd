//! `cargo xtask bench mcp`: MCP `tools/call` round trips (token check, JSON-RPC, database) at 32
//! connections, once on SQLite and once on PostgreSQL; with `--instructions`, the same calls
//! counted in instructions under callgrind (`instructions`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use xshell::Shell;

use super::instructions;
use super::load::{Request, latency_header, load};
use super::report::{Figure, Row};
use super::stack::{MCP_SEED_TASKS, MCP_TOOLS, on_both_databases, release_service, seed_tasks, tool_call_body};
use crate::flags::BenchArgs;
use crate::local::api::{free_port, sign_up};
use crate::local::supervisor::Supervisor;
use crate::project::{Profile, build_services, random_hex};

pub fn run(sh: &Shell, args: &BenchArgs) -> anyhow::Result<Vec<Row>> {
    let seconds = args.seconds.unwrap_or(10);
    if args.instructions {
        instructions::check_valgrind()?;
        build_services(sh, Profile::Release)?;
        println!(
            "\nbench mcp --instructions: todo-mcp under callgrind, {} calls per scenario, one at a time\n",
            args.calls
        );
        return on_both_databases(sh, args, &instructions::header(), |url, database| {
            instructions::mcp_on(url, database, args.calls).map(|failed| {
                let errors = if failed { 1.0 } else { 0.0 };
                vec![
                    Row::new("mcp", &format!("instructions counted ({database})"))
                        .with(vec![Figure::new("errors", errors, "")]),
                ]
            })
        });
    }
    let connections = args.connections.unwrap_or(32);
    build_services(sh, Profile::Release)?;
    println!("\nbench mcp: tools/call over streamable HTTP, {connections} connections, {seconds}s per scenario\n");
    on_both_databases(sh, args, &latency_header("calls/s"), |url, database| {
        mcp_on(url, database, connections, Duration::from_secs(seconds))
    })
}

fn mcp_on(database_url: &str, database: &str, connections: usize, duration: Duration) -> anyhow::Result<Vec<Row>> {
    let (backend_port, mcp_port) = (free_port()?, free_port()?);
    let secret = random_hex(32);
    let service = |name, binary, port| release_service(name, binary, port, database_url, &secret);
    let mut supervisor = Supervisor::start(vec![
        service("backend", "todo-backend", backend_port),
        service("mcp", "todo-mcp", mcp_port),
    ])?;
    let base = format!("http://127.0.0.1:{backend_port}");
    let mcp_url = format!("http://127.0.0.1:{mcp_port}/mcp");
    supervisor.wait_ready(&format!("{base}/readyz"), Duration::from_secs(60))?;
    supervisor.wait_ready(&format!("http://127.0.0.1:{mcp_port}/readyz"), Duration::from_secs(60))?;
    let pid = supervisor.pid("mcp").context("mcp is not running")?;

    let (token, user) = sign_up(&base, "bench")?;
    let user: Arc<str> = user.into();
    seed_tasks(&base, &token, &user, MCP_SEED_TASKS)?;
    let tool_call = |tool: &'static str| {
        let user = user.clone();
        Request::Post {
            url: mcp_url.clone(),
            body: Arc::new(move |worker, i| tool_call_body(tool, &user, &format!("{worker}-{i}"), i).to_string()),
            headers: vec![
                ("accept", "application/json, text/event-stream"),
                ("mcp-protocol-version", "2025-11-25"),
            ],
            must_contain: Some("\"isError\":false"),
        }
    };
    let mut rows = Vec::new();
    for tool in MCP_TOOLS {
        let result = load(&tool_call(tool), &token, connections, duration, pid)?;
        result.print(&format!("{tool} ({database})"), 24);
        rows.push(result.row(
            "mcp",
            &format!("{tool} ({database}, {connections} connections)"),
            "calls/s",
            "mcp",
        ));
    }
    Ok(rows)
}
