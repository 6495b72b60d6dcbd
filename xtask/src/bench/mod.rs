//! `cargo xtask bench`: the benchmarks, one module each, and `cargo xtask bench` with no name,
//! which runs them all and writes `target/bench/report.json`. What they share lives in `stack`
//! (the services and databases they run on), `load` (the load generator) and `report` (figures,
//! targets and the report); the benchmarks do not import each other.

mod api;
mod chat;
pub mod commands;
mod images;
mod instructions;
mod load;
mod mcp;
mod report;
mod soak;
mod stack;
mod startup;

use anyhow::bail;
use clap::ValueEnum as _;
use xshell::Shell;

use crate::flags::{BenchArgs, BenchTarget};
use report::{Missing, Row};

pub fn run(sh: &Shell, args: &BenchArgs) -> anyhow::Result<()> {
    if args.instructions && !matches!(args.target, Some(BenchTarget::Mcp | BenchTarget::Api)) {
        bail!(
            "--instructions counts MCP tool calls or API requests: use it with `cargo xtask bench mcp` or `bench api`"
        );
    }
    match args.target {
        Some(target) => one(sh, args, target).and_then(|rows| held(target, &rows)),
        None => every(sh, args),
    }
}

/// The soak's targets are its pass mark (no failed request, no memory growth, p99 under the
/// original plan's 500 ms); the other benchmarks report theirs and fail only on failed requests.
fn held(target: BenchTarget, rows: &[Row]) -> anyhow::Result<()> {
    let unmet = report::unmet(rows);
    if matches!(target, BenchTarget::Soak) && !unmet.is_empty() {
        bail!("the soak missed its targets: {}", unmet.join(", "));
    }
    Ok(())
}

fn one(sh: &Shell, args: &BenchArgs, target: BenchTarget) -> anyhow::Result<Vec<Row>> {
    match target {
        BenchTarget::Api => api::run(sh, args),
        BenchTarget::Mcp => mcp::run(sh, args),
        BenchTarget::Chat => chat::run(sh, args),
        BenchTarget::Soak => soak::run(
            sh,
            &soak::Options {
                seconds: args.seconds.unwrap_or(300),
                rate: args.rate,
                postgres: stack::postgres(args),
            },
        ),
        BenchTarget::Startup => startup::run(sh),
        BenchTarget::Images => images::run(),
        BenchTarget::Commands => commands::run(),
    }
}

/// `cargo xtask bench`: every benchmark, one after another (images only where Docker runs), then
/// `target/bench/report.json` and a table of everything. A benchmark that fails is reported and
/// the others still run; the command fails at the end.
fn every(sh: &Shell, args: &BenchArgs) -> anyhow::Result<()> {
    let (mut rows, mut skipped, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for target in BenchTarget::value_variants() {
        let name = target
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().to_string());
        if matches!(target, BenchTarget::Images)
            && let Err(e) = crate::tools::docker::Docker::default().ensure_daemon()
        {
            skipped.push(Missing {
                bench: name,
                reason: format!("{e:#}"),
            });
            continue;
        }
        println!("\n==> cargo xtask bench {name}");
        match one(sh, args, *target) {
            Ok(found) => {
                if let Err(e) = held(*target, &found) {
                    failed.push(Missing {
                        bench: name.clone(),
                        reason: format!("{e:#}"),
                    });
                }
                rows.extend(found);
            }
            Err(e) => {
                eprintln!("bench {name} failed: {e:#}");
                failed.push(Missing {
                    bench: name,
                    reason: format!("{e:#}"),
                });
            }
        }
    }
    report::write(&rows, &skipped, &failed)?;
    if !failed.is_empty() {
        bail!("{} benchmark(s) failed: see above", failed.len());
    }
    Ok(())
}
