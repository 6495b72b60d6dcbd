//! `cargo xtask`: the project's automation, one module per command, in rooms by whom they serve:
//! `cluster/` what users run against a cluster, `local/` the stack on this machine, `checks/`
//! what `cargo xtask test` runs, `bench/` the benchmarks, `tools/` one typed wrapper per external
//! CLI, `chart/` what they all know of the Helm chart. At the top only what every room shares:
//! the command line (`flags`), the command runner (`exec`) and the project's paths (`project`).

mod bench;
mod chart;
mod checks;
mod cluster;
mod exec;
mod flags;
mod local;
mod project;
mod tools;

use clap::Parser as _;

fn main() -> anyhow::Result<()> {
    project::forget_cargo_run_env();
    let cli = flags::Cli::parse();
    let sh = project::shell()?;
    let outcome = match cli.command {
        flags::Command::Test(args) => checks::run(&sh, &args),
        flags::Command::Dev(args) => local::dev::run(&sh, &args),
        flags::Command::Bench(args) => bench::run(&sh, &args),
        flags::Command::Verify(args) => cluster::verify::run(&args),
        flags::Command::Images(args) => cluster::images::run(&args),
        flags::Command::Doctor(args) => cluster::doctor::run(&args),
        flags::Command::Diagnose(args) => cluster::diagnose::run(&args),
        flags::Command::Deploy(args) => cluster::deploy::run(&args),
        flags::Command::Rollback(args) => cluster::operate::rollback(&args),
        flags::Command::Status(args) => cluster::operate::status(&args),
        flags::Command::Logs(args) => cluster::operate::logs(&args),
        flags::Command::Teardown(args) => cluster::operate::teardown(&args),
        flags::Command::Scale(args) => cluster::operate::scale(&args),
        flags::Command::Backup(args) => cluster::backup::backup(&args),
        flags::Command::Restore(args) => cluster::backup::restore(&args),
    };
    // `cargo xtask bench commands` reads this: the CPU the xtask itself used, its children's
    // (the external tools') not counted.
    if std::env::var_os(bench::commands::REPORT_OWN_TIME).is_some() {
        eprintln!("{}", bench::commands::own_time_line());
    }
    outcome
}
