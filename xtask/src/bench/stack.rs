//! What the benchmarks share: the PostgreSQL they use, the release binaries they start, the
//! users and tasks they seed, and running a scenario on both databases.

use anyhow::bail;
use serde_json::json;
use xshell::Shell;

use super::report::Row;
use crate::flags::BenchArgs;
use crate::local::api::Client;
use crate::local::scratch_schema::ScratchSchema;
use crate::local::supervisor::Spec;
use crate::project::{bin_dir, random_hex, target_dir};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL the benchmarks use: --postgres, else TEST_DATABASE_URL, else the local test one.
pub fn postgres(args: &BenchArgs) -> String {
    args.postgres
        .clone()
        .or_else(|| std::env::var("TEST_DATABASE_URL").ok())
        .unwrap_or_else(|| DEFAULT_POSTGRES.into())
}

/// Fails when any scenario had failed requests.
pub fn none_failed(rows: Vec<Row>) -> anyhow::Result<Vec<Row>> {
    let failed = rows
        .iter()
        .any(|r| r.figures.iter().any(|f| f.name == "errors" && f.value > 0.0));
    if failed {
        bail!("some requests failed");
    }
    Ok(rows)
}

/// The MCP scenarios, timed here and counted by `--instructions`: a user with this many tasks...
pub const MCP_SEED_TASKS: usize = 50;
/// ...lists the pending ones, then adds. Listing first: the add phase creates tens of thousands of
/// tasks.
pub const MCP_TOOLS: [&str; 2] = ["list_tasks", "add_task"];

/// The JSON-RPC request of one MCP scenario call; `label` makes each added title distinct.
pub fn tool_call_body(tool: &str, user: &str, label: &str, id: usize) -> serde_json::Value {
    let arguments = match tool {
        "add_task" => json!({"user_id": user, "title": format!("mcp load {label}")}),
        _ => json!({"user_id": user, "status": "pending"}),
    };
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

/// Gives the user `count` tasks through the REST API.
pub fn seed_tasks(base: &str, token: &str, user: &str, count: usize) -> anyhow::Result<()> {
    let client = Client::new();
    for i in 0..count {
        client.post(
            &format!("{base}/api/{user}/tasks"),
            Some(token),
            &json!({"title": format!("seed {i}")}),
        )?;
    }
    Ok(())
}

/// A release binary on a loopback port, on the benchmark's database, quiet but for warnings.
pub fn release_service(name: &'static str, binary: &str, port: u16, database_url: &str, secret: &str) -> Spec {
    Spec::new(name, bin_dir("release").join(binary))
        .env("PORT", &port.to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env("DATABASE_URL", database_url)
        .env("DATABASE_MAX_CONNECTIONS", "16")
        .env("BETTER_AUTH_SECRET", secret)
        .env("RUST_LOG", "warn")
        // The benchmarks measure the services, not the per-user limits a flood from one user
        // meets (and the load generator is one user at thousands of requests a second).
        .env("WRITES_PER_MINUTE", "0")
        .env("CHATS_PER_MINUTE", "0")
        .env("MAX_TASKS_PER_USER", "0")
        .env("MAX_CONVERSATIONS_PER_USER", "0")
}

/// Runs `scenarios(database_url, name)` on a fresh SQLite file, then in a throwaway PostgreSQL
/// schema, under one table header; fails when any scenario reported failed requests.
pub fn on_both_databases(
    sh: &Shell,
    args: &BenchArgs,
    header: &str,
    scenarios: impl Fn(&str, &str) -> anyhow::Result<Vec<Row>>,
) -> anyhow::Result<Vec<Row>> {
    let postgres = postgres(args);
    let sqlite_dir = target_dir().join(format!("bench-sqlite-{}", random_hex(4)));
    std::fs::create_dir_all(&sqlite_dir)?;
    let schema = ScratchSchema::create(sh, &postgres)?;
    println!("{header}");
    let mut rows = Vec::new();
    let databases = [
        ("SQLite", format!("sqlite:{}", sqlite_dir.join("todo.db").display())),
        ("PostgreSQL", schema.url.clone()),
    ];
    for (database, url) in databases {
        rows.extend(scenarios(&url, database)?);
    }
    schema.drop(sh);
    let _ = std::fs::remove_dir_all(&sqlite_dir);
    none_failed(rows)
}
