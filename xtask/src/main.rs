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

use std::process::ExitCode;

use clap::Parser as _;

/// A command that fails prints what went wrong and why, and exits 1. It is a user's error, not
/// a crash: no backtrace, even with `RUST_BACKTRACE=1` set (which makes `anyhow` capture one
/// and a `Result` returned from `main` print it). A real panic still prints its backtrace.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", report(&error));
            ExitCode::FAILURE
        }
    }
}

/// `Error: what failed`, then each cause on its own line, as `anyhow` prints them, without the
/// backtrace it may have captured.
fn report(error: &anyhow::Error) -> String {
    let mut text = format!("Error: {error}");
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for (i, cause) in causes.iter().enumerate() {
            text.push_str(&format!("\n    {i}: {cause}"));
        }
    }
    text
}

fn run() -> anyhow::Result<()> {
    project::forget_cargo_run_env();
    let cli = flags::Cli::parse();
    let sh = project::shell()?;
    let outcome = match cli.command {
        flags::Command::Test(args) => checks::run(&sh, &args),
        flags::Command::Dev(args) => local::dev::run(&sh, &args),
        flags::Command::Standin(args) => local::standin::run(&args),
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

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    #[test]
    fn a_failure_reads_as_its_message_and_causes() {
        let error = Err::<(), _>(std::io::Error::other("connection refused"))
            .context("helm history failed")
            .context("deploy could not read the release")
            .unwrap_err();
        assert_eq!(
            super::report(&error),
            "Error: deploy could not read the release\n\nCaused by:\n    0: helm history failed\n    1: connection refused"
        );
    }
}
