//! `cargo xtask bench images`: the shipped images (fast path, `image` profile) measured against
//! their targets: size (≤ 25 MB uncompressed), container start to `/readyz` 200 (≤ 1 s), idle
//! memory from the container's cgroup (≤ 20 MiB), and the rebuild of one service's image after
//! a one-line change in it (≤ 90 s).

use std::fs;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::report::{Figure, Row};
use crate::checks::rehearsal::containers::{Stack, postgres_image, start_system};
use crate::cluster::images::{self, Binaries, Request, Route, SERVICES};
use crate::flags::Platform;
use crate::project::root;
use crate::tools::docker::Docker;
use crate::tools::git::TreeState;

const SIZE_TARGET_MB: f64 = 25.0;
const READY_TARGET: Duration = Duration::from_secs(1);
const MEMORY_TARGET_MIB: f64 = 20.0;
const REBUILD_TARGET: Duration = Duration::from_secs(90);
/// How long the services sit idle before their memory is read.
const IDLE: Duration = Duration::from_secs(5);

pub fn run() -> anyhow::Result<Vec<Row>> {
    let docker = Docker::default();
    docker.ensure_daemon()?;
    let host = Platform::from_arch(std::env::consts::ARCH)?;
    let request = |services: Vec<&'static images::Service>| -> anyhow::Result<Request> {
        Ok(Request {
            services,
            platform: host,
            route: Route::Prebuilt,
            binaries: Binaries::Shipped,
            tree: TreeState::read()?,
            builder: docker.builder(),
            docker: docker.clone(),
            dry_run: false,
        })
    };
    let started = Instant::now();
    let built = images::build(&request(images::servers())?)?;
    println!(
        "\nbuilt the four images in {:.1} s (cargo and docker)",
        started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    for image in &built {
        let size = docker.image_size(&image.name)? as f64 / 1e6;
        let compressed = docker.compressed_size(&image.name)? as f64 / 1e6;
        rows.push((image.service.name, size, compressed));
    }

    let postgres = postgres_image(&docker)?;
    let mut stack = Stack::new(docker.clone());
    let (_, ready) = match start_system(&mut stack, &postgres, &built) {
        Ok(started) => started,
        Err(e) => {
            stack.print_logs();
            return Err(e);
        }
    };
    std::thread::sleep(IDLE);
    let mut memory = Vec::new();
    for r in &ready {
        memory.push(idle_memory_mib(&docker, &stack.container(r.service))?);
    }
    drop(stack);

    println!(
        "\n{:<10} {:>9} {:>14} {:>18} {:>18} {:>10}",
        "image", "size MB", "compressed MB", "process→ready ms", "docker run→ready", "idle MiB"
    );
    let mut report = Vec::new();
    for (service, size, compressed) in &rows {
        let i = ready.iter().position(|r| r.service == *service).unwrap_or(0);
        report.push(Row::new("images", &format!("image of {service}")).with(vec![
            Figure::new("size", *size, "MB").target("≤ 25 MB", *size <= SIZE_TARGET_MB),
            Figure::new("compressed", *compressed, "MB"),
            Figure::new("process start → ready", ready[i].from_process.as_secs_f64() * 1000.0, "ms")
                .target("≤ 1 s", ready[i].from_process <= READY_TARGET),
            Figure::new("docker run → ready", ready[i].from_run.as_secs_f64() * 1000.0, "ms"),
            Figure::new("idle memory", memory[i], "MiB").target("≤ 20 MiB", memory[i] <= MEMORY_TARGET_MIB),
        ]));
        println!(
            "{service:<10} {size:>9.1} {compressed:>14.1} {:>18.0} {:>18.0} {:>10.1}",
            ready[i].from_process.as_secs_f64() * 1000.0,
            ready[i].from_run.as_secs_f64() * 1000.0,
            memory[i]
        );
    }
    let rebuild = rebuild_after_one_line_change(&request)?;
    println!(
        "\nrebuild of the mcp image after a one-line change in apps/mcp: {:.1} s",
        rebuild.as_secs_f64()
    );

    let worst_size = rows.iter().map(|r| r.1).fold(0.0, f64::max);
    let worst_ready = ready.iter().map(|r| r.from_process).max().unwrap_or_default();
    let worst_memory = memory.iter().copied().fold(0.0, f64::max);
    println!("\ntargets:");
    for (what, met, figure) in [
        (
            "each image ≤ 25 MB",
            worst_size <= SIZE_TARGET_MB,
            format!("largest {worst_size:.1} MB"),
        ),
        (
            "process start → /readyz 200 ≤ 1 s",
            worst_ready <= READY_TARGET,
            format!("slowest {:.0} ms", worst_ready.as_secs_f64() * 1000.0),
        ),
        (
            "idle memory ≤ 20 MiB",
            worst_memory <= MEMORY_TARGET_MIB,
            format!("largest {worst_memory:.1} MiB"),
        ),
        (
            "one-line rebuild ≤ 90 s",
            rebuild <= REBUILD_TARGET,
            format!("{:.1} s", rebuild.as_secs_f64()),
        ),
    ] {
        println!("  {:<36} {:<8} {figure}", what, if met { "met" } else { "NOT MET" });
    }
    for image in &built {
        let _ = docker.untag(&image.name);
    }
    report.push(
        Row::new("images", "mcp image rebuilt after a one-line change").with(vec![
            Figure::new("time", rebuild.as_secs_f64(), "s").target("≤ 90 s", rebuild <= REBUILD_TARGET),
        ]),
    );
    arm64_binary_runs(&request)?;
    Ok(report)
}

/// The arm64 build an Apple Silicon Minikube needs: cross-compiled with zig as the fast path
/// does it, then the MCP server run under qemu's arm64 emulation until `/readyz` answers 200.
fn arm64_binary_runs(request: &dyn Fn(Vec<&'static images::Service>) -> anyhow::Result<Request>) -> anyhow::Result<()> {
    if images::fast_path_blocker(Platform::Arm64).is_some() || which::which("qemu-aarch64-static").is_err() {
        println!(
            "
arm64: skipped (needs the aarch64-unknown-linux-musl target, cargo-zigbuild, ziglang and qemu-user-static)"
        );
        return Ok(());
    }
    let mut arm = request(images::servers())?;
    arm.platform = Platform::Arm64;
    let started = Instant::now();
    let staged = images::compile_and_stage(&arm)?;
    println!(
        "
arm64: the four binaries cross-built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let binary = root().join(&staged).join("todo-mcp");
    let header = fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
    // ELF e_machine at offset 18: 0xB7 is AArch64.
    anyhow::ensure!(
        header.len() > 20 && &header[..4] == b"\x7fELF" && header[18] == 0xB7,
        "{} is not an arm64 ELF binary",
        binary.display()
    );
    let data = tempfile::tempdir()?;
    let port = crate::local::api::free_port()?;
    let mut child = std::process::Command::new("qemu-aarch64-static")
        .arg(&binary)
        .env("PORT", port.to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env(
            "DATABASE_URL",
            format!("sqlite:{}", data.path().join("todo.db").display()),
        )
        .env("BETTER_AUTH_SECRET", crate::project::random_hex(32))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot start qemu-aarch64-static")?;
    let url = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    let ready = loop {
        if ureq::get(&url).call().is_ok() {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(60) || child.try_wait()?.is_some() {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id())?),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = child.wait()?;
    let ready = ready.context("the arm64 todo-mcp under qemu did not become ready within 60 s")?;
    println!(
        "arm64: todo-mcp ({:.1} MB) ran under qemu-aarch64: /readyz 200 after {:.0} ms, then SIGTERM: {status}",
        header.len() as f64 / 1e6,
        ready.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The container's memory as `docker stats` reads it from its cgroup (page cache left out).
fn idle_memory_mib(docker: &Docker, container: &str) -> anyhow::Result<f64> {
    let usage = docker
        .command(["stats", "--no-stream", "--format", "{{.MemUsage}}", container])
        .read()?;
    // "3.52MiB / 23.4GiB"
    let used = usage.split('/').next().unwrap_or_default().trim();
    let (number, unit) = used.split_at(used.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(used.len()));
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("docker stats said {usage:?}"))?;
    let factor = match unit {
        "B" => 1.0 / 1024.0 / 1024.0,
        "KiB" | "kB" => 1.0 / 1024.0,
        "MiB" | "MB" => 1.0,
        "GiB" | "GB" => 1024.0,
        other => anyhow::bail!("docker stats: unknown unit {other:?} in {usage:?}"),
    };
    Ok(value * factor)
}

/// Changes one line of the MCP server's source, rebuilds its image by the fast path (cargo,
/// staging, docker), and puts the line back, whatever happens.
fn rebuild_after_one_line_change(
    request: &dyn Fn(Vec<&'static images::Service>) -> anyhow::Result<Request>,
) -> anyhow::Result<Duration> {
    let path = root().join("apps/mcp/src/tools.rs");
    let original = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let restore = Restore {
        path: path.clone(),
        original: original.clone(),
    };
    let changed = format!(
        "{original}\n// bench images: a one-line change {}\n",
        crate::project::random_hex(4)
    );
    fs::write(&path, changed).with_context(|| format!("cannot write {}", path.display()))?;
    let mcp = SERVICES.iter().filter(|s| s.name == "mcp").collect();
    let started = Instant::now();
    let request = request(mcp)?;
    let built = images::build(&request)?;
    let took = started.elapsed();
    drop(restore);
    for image in &built {
        let _ = request.docker.untag(&image.name);
    }
    Ok(took)
}

struct Restore {
    path: std::path::PathBuf,
    original: String,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = fs::write(&self.path, &self.original);
    }
}
