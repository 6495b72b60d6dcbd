//! `cargo xtask`: the project's automation, one module per command.

mod api;
mod backup;
mod bench;
mod bench_commands;
mod bench_images;
mod bench_report;
mod bench_soak;
mod bench_startup;
mod browser;
mod chart;
mod contract;
mod deploy;
mod dev;
mod dev_check;
mod diagnose;
mod doctor;
mod exec;
mod flags;
mod helm_tools;
mod images;
mod instructions;
mod mcp_clients;
mod node_tools;
mod operate;
mod project;
mod rehearsal;
mod scratch_schema;
mod static_checks;
mod status_check;
mod supervisor;
mod test;
mod token_proxy;
mod tools;
mod verify;
mod workflows;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    project::forget_cargo_run_env();
    let cli = flags::Cli::parse();
    let sh = project::shell()?;
    let outcome = match cli.command {
        flags::Command::Test(args) => test::run(&sh, &args),
        flags::Command::Dev(args) => dev::run(&sh, &args),
        flags::Command::Bench(args) => bench::run(&sh, &args),
        flags::Command::Verify(args) => verify::run(&args),
        flags::Command::Images(args) => images::run(&args),
        flags::Command::Doctor(args) => doctor::run(&args),
        flags::Command::Diagnose(args) => diagnose::run(&args),
        flags::Command::Deploy(args) => deploy::run(&args),
        flags::Command::Rollback(args) => operate::rollback(&args),
        flags::Command::Status(args) => operate::status(&args),
        flags::Command::Logs(args) => operate::logs(&args),
        flags::Command::Teardown(args) => operate::teardown(&args),
        flags::Command::Scale(args) => operate::scale(&args),
        flags::Command::Backup(args) => backup::backup(&args),
        flags::Command::Restore(args) => backup::restore(&args),
    };
    // `cargo xtask bench commands` reads this: the CPU the xtask itself used, its children's
    // (the external tools') not counted.
    if std::env::var_os(bench_commands::REPORT_OWN_TIME).is_some() {
        eprintln!("{}", bench_commands::own_time_line());
    }
    outcome
}
