//! `cargo xtask bench startup`: each service's release binary, natively on this machine: from
//! process start to `/readyz` answering 200 (migrations on a fresh SQLite file included for the
//! first with the database, the services it depends on already up), and its resident memory once
//! idle. The images benchmark measures
//! the same inside containers, where Docker runs.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use xshell::Shell;

use super::load::rss_kib;
use super::report::{Figure, Row};
use crate::local::api::free_port;
use crate::local::supervisor::{Spec, Supervisor};
use crate::project::{Profile, bin_dir, build_services, random_hex, target_dir};

const READY_TARGET: Duration = Duration::from_secs(1);
const IDLE_TARGET_MIB: f64 = 20.0;
/// How long a service sits unused before its memory is read.
const IDLE: Duration = Duration::from_secs(3);

pub fn run(sh: &Shell) -> anyhow::Result<Vec<Row>> {
    build_services(sh, Profile::Release)?;
    let dir = target_dir().join(format!("bench-startup-{}", random_hex(4)));
    std::fs::create_dir_all(&dir)?;
    let secret = random_hex(32);
    println!("\nbench startup: release binaries on a fresh SQLite file; start → /readyz 200, then idle memory\n");
    println!("{:<10} {:>14} {:>12}", "service", "ready in ms", "idle MiB");
    let mut rows = Vec::new();
    // In the order they depend on each other, each left running: a service is ready only once
    // what it needs answers (the agent its MCP server, the frontend its backend).
    let database = format!("sqlite:{}", dir.join("todo.db").display());
    let mut running = Vec::new();
    let mut urls: Vec<(&str, String)> = Vec::new();
    for (service, binary, needs) in [
        ("mcp", "todo-mcp", None),
        ("agent", "todo-agent", Some(("MCP_URL", "mcp", "/mcp"))),
        ("backend", "todo-backend", Some(("AGENT_URL", "agent", ""))),
        ("frontend", "todo-frontend", Some(("BACKEND_URL", "backend", ""))),
    ] {
        let port = free_port()?;
        let mut spec = Spec::new(service, bin_dir("release").join(binary))
            .env("PORT", &port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("DATABASE_URL", &database)
            .env("BETTER_AUTH_SECRET", &secret)
            .env("LLM_PROVIDER", "offline")
            .env("RUST_LOG", "warn");
        if let Some((variable, dependency, path)) = needs
            && let Some((_, url)) = urls.iter().find(|(name, _)| *name == dependency)
        {
            spec = spec.env(variable, &format!("{url}{path}"));
        }
        let started = Instant::now();
        let mut supervisor = Supervisor::start(vec![spec])?;
        supervisor.wait_ready(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(30))?;
        let ready = started.elapsed();
        std::thread::sleep(IDLE);
        let pid = supervisor
            .pid(service)
            .with_context(|| format!("{service} is not running"))?;
        let idle = rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
        running.push(supervisor);
        urls.push((service, format!("http://127.0.0.1:{port}")));
        println!("{service:<10} {:>14.0} {idle:>12.1}", ready.as_secs_f64() * 1000.0);
        rows.push(Row::new("startup", &format!("{service}, native")).with(vec![
            Figure::new("start → ready", ready.as_secs_f64() * 1000.0, "ms").target("≤ 1 s", ready <= READY_TARGET),
            Figure::new("idle memory", idle, "MiB").target("≤ 20 MiB", idle <= IDLE_TARGET_MIB),
        ]));
    }
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
