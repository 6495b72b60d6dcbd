//! The command line.

use clap::{Args, Parser, Subcommand};

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
}

#[derive(Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and clippy
    #[arg(long)]
    pub no_lint: bool,
    /// Only run tests whose name contains this
    pub filter: Option<String>,
}

#[derive(Args)]
pub struct DevArgs {
    /// Public port
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Use this PostgreSQL database instead of the embedded SQLite one
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Build in release mode
    #[arg(long)]
    pub release: bool,
}
