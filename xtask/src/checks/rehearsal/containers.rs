//! The container rehearsal in `cargo xtask test`: the images, built by the fast path from the
//! binaries the tests just built, run as the Helm chart renders them (`rehearsal::chart`: every
//! workload's pod spec turned into `docker run`, waited on by its own probes, then the smoke
//! suite, the `helm test` pod, a backend restart that keeps its tasks, and exit 0 on SIGTERM
//! everywhere); then four deliberate breaks of the rendered chart must each fail it.
//! `start_system` also starts the stack by hand, one service after the other, for the image
//! benchmark's start-up times.
//!
//! No image can be pulled where this runs, so PostgreSQL comes from Debian's packages on a
//! Debian image made with debootstrap; both are kept between runs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::chart::{self, manifests::Manifests};
use crate::cluster::images::{self, Binaries, Request, Route, SERVICES, Service};
use crate::exec::Command;
use crate::flags::Platform;
use crate::project::{random_hex, root, skip_or_fail};
use crate::tools::docker::Docker;
use crate::tools::git::TreeState;

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
    let outcome = rehearse_chart(&docker, &postgres, &built);
    for image in &built {
        let _ = docker.untag(&image.name);
    }
    outcome
}

/// The chart, rendered for the images just built (and the local PostgreSQL), run in Docker as a
/// cluster would run it; then each of four breaks must make the rehearsal fail, naming the
/// manifest; and a Secret the release reads but does not render must be caught before anything
/// starts.
fn rehearse_chart(docker: &Docker, postgres: &str, built: &[images::Image]) -> anyhow::Result<()> {
    let Some(helm) = crate::checks::pinned_kube_tools::ensure()?
        .into_iter()
        .max_by_key(|h| h.major())
    else {
        return skip_or_fail("the chart rehearsal", "no helm binary could be found or fetched");
    };
    let tag = built
        .first()
        .and_then(|i| i.name.rsplit_once(':'))
        .map(|(_, tag)| tag.to_string())
        .context("no image was built")?;
    let (postgres_repository, postgres_tag) = postgres.rsplit_once(':').context("the PostgreSQL image has no tag")?;
    let sets = [
        format!("global.image.tag={tag}"),
        "global.image.pullPolicy=Never".to_string(),
        format!("postgresql.image.repository={postgres_repository}"),
        format!("postgresql.image.tag={postgres_tag}"),
    ];
    let chart = chart::chart_dir();
    let yaml = helm.render(&chart, chart::RELEASE, chart::NAMESPACE, &[], &sets)?;
    let manifests = Manifests::parse(&yaml)?;
    super::chart::rehearse(docker, &manifests, chart::NAMESPACE)?;
    println!(
        "chart rehearsal: every workload ready by its own probes, verify and the helm test pod passed, every container stopped with exit 0"
    );

    for (what, broken, names) in super::chart::broken_variants(&manifests) {
        super::chart::expect_failure(docker, what, &broken, chart::NAMESPACE, names)?;
    }
    let external = chart.join("ci/external-database-values.yaml");
    let yaml = helm.render(&chart, chart::RELEASE, chart::NAMESPACE, &[external], &sets)?;
    let missing = super::pod_plan::plan(&Manifests::parse(&yaml)?, chart::NAMESPACE)
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    ensure!(
        missing.contains("Secret todo-"),
        "a release whose Secrets are the user's (not rendered) was not refused before starting: {missing:?}"
    );
    println!(
        "refused before anything started: {}",
        missing.lines().next().unwrap_or("")
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
        let port = SERVICES.iter().find(|s| s.name == service).and_then(|s| s.port);
        let started = Instant::now();
        stack.start(service, &image(service)?, port, &env, &[])?;
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

/// How soon a service answered `/readyz` 200: from `docker run` (container creation, network,
/// the process's start) and from the moment its process started (`State.StartedAt`).
pub struct Readiness {
    pub service: &'static str,
    pub from_run: Duration,
    pub from_process: Duration,
}

/// The chart's Service name of a service.
pub fn host(service: &str) -> String {
    format!("{}-{service}", chart::RELEASE)
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
            .and_then(|s: &Service| s.port)
            .with_context(|| format!("no service {service} with a port"))?;
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

/// A Debian bookworm image: Docker's official one where a registry answers (a hosted runner),
/// else made with debootstrap from the mirror this machine's apt uses.
fn debian_image(docker: &Docker) -> anyhow::Result<()> {
    if docker.image_exists(DEBIAN_IMAGE) {
        return Ok(());
    }
    let pulled = docker
        .command(["pull", "--quiet", "debian:bookworm"])
        .output()
        .is_ok_and(|o| o.success());
    if pulled {
        return docker.command(["tag", "debian:bookworm", DEBIAN_IMAGE]).run();
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
