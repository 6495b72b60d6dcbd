//! `cargo xtask test`: what CI runs, and what a developer runs before pushing. Besides `cargo
//! test`, the project's own checks live here, a module each: static checks (hadolint, cargo
//! audit), the workflows, the chart (`chart`, and `rehearsal` in Docker), the API
//! contract, third-party MCP clients, the dev stack with a browser, and the pinned tools they run.

pub mod browser;
pub mod chart;
pub mod contract;
pub mod dev_check;
pub mod mcp_clients;
pub mod pinned_kube_tools;
pub mod pinned_node;
pub mod rehearsal;
pub mod static_checks;
pub mod workflows;

use xshell::{Shell, cmd};

use crate::flags::TestArgs;
use crate::project::skip_or_fail;

pub fn run(sh: &Shell, args: &TestArgs) -> anyhow::Result<()> {
    if args.clients_only {
        mcp_clients::run(sh)?;
        return dev_check::run();
    }
    if args.containers_only {
        return rehearsal::containers::run();
    }
    if args.chart_only {
        return chart::run();
    }
    if args.workflows_only {
        return workflows::run();
    }
    if args.contract_only {
        return contract::run(sh);
    }
    if !args.no_lint {
        lint(sh)?;
    }
    if args.filter.is_none() {
        static_checks::run()?;
        workflows::run()?;
        chart::run()?;
    }
    let filter = args.filter.as_slice();
    // The same package set as `build_services`, so the process suites reuse these binaries; xtask
    // on its own, with the features `cargo xtask` already built it with.
    cmd!(
        sh,
        "cargo test --workspace --exclude xtask --all-targets --locked -- {filter...}"
    )
    .run()?;
    // The deploy path's tests run the real kubectl and Helm 3 and 4 against a stand-in cluster:
    // they are fetched first (once), and named to the tests.
    cluster_clients(sh)?;
    cmd!(sh, "cargo test -p xtask --all-targets --locked -- {filter...}").run()?;
    if args.filter.is_none() {
        contract::run(sh)?;
        mcp_clients::run(sh)?;
        dev_check::run()?;
        rehearsal::containers::run()?;
    }
    Ok(())
}

/// Sets `KUBECTL`, `HELM3` and `HELM4` in `sh` for the tests; a loud skip (or, under CI, an
/// error) when they cannot be had.
fn cluster_clients(sh: &Shell) -> anyhow::Result<()> {
    let kubectl = match pinned_kube_tools::ensure_kubectl() {
        Ok(kubectl) => kubectl,
        Err(e) => return skip_or_fail("the deploy path on the stand-in cluster", &format!("{e:#}")),
    };
    sh.set_var("KUBECTL", kubectl);
    for helm in pinned_kube_tools::ensure()? {
        sh.set_var(format!("HELM{}", helm.major()), &helm.bin);
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
