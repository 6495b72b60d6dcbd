//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run, test and ship todo-chatbot")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Format check, clippy and every test (what CI runs)
    Test(TestArgs),
    /// Run the system locally on an embedded SQLite database, no cluster needed
    Dev(DevArgs),
    /// Benchmarks against real processes (figures go in the README)
    Bench(BenchArgs),
    /// Smoke-test a running deployment through its public URL
    Verify(VerifyArgs),
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The deployment's public URL (the frontend)
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Also probe /healthz and /readyz of another service, as NAME=URL (repeatable)
    #[arg(long, value_name = "NAME=URL")]
    pub service: Vec<String>,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and clippy
    #[arg(long)]
    pub no_lint: bool,
    /// Only run the suites over whole processes (MCP conformance, MCP Inspector, `dev` + verify)
    #[arg(long, conflicts_with = "filter")]
    pub clients_only: bool,
    /// Only run tests whose name contains this (skips the suites over whole processes)
    pub filter: Option<String>,
}

#[derive(Args)]
pub struct DevArgs {
    /// Public port (the web UI)
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    /// Use this PostgreSQL database instead of the embedded SQLite one
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Build in release mode
    #[arg(long)]
    pub release: bool,
    /// Where the SQLite database and the development secret live
    #[arg(long, value_name = "DIR", default_value = "data/dev")]
    pub data_dir: std::path::PathBuf,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(value_enum)]
    pub target: BenchTarget,
    /// Seconds per scenario
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent connections (default: 64 for api, 32 for mcp, 16 for chat)
    #[arg(long)]
    pub connections: Option<usize>,
    /// PostgreSQL to run against (default: TEST_DATABASE_URL, else the local test database)
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// mcp only: count the server's CPU instructions per call under valgrind (callgrind) instead
    /// of timing it; the counts compare across machines, timings only within one
    #[arg(long)]
    pub instructions: bool,
    /// Calls counted per scenario with --instructions
    #[arg(long, default_value_t = 500, requires = "instructions")]
    pub calls: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BenchTarget {
    /// The task REST API on PostgreSQL: list 1,000 tasks, get one, create
    Api,
    /// MCP tools/call add_task and list_tasks, on SQLite and on PostgreSQL
    Mcp,
    /// Chat round trips (backend → agent, offline → MCP → database), on SQLite and on PostgreSQL
    Chat,
}
