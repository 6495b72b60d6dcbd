//! `cargo xtask bench commands`: how much time the deploy pipeline's commands spend in the
//! xtask itself, outside the external tools (the target: ≤ 1 s per command). Each command runs
//! against the fake minikube, kubectl, helm, docker and cargo of `xtask/tests/fakes/` (which
//! answer at once), and reports its own user + system CPU time (`getrusage(RUSAGE_SELF)`),
//! which counts neither its children nor the time it sleeps between polls.

use std::fs;
use std::os::unix::fs::symlink;
use std::time::Instant;

use anyhow::{Context as _, bail};

use super::report::{Figure, Row};
use crate::project::root;

pub const REPORT_OWN_TIME: &str = "XTASK_REPORT_OWN_TIME";
const PREFIX: &str = "xtask own CPU time: ";
const RUNS: usize = 3;
const TARGET_SECONDS: f64 = 1.0;

/// This process's user + system CPU time so far.
pub fn own_time_line() -> String {
    let seconds = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(f64::NAN);
    format!("{PREFIX}{seconds:.3} s")
}

/// One command to time: what it is, its arguments, the fakes' settings, whether it succeeds.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    bool,
);

pub fn run() -> anyhow::Result<Vec<Row>> {
    let fakes = tempfile::tempdir()?;
    let bin = fakes.path().join("bin");
    let state = fakes.path().join("state");
    fs::create_dir_all(&bin)?;
    let source = root().join("xtask/tests/fakes");
    for tool in [
        "docker",
        "minikube",
        "kubectl",
        "helm",
        "cargo",
        "rustc",
        "kubectl-ai",
        "kagent",
    ] {
        fs::copy(source.join(tool), bin.join(tool)).with_context(|| format!("no fake {tool}"))?;
    }
    for tool in [
        "sh", "git", "cat", "head", "tail", "tr", "wc", "mv", "mkdir", "touch", "rm", "sleep",
    ] {
        symlink(
            which::which(tool).with_context(|| format!("{tool} is needed by the fakes"))?,
            bin.join(tool),
        )?;
    }
    for tool in ["musl-gcc", "cargo-zigbuild"] {
        let path = bin.join(tool);
        fs::write(&path, "#!/bin/sh\nexit 0\n")?;
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    }
    let xtask = std::env::current_exe()?;
    let cases: [Case; 8] = [
        ("doctor", &["doctor", "--json"], &[], true),
        (
            "status",
            &["status"],
            &[("FAKE_HELM_HISTORY", "superseded deployed")],
            true,
        ),
        (
            "diagnose (a crash loop)",
            &["diagnose", "--no-ai"],
            &[("FAKE_PODS", "crashloop")],
            false,
        ),
        (
            "rollback --dry-run",
            &["rollback", "--dry-run"],
            &[("FAKE_HELM_HISTORY", "superseded deployed")],
            true,
        ),
        (
            "scale --dry-run",
            &["scale", "backend", "3", "--dry-run"],
            &[("FAKE_HELM_HISTORY", "deployed")],
            true,
        ),
        (
            "teardown --dry-run",
            &["teardown", "--dry-run"],
            &[("FAKE_HELM_HISTORY", "deployed")],
            true,
        ),
        (
            "deploy (every phase, a failed rollout undone)",
            &["deploy"],
            &[("FAKE_PODS", "imagepull"), ("FAKE_HELM_HISTORY", "superseded deployed")],
            false,
        ),
        (
            "verify (a rollout not finished)",
            &["verify"],
            &[("FAKE_PODS", "imagepull")],
            false,
        ),
    ];
    println!("\nbench commands: each against the fake tools, {RUNS} runs; the xtask's own CPU time (user + system)\n");
    println!("{:<48} {:>10} {:>10} {:>10}", "command", "own s", "wall s", "target");
    let mut worst: f64 = 0.0;
    let mut rows = Vec::new();
    for (what, args, settings, succeeds) in cases {
        let mut own_max: f64 = 0.0;
        let mut wall_max: f64 = 0.0;
        for _ in 0..RUNS {
            let _ = fs::remove_dir_all(&state);
            fs::create_dir_all(&state)?;
            let started = Instant::now();
            let output = std::process::Command::new(&xtask)
                .args(args)
                .env("PATH", &bin)
                .env("FAKE_STATE", &state)
                .env(
                    "FAKE_RUST_TARGETS",
                    "x86_64-unknown-linux-musl aarch64-unknown-linux-musl",
                )
                .env("CARGO_TARGET_DIR", fakes.path().join("target"))
                .env(REPORT_OWN_TIME, "1")
                .envs(settings.iter().copied())
                .output()
                .with_context(|| format!("cannot run xtask {}", args.join(" ")))?;
            wall_max = wall_max.max(started.elapsed().as_secs_f64());
            let stderr = String::from_utf8_lossy(&output.stderr);
            if output.status.success() != succeeds {
                bail!(
                    "xtask {} {} unexpectedly:\n{stderr}",
                    args.join(" "),
                    if succeeds { "failed" } else { "succeeded" }
                );
            }
            let own: f64 = stderr
                .lines()
                .find_map(|l| l.strip_prefix(PREFIX))
                .and_then(|s| s.trim_end_matches(" s").parse().ok())
                .with_context(|| format!("xtask {} reported no own time", args.join(" ")))?;
            own_max = own_max.max(own);
        }
        worst = worst.max(own_max);
        rows.push(Row::new("commands", what).with(vec![
            Figure::new("own CPU time", own_max, "s").target("≤ 1 s", own_max <= TARGET_SECONDS),
            Figure::new("wall time with the fakes", wall_max, "s"),
        ]));
        println!(
            "{what:<48} {own_max:>10.3} {wall_max:>10.2} {:>10}",
            if own_max <= TARGET_SECONDS { "met" } else { "MISSED" }
        );
    }
    println!("\nworst own time {worst:.3} s (target ≤ {TARGET_SECONDS} s); wall time includes the fake tools");
    Ok(rows)
}
