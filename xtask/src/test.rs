//! `cargo xtask test`: what CI runs, and what a developer runs before pushing.

use xshell::{Shell, cmd};

use crate::flags::TestArgs;
use crate::project::skip_or_fail;

pub fn run(sh: &Shell, args: &TestArgs) -> anyhow::Result<()> {
    if args.clients_only {
        crate::mcp_clients::run(sh)?;
        return crate::dev_check::run();
    }
    if args.containers_only {
        return crate::rehearsal::run();
    }
    if args.chart_only {
        return crate::chart::run();
    }
    if args.workflows_only {
        return crate::workflows::run();
    }
    if args.contract_only {
        return crate::contract::run(sh);
    }
    if !args.no_lint {
        lint(sh)?;
    }
    if args.filter.is_none() {
        crate::static_checks::run()?;
        crate::workflows::run()?;
        crate::chart::run()?;
    }
    let filter = args.filter.as_slice();
    // The same package set as `build_services`, so the process suites reuse these binaries; xtask
    // on its own, with the features `cargo xtask` already built it with.
    cmd!(
        sh,
        "cargo test --workspace --exclude xtask --all-targets --locked -- {filter...}"
    )
    .run()?;
    cmd!(sh, "cargo test -p xtask --all-targets --locked -- {filter...}").run()?;
    if args.filter.is_none() {
        crate::contract::run(sh)?;
        crate::mcp_clients::run(sh)?;
        crate::dev_check::run()?;
        crate::rehearsal::run()?;
    }
    Ok(())
}

fn lint(sh: &Shell) -> anyhow::Result<()> {
    if cmd!(sh, "cargo fmt --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        cmd!(sh, "cargo fmt --all -- --check").run()?;
    } else {
        skip_or_fail(
            "cargo fmt --check",
            "rustfmt is not installed (rustup component add rustfmt)",
        )?;
    }
    if cmd!(sh, "cargo clippy --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?;
    } else {
        skip_or_fail("cargo clippy", "clippy is not installed (rustup component add clippy)")?;
    }
    Ok(())
}
