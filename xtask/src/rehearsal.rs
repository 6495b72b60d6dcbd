//! The container rehearsal in `cargo xtask test`: the four images, built by the fast path from
//! the binaries the tests just built, and PostgreSQL run on a private Docker network the way the
//! Helm chart runs them: read-only root filesystem, every capability dropped, no new privileges,
//! the images' non-root user, and each service reached by the name of its chart Service. Then
//! the `verify` smoke suite runs against the frontend's published port, the backend container
//! is stopped and started again and must still serve the tasks it stored, and every container
//! must stop on `docker stop` with exit code 0 within the grace period.
//!
//! No image can be pulled where this runs, so PostgreSQL comes from Debian's packages on a
//! Debian image made with debootstrap; both are kept between runs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::json;

use crate::exec::Command;
use crate::flags::{Platform, VerifyArgs};
use crate::images::{self, Binaries, Request, Route, SERVICES, Service};
use crate::project::{random_hex, root, skip_or_fail};
use crate::tools::docker::Docker;
use crate::tools::git::TreeState;

/// The chart's release name: its Services are `<release>-<service>`.
pub const RELEASE: &str = "todo-chatbot";
const DEBIAN_IMAGE: &str = "todo-chatbot-rehearsal/debian:bookworm";
const POSTGRES_REPOSITORY: &str = "todo-chatbot-rehearsal/postgres";
/// The pods' `terminationGracePeriodSeconds`.
const GRACE: Duration = Duration::from_secs(30);
const READY_WITHIN: Duration = Duration::from_secs(60);

pub fn run() -> anyhow::Result<()> {
    println!("\n==> container rehearsal: the images and PostgreSQL on a Docker network, run as the chart runs them");
    let docker = Docker::default();
    if let Err(e) = docker.ensure_daemon() {
        return skip_or_fail("the container rehearsal", &format!("{e:#}"));
    }
    let host = Platform::from_arch(std::env::consts::ARCH)?;
    if let Some(why) = images::fast_path_blocker(host) {
        return skip_or_fail("the container rehearsal", &why);
    }
    let postgres = postgres_image(&docker)?;
    let request = Request {
        services: SERVICES.iter().collect(),
        platform: host,
        route: Route::Prebuilt,
        binaries: Binaries::Debug,
        tree: TreeState::read()?,
        builder: docker.builder(),
        docker: docker.clone(),
        dry_run: false,
    };
    let built = images::build(&request)?;
    let mut stack = Stack::new(docker.clone());
    let outcome = rehearse(&mut stack, &postgres, &built);
    if outcome.is_err() {
        stack.print_logs();
    }
    drop(stack);
    for image in &built {
        let _ = docker.untag(&image.name);
    }
    outcome?;
    println!(
        "container rehearsal: verify passed, the backend kept its tasks across a restart, every container stopped with exit 0"
    );
    Ok(())
}

/// Starts PostgreSQL and the four services, each as the chart runs it, and waits until each is
/// ready; returns the token secret they share and, per service, how long it took to its first
/// 200 on `/readyz`.
pub fn start_system(
    stack: &mut Stack,
    postgres: &str,
    built: &[images::Image],
) -> anyhow::Result<(String, Vec<Readiness>)> {
    let password = random_hex(16);
    let secret = random_hex(32);
    stack.network()?;
    stack.start(
        "postgresql",
        postgres,
        None,
        &[("POSTGRES_PASSWORD", password.as_str())],
        // PostgreSQL writes its data, its socket and temporary files; everything else is read-only.
        &["/var/lib/postgresql/data:uid=999,gid=999,mode=0700", "/tmp:mode=1777"],
    )?;
    // The services would wait for it too (they retry for a minute), but then their start-up
    // times would be the database's.
    stack.wait_for_postgres()?;
    let database_url = format!("postgres://postgres:{password}@{}:5432/postgres", host("postgresql"));
    let image = |name: &str| {
        built
            .iter()
            .find(|i| i.service.name == name)
            .map(|i| i.name.clone())
            .with_context(|| format!("no {name} image was built"))
    };
    let mcp_hosts = format!("{},localhost,127.0.0.1", host("mcp"));
    let common = [
        ("BETTER_AUTH_SECRET", secret.as_str()),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "info,sqlx=warn"),
    ];
    let with = |extra: &[(&'static str, String)]| -> Vec<(String, String)> {
        common
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .chain(extra.iter().map(|(k, v)| ((*k).to_string(), v.clone())))
            .collect()
    };
    let mcp_env = with(&[("DATABASE_URL", database_url.clone()), ("MCP_ALLOWED_HOSTS", mcp_hosts)]);
    let agent_env = with(&[
        ("MCP_URL", format!("http://{}:8001/mcp", host("mcp"))),
        ("LLM_PROVIDER", "offline".into()),
    ]);
    let backend_env = with(&[
        ("DATABASE_URL", database_url.clone()),
        ("AGENT_URL", format!("http://{}:8002", host("agent"))),
    ]);
    let frontend_env = with(&[("BACKEND_URL", format!("http://{}:8000", host("backend")))]);
    let mut ready = Vec::new();
    // In dependency order, each ready before the next starts, so each time is its own.
    for (service, env) in [
        ("mcp", &mcp_env),
        ("agent", &agent_env),
        ("backend", &backend_env),
        ("frontend", &frontend_env),
    ] {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let port = SERVICES.iter().find(|s| s.name == service).map_or(0, |s| s.port);
        let started = Instant::now();
        stack.start(service, &image(service)?, Some(port), &env, &[])?;
        stack.wait_ready(service)?;
        let ready_at = chrono::Utc::now();
        let from_run = started.elapsed();
        let process_started = stack.state(service)?["StartedAt"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .with_context(|| format!("docker inspect: no StartedAt for {service}"))?;
        let from_process = (ready_at - process_started.with_timezone(&chrono::Utc))
            .to_std()
            .unwrap_or_default();
        ready.push(Readiness {
            service,
            from_run,
            from_process,
        });
    }
    Ok((secret, ready))
}

fn rehearse(stack: &mut Stack, postgres: &str, built: &[images::Image]) -> anyhow::Result<()> {
    let (secret, _) = start_system(stack, postgres, built)?;
    let url = stack.url("frontend")?;
    let others = ["backend", "mcp", "agent"]
        .iter()
        .map(|s| Ok(format!("{s}={}", stack.url(s)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // verify signs tokens it expects to be refused with the deployment's secret, if it has it.
    crate::verify::run_with_secret(
        &VerifyArgs {
            url: url.clone(),
            service: others,
            json: false,
        },
        Some(&secret),
    )?;

    // Tasks stored before a restart of the backend are there after it.
    let (token, user) = crate::api::sign_up(&url, "rehearsal")?;
    let client = crate::api::Client::new();
    let titles = ["rehearse buy milk", "rehearse call mom"];
    for title in titles {
        client.post(
            &format!("{url}/api/{user}/tasks"),
            Some(&token),
            &json!({"title": title}),
        )?;
    }
    let code = stack.stop("backend")?;
    ensure!(
        code == 0,
        "the backend exited with {code} on docker stop (SIGTERM), expected 0"
    );
    stack.docker.command(["start", &stack.container("backend")]).read()?;
    stack.wait_ready("backend")?;
    let backend_url = stack.url("backend")?;
    let listed = crate::api::get_json(&format!("{backend_url}/api/{user}/tasks"), &token)?;
    for title in titles {
        ensure!(
            listed
                .as_array()
                .is_some_and(|tasks| tasks.iter().any(|t| t["title"] == title)),
            "after the backend's restart its tasks are {listed}, without {title:?}"
        );
    }
    println!("the backend restarted and still lists the tasks it stored");

    for service in ["frontend", "backend", "agent", "mcp", "postgresql"] {
        let started = Instant::now();
        let code = stack.stop(service)?;
        let took = started.elapsed();
        ensure!(code == 0, "{service} exited with {code} on docker stop, expected 0");
        ensure!(
            took < GRACE,
            "{service} took {took:?} to stop, past the {GRACE:?} grace period"
        );
        println!(
            "{service}: stopped with exit 0 in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// How soon a service answered `/readyz` 200: from `docker run` (container creation, network,
/// the process's start) and from the moment its process started (`State.StartedAt`).
pub struct Readiness {
    pub service: &'static str,
    pub from_run: Duration,
    pub from_process: Duration,
}

/// The chart's Service name of a service.
pub fn host(service: &str) -> String {
    format!("{RELEASE}-{service}")
}

/// The containers of one rehearsal, removed with their network when dropped.
pub struct Stack {
    docker: Docker,
    run: String,
    started: Vec<String>,
    network: Option<String>,
}

impl Stack {
    pub fn new(docker: Docker) -> Stack {
        Stack {
            docker,
            run: format!("todo-rehearsal-{}", random_hex(3)),
            started: Vec::new(),
            network: None,
        }
    }

    pub fn container(&self, service: &str) -> String {
        format!("{}-{service}", self.run)
    }

    fn network(&mut self) -> anyhow::Result<()> {
        self.docker.command(["network", "create", &self.run]).read()?;
        self.network = Some(self.run.clone());
        Ok(())
    }

    /// `docker run` as the chart's pod spec runs the container: read-only, no capabilities, no
    /// privilege escalation, a non-root user, writable only where `tmpfs` says. A published port
    /// on loopback stands in for the Service, for the smoke suite.
    fn start(
        &mut self,
        service: &str,
        image: &str,
        port: Option<u16>,
        env: &[(&str, &str)],
        tmpfs: &[&str],
    ) -> anyhow::Result<()> {
        let name = self.container(service);
        let mut args: Vec<String> = vec![
            "run".into(),
            "--detach".into(),
            "--name".into(),
            name.clone(),
            "--network".into(),
            self.run.clone(),
            "--network-alias".into(),
            host(service),
            "--read-only".into(),
            "--cap-drop".into(),
            "ALL".into(),
            "--security-opt".into(),
            "no-new-privileges".into(),
            "--stop-timeout".into(),
            GRACE.as_secs().to_string(),
        ];
        if let Some(port) = port {
            args.extend(["--publish".into(), format!("127.0.0.1::{port}")]);
        }
        for mount in tmpfs {
            args.extend(["--tmpfs".into(), (*mount).to_string()]);
        }
        // `--env KEY` alone: docker takes the value from its own environment, so no secret is
        // on a command line (or in the log line below).
        let mut command = self.docker.command(Vec::<String>::new());
        for (key, value) in env {
            args.extend(["--env".into(), (*key).to_string()]);
            command = command.secret_env(key, value);
        }
        args.push(image.to_string());
        let command = command.args(args);
        eprintln!("$ {command}");
        command.read()?;
        self.started.push(name);
        Ok(())
    }

    /// `http://127.0.0.1:PORT` where docker published the service's port.
    pub fn url(&self, service: &str) -> anyhow::Result<String> {
        let port = SERVICES
            .iter()
            .find(|s| s.name == service)
            .map(|s: &Service| s.port)
            .with_context(|| format!("no service {service}"))?;
        let published = self
            .docker
            .command(["port", &self.container(service), &format!("{port}/tcp")])
            .read()?;
        let address = published
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .with_context(|| format!("{service}'s port {port} is not published: {published}"))?;
        Ok(format!("http://{}", address.trim()))
    }

    /// Waits for `/readyz` to answer 200; a container that exits meanwhile fails at once.
    fn wait_ready(&self, service: &str) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let url = format!("{}/readyz", self.url(service)?);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        loop {
            if agent.get(&url).call().is_ok() {
                return Ok(started.elapsed());
            }
            let state = self.state(service)?;
            if state["Running"] != true {
                bail!(
                    "{service}'s container stopped (exit code {}) before it was ready",
                    state["ExitCode"]
                );
            }
            if started.elapsed() > READY_WITHIN {
                bail!("{service} was not ready within {READY_WITHIN:?} ({url})");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until PostgreSQL accepts connections over TCP (`pg_isready` in its container).
    fn wait_for_postgres(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let name = self.container("postgresql");
        loop {
            let probe = self
                .docker
                .command(["exec", &name, "pg_isready", "--host", "127.0.0.1", "--quiet"])
                .output()?;
            if probe.success() {
                return Ok(());
            }
            if self.state("postgresql")?["Running"] != true {
                bail!("PostgreSQL's container stopped before it accepted connections");
            }
            if started.elapsed() > READY_WITHIN {
                bail!("PostgreSQL did not accept connections within {READY_WITHIN:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn state(&self, service: &str) -> anyhow::Result<serde_json::Value> {
        let text = self
            .docker
            .command(["inspect", "--format", "{{json .State}}", &self.container(service)])
            .read()?;
        serde_json::from_str(text.trim()).context("docker inspect: not JSON")
    }

    /// `docker stop` (SIGTERM, then SIGKILL after the grace period) and the exit code.
    pub fn stop(&self, service: &str) -> anyhow::Result<i64> {
        let name = self.container(service);
        self.docker
            .command(["stop", "--time", &GRACE.as_secs().to_string(), &name])
            .read()?;
        self.state(service)?["ExitCode"]
            .as_i64()
            .with_context(|| format!("docker inspect {name}: no exit code"))
    }

    pub fn print_logs(&self) {
        for name in &self.started {
            eprintln!("\n--- last lines of {name} ---");
            if let Ok(output) = self.docker.command(["logs", "--tail", "30", name]).output() {
                eprint!("{}{}", output.stdout, output.stderr);
            }
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for name in &self.started {
            let _ = self.docker.command(["rm", "--force", "--volumes", name]).output();
        }
        if let Some(network) = &self.network {
            let _ = self.docker.command(["network", "rm", network]).output();
        }
    }
}

/// The PostgreSQL image, built once per version of its Dockerfile (on the Debian image, made
/// once).
pub fn postgres_image(docker: &Docker) -> anyhow::Result<String> {
    let context = root().join("xtask/rehearsal/postgres");
    let ids = Command::new("git")
        .args(["hash-object", "Dockerfile", "entrypoint.sh"])
        .in_dir(&context)
        .read()?;
    let version: String = ids.split_whitespace().map(|id| &id[..8.min(id.len())]).collect();
    let image = format!("{POSTGRES_REPOSITORY}:15-{version}");
    if docker.image_exists(&image) {
        return Ok(image);
    }
    debian_image(docker)?;
    docker
        .command(["build", "--tag", &image, "."])
        .in_dir(&context)
        .run()
        .context("building the rehearsal's PostgreSQL image failed")?;
    Ok(image)
}

/// A Debian bookworm image made with debootstrap from the mirror this machine's apt uses.
fn debian_image(docker: &Docker) -> anyhow::Result<()> {
    if docker.image_exists(DEBIAN_IMAGE) {
        return Ok(());
    }
    if which::which("debootstrap").is_err() {
        bail!("the rehearsal's Debian image is made with debootstrap: install it (apt-get install debootstrap)");
    }
    let mirror = debian_mirror()?;
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let rootfs = dir.path().join("rootfs");
    let rootfs_arg = rootfs.to_string_lossy().into_owned();
    Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm", &rootfs_arg, &mirror])
        .run()
        .context("debootstrap failed (it needs root and the Debian mirror)")?;
    // tar's output straight into `docker import`; duct fails the pipe when either side fails.
    eprintln!("$ tar -C {rootfs_arg} -c . | docker import - {DEBIAN_IMAGE}");
    let mut import = duct::cmd("docker", ["import", "-", DEBIAN_IMAGE]).stdout_null();
    for (key, value) in docker.env() {
        import = import.env(key, value);
    }
    duct::cmd("tar", ["-C", rootfs_arg.as_str(), "-c", "."])
        .pipe(import)
        .run()
        .context("importing the Debian image failed (tar of the debootstrapped folder into `docker import`)")?;
    Ok(())
}

/// The Debian mirror in this machine's apt sources (deb822 `.sources` or one-line `sources.list`).
fn debian_mirror() -> anyhow::Result<String> {
    if let Ok(mirror) = std::env::var("DEBIAN_MIRROR") {
        return Ok(mirror);
    }
    let mut files = vec![Path::new("/etc/apt/sources.list").to_path_buf()];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(entries.flatten().map(|e| e.path()));
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let is_deb822 = file.extension().is_some_and(|e| e == "sources");
        let found = text.lines().map(str::trim).find_map(|line| {
            if is_deb822 {
                line.strip_prefix("URIs:")
                    .and_then(|uris| uris.split_whitespace().next())
                    .filter(|uri| uri.ends_with("/debian"))
            } else {
                let mut words = line.split_whitespace();
                (words.next() == Some("deb"))
                    .then(|| words.find(|w| w.starts_with("http")))
                    .flatten()
                    .filter(|uri| uri.trim_end_matches('/').ends_with("/debian"))
            }
        });
        if let Some(uri) = found {
            return Ok(uri.to_string());
        }
    }
    bail!(
        "no Debian mirror in /etc/apt/sources.list*: set DEBIAN_MIRROR to one (the rehearsal builds its PostgreSQL image from Debian's packages)"
    )
}
