//! `cargo xtask images`: the services' container images, from `apps/Dockerfile`.
//!
//! Two ways to one runtime stage: the fast path compiles static musl binaries on the host and
//! copies them in (the Dockerfile's `prebuilt` target), the other compiles inside Docker (its
//! `compiled` target). Every image is tagged with the commit it was built from, plus a hash of
//! the uncommitted changes when there are any, so a tag never names two different builds and a
//! cluster never runs a stale image under a reused tag. Built images can go into Minikube's
//! runtime or to a registry.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::exec::{self, Command};
use crate::flags::{ImagesArgs, Load, Platform, ServiceName};
use crate::project::{root, target_dir};
use crate::tools::docker::{Builder, Docker};
use crate::tools::git::TreeState;
use crate::tools::kubectl;
use crate::tools::minikube::{self, DockerEnv, Minikube};

/// A program as its image knows it: the four services, and the smoke test `helm test` runs.
pub struct Service {
    pub name: &'static str,
    pub binary: &'static str,
    /// The port it serves; `None` for a client (the smoke test).
    pub port: Option<u16>,
}

pub const SERVICES: [Service; 5] = [
    Service {
        name: "backend",
        binary: "todo-backend",
        port: Some(8000),
    },
    Service {
        name: "mcp",
        binary: "todo-mcp",
        port: Some(8001),
    },
    Service {
        name: "agent",
        binary: "todo-agent",
        port: Some(8002),
    },
    Service {
        name: "frontend",
        binary: "todo-frontend",
        port: Some(3000),
    },
    Service {
        name: "smoke",
        binary: "todo-smoke",
        port: None,
    },
];

/// The four services (the images that serve a port), without the smoke test.
pub fn servers() -> Vec<&'static Service> {
    SERVICES.iter().filter(|s| s.port.is_some()).collect()
}

impl ServiceName {
    pub fn service(self) -> &'static Service {
        let name = match self {
            ServiceName::Backend => "backend",
            ServiceName::Mcp => "mcp",
            ServiceName::Agent => "agent",
            ServiceName::Frontend => "frontend",
            ServiceName::Smoke => "smoke",
        };
        SERVICES.iter().find(|s| s.name == name).unwrap_or(&SERVICES[0])
    }
}

impl Platform {
    pub fn docker(self) -> &'static str {
        match self {
            Platform::Amd64 => "linux/amd64",
            Platform::Arm64 => "linux/arm64",
        }
    }

    pub fn arch(self) -> &'static str {
        match self {
            Platform::Amd64 => "amd64",
            Platform::Arm64 => "arm64",
        }
    }

    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::Amd64 => "x86_64-unknown-linux-musl",
            Platform::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// From an architecture as Docker, Kubernetes or Rust names it.
    pub fn from_arch(arch: &str) -> anyhow::Result<Platform> {
        match arch.trim() {
            "amd64" | "x86_64" => Ok(Platform::Amd64),
            "arm64" | "aarch64" => Ok(Platform::Arm64),
            other => bail!(
                "no images for the {other:?} architecture: the services are built for linux/amd64 and linux/arm64"
            ),
        }
    }

    fn of_this_host() -> Platform {
        Platform::from_arch(std::env::consts::ARCH).unwrap_or(Platform::Amd64)
    }
}

/// Which build of the binaries goes in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Binaries {
    /// The `image` profile: what ships.
    Shipped,
    /// The debug build the tests already made (the container rehearsal in `cargo xtask test`).
    Debug,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Route {
    /// Compiled on the host, copied into the image.
    Prebuilt,
    /// Compiled inside Docker.
    InDocker,
}

/// One set of images to build.
pub struct Request {
    pub services: Vec<&'static Service>,
    pub platform: Platform,
    pub route: Route,
    pub binaries: Binaries,
    pub tree: TreeState,
    pub docker: Docker,
    pub builder: Builder,
    pub dry_run: bool,
}

/// A built image.
pub struct Image {
    pub service: &'static Service,
    pub name: String,
    pub took: Duration,
}

/// The repository of a service's image (`todo-backend`), under `registry` when given.
pub fn repository(service: &Service, registry: Option<&str>) -> String {
    match registry {
        Some(registry) => format!("{}/{}", registry.trim_end_matches('/'), service.binary),
        None => service.binary.to_string(),
    }
}

impl Request {
    /// The tag of every image of this request: the tree's, plus what else makes the image differ.
    pub fn tag(&self) -> String {
        let mut tag = self.tree.tag();
        if self.platform != Platform::Amd64 {
            tag.push('-');
            tag.push_str(self.platform.arch());
        }
        if self.binaries == Binaries::Debug {
            tag.push_str("-debug");
        }
        tag
    }
}

pub fn run(args: &ImagesArgs) -> anyhow::Result<()> {
    build_and_ship(args).map(|_| ())
}

/// Builds the images, loads or pushes them as `args` say, prints the report; the tag they got.
pub fn build_and_ship(args: &ImagesArgs) -> anyhow::Result<String> {
    let started = Instant::now();
    let services: Vec<&'static Service> = if args.services.is_empty() {
        SERVICES.iter().collect()
    } else {
        let mut chosen: Vec<&'static Service> = args.services.iter().map(|s| s.service()).collect();
        chosen.dedup_by_key(|s| s.name);
        chosen
    };
    if let Some(registry) = &args.push {
        check_registry(registry)?;
    }
    let tree = TreeState::read()?;
    check_push_allowed(&tree, args.push.is_some(), args.allow_dirty)?;

    let minikube = (args.load == Load::Minikube).then(|| Minikube::new(&args.profile));
    let mut load_with_image_load = false;
    let docker = match &minikube {
        Some(cluster) => {
            eprintln!(
                "# asking minikube for its Docker daemon: {}",
                cluster.docker_env_command()
            );
            match cluster.docker_env()? {
                DockerEnv::Ready(env) => Docker::with_env(env),
                DockerEnv::Unsuitable(why) => {
                    eprintln!(
                        "# minikube has no single Docker daemon to build into ({why}): building locally, then `minikube image load`"
                    );
                    load_with_image_load = true;
                    Docker::default()
                }
            }
        }
        None => Docker::default(),
    };
    let daemon_arch = match docker.ensure_daemon() {
        Ok(arch) => arch,
        Err(e) if args.dry_run => {
            eprintln!("# {e:#} (dry run: going on as if it were)");
            Platform::of_this_host().arch().to_string()
        }
        Err(e) => return Err(e),
    };
    let platform = match (args.platform, &minikube) {
        (Some(platform), _) => platform,
        (None, Some(cluster)) => {
            eprintln!(
                "# asking the cluster for its nodes' architecture: {}",
                kubectl::node_architectures_command(Some(&cluster.profile))
            );
            Platform::from_arch(&kubectl::node_architecture(Some(&cluster.profile))?)?
        }
        (None, None) => Platform::from_arch(&daemon_arch)?,
    };
    let builder = docker.builder();
    let route = choose_route(args, platform)?;
    let request = Request {
        services,
        platform,
        route,
        binaries: Binaries::Shipped,
        tree,
        docker,
        builder,
        dry_run: args.dry_run,
    };
    let images = build(&request)?;

    if let Some(cluster) = minikube.as_ref().filter(|_| load_with_image_load) {
        load_into_minikube(cluster, &images, args.dry_run)?;
    }
    let pushed = match &args.push {
        Some(registry) => push(&request.docker, &images, registry, &request.tag(), args.dry_run)?,
        None => Vec::new(),
    };
    if args.dry_run {
        return Ok(request.tag());
    }
    let report = Report::measure(&request, &images, &pushed, args.load, started.elapsed())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json)?);
    } else {
        report.print(args.report_to_stderr);
    }
    Ok(request.tag())
}

/// A registry as `--push` takes it: a host (and port) with an optional path, no scheme.
fn check_registry(registry: &str) -> anyhow::Result<()> {
    let valid = !registry.is_empty()
        && !registry.contains("://")
        && !registry.ends_with('/')
        && registry
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._:/".contains(c));
    if !valid {
        bail!(
            "--push {registry:?} is not a registry: give a host and path in lower case, without a scheme (`ghcr.io/you`, `registry.example.com:5000/team`)"
        );
    }
    Ok(())
}

/// A pushed image should name a commit others can check out: a dirty tree only on request.
fn check_push_allowed(tree: &TreeState, push: bool, allow_dirty: bool) -> anyhow::Result<()> {
    if push && tree.dirty_tree.is_some() && !allow_dirty {
        bail!(
            "the tree has uncommitted changes: commit them so the pushed tag names a commit, or pass --allow-dirty (the tag becomes {})",
            tree.tag()
        );
    }
    Ok(())
}

fn choose_route(args: &ImagesArgs, platform: Platform) -> anyhow::Result<Route> {
    if args.in_docker {
        return Ok(Route::InDocker);
    }
    match (fast_path_blocker(platform), args.prebuilt) {
        (None, _) => Ok(Route::Prebuilt),
        (Some(why), true) => bail!(
            "--prebuilt cannot build {} binaries here: {why}",
            platform.rust_target()
        ),
        (Some(why), false) => {
            eprintln!(
                "# this host cannot build {} binaries ({why}): compiling inside Docker instead",
                platform.rust_target()
            );
            Ok(Route::InDocker)
        }
    }
}

/// Why this host cannot compile the platform's static binaries, if it cannot.
pub fn fast_path_blocker(platform: Platform) -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some("static Linux binaries are built on Linux hosts only".into());
    }
    let triple = platform.rust_target();
    if !rust_target_installed(triple) {
        return Some(format!("the Rust target is not installed (rustup target add {triple})"));
    }
    if platform == Platform::of_this_host() {
        if which::which("musl-gcc").is_err() {
            return Some(
                "there is no musl C compiler for the crates that compile C (install musl-tools: apt-get install musl-tools)"
                    .into(),
            );
        }
    } else if which::which("cargo-zigbuild").is_err() {
        return Some("cross-building needs cargo-zigbuild and zig (pip install cargo-zigbuild ziglang)".into());
    }
    None
}

fn rust_target_installed(triple: &str) -> bool {
    Command::new("rustc")
        .args(["--print", "sysroot"])
        .read()
        .is_ok_and(|sysroot| {
            Path::new(sysroot.trim())
                .join("lib/rustlib")
                .join(triple)
                .join("lib")
                .is_dir()
        })
}

/// Builds the images (in parallel). On any failure, the tags this run created are removed again,
/// so no half-built set is left under the new tag.
pub fn build(request: &Request) -> anyhow::Result<Vec<Image>> {
    let tag = request.tag();
    if request.route == Route::InDocker && request.builder == Builder::Legacy {
        bail!(
            "building inside Docker needs BuildKit (the docker buildx plugin): install it, or build on the host with --prebuilt"
        );
    }
    if request.builder == Builder::Legacy && request.platform != Platform::of_this_host() {
        bail!(
            "Docker's legacy builder cannot build {} images on this {} host: install the docker buildx plugin (BuildKit)",
            request.platform.docker(),
            Platform::of_this_host().arch()
        );
    }
    let staged = match request.route {
        Route::Prebuilt => Some(compile_and_stage(request)?),
        Route::InDocker => None,
    };
    if request.route == Route::InDocker {
        // The builder stage does not depend on the service: build it once, then the four images
        // find it in the cache.
        let builder = docker_build(
            request,
            None,
            &staged,
            "builder",
            &format!("todo-chatbot-builder:{tag}"),
        );
        if request.dry_run {
            eprintln!("$ {builder}");
        } else {
            builder.run().context("compiling the services inside Docker failed")?;
        }
    }
    let target = match request.route {
        Route::Prebuilt => "prebuilt",
        Route::InDocker => "compiled",
    };
    let images: Vec<(&'static Service, String)> = request
        .services
        .iter()
        .map(|s| (*s, format!("{}:{tag}", repository(s, None))))
        .collect();
    let commands: Vec<(String, Command)> = images
        .iter()
        .map(|(service, image)| {
            (
                service.name.to_string(),
                docker_build(request, Some(service), &staged, target, image),
            )
        })
        .collect();
    if request.dry_run {
        for (_, command) in &commands {
            eprintln!("$ {command}");
        }
        return Ok(images
            .into_iter()
            .map(|(service, name)| Image {
                service,
                name,
                took: Duration::ZERO,
            })
            .collect());
    }
    let existed: Vec<bool> = images
        .iter()
        .map(|(_, image)| request.docker.image_exists(image))
        .collect();
    let finished = exec::run_parallel(commands);
    let failed: Vec<&exec::Finished> = finished.iter().filter(|f| f.outcome.is_err()).collect();
    if !failed.is_empty() {
        for ((_, image), existed) in images.iter().zip(&existed) {
            if !existed && request.docker.image_exists(image) {
                let _ = request.docker.untag(image);
            }
        }
        for f in &failed {
            eprintln!("\n{} image failed; its last lines:", f.label);
            for line in &f.tail {
                eprintln!("  {line}");
            }
        }
        let first = failed[0];
        let error = first
            .outcome
            .as_ref()
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        bail!(
            "the {} image did not build ({}): see its lines above; no image of this set was left tagged {tag}",
            first.label,
            first.tail.last().map_or(error.as_str(), String::as_str)
        );
    }
    Ok(images
        .into_iter()
        .zip(finished)
        .map(|((service, name), f)| Image {
            service,
            name,
            took: f.took,
        })
        .collect())
}

fn docker_build(
    request: &Request,
    service: Option<&Service>,
    staged: &Option<String>,
    target: &str,
    image: &str,
) -> Command {
    let tree = &request.tree;
    let created = if tree.dirty_tree.is_some() {
        chrono_now()
    } else {
        tree.commit_time.clone()
    };
    let mut args: Vec<String> = [
        "build",
        "--file",
        "apps/Dockerfile",
        "--target",
        target,
        "--platform",
        request.platform.docker(),
    ]
    .map(String::from)
    .to_vec();
    let mut build_arg = |key: &str, value: &str| {
        args.push("--build-arg".into());
        args.push(format!("{key}={value}"));
    };
    if let Some(service) = service {
        build_arg("SERVICE", service.name);
        match service.port {
            Some(port) => build_arg("PORT", &port.to_string()),
            None => build_arg("KIND", "client"),
        }
        build_arg("VERSION", env!("CARGO_PKG_VERSION"));
        build_arg("REVISION", &tree.full_sha);
        build_arg("CREATED", &created);
        if let Some(origin) = &tree.origin {
            build_arg("SOURCE", origin);
        }
    }
    if let Some(staged) = staged {
        build_arg("STAGED", staged);
    }
    args.extend(["--tag".to_string(), image.to_string(), ".".to_string()]);
    let command = request.docker.command(args);
    // Docker before 23 has BuildKit built in, behind this variable; later ones use buildx.
    match request.builder {
        Builder::BuildKit => command.env("DOCKER_BUILDKIT", "1"),
        Builder::Legacy => command,
    }
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Compiles the services for the platform (one cargo build for all of them, the package set every
/// build of the project uses) and stages them with the CA bundle in `target/images/`, inside
/// the build context. Returns the staging folder relative to the workspace.
pub fn compile_and_stage(request: &Request) -> anyhow::Result<String> {
    let triple = request.platform.rust_target();
    let cross = request.platform != Platform::of_this_host();
    let (profile_dir, profile_args): (&str, &[&str]) = match request.binaries {
        Binaries::Shipped => ("image", &["--locked", "--profile", "image"]),
        Binaries::Debug => ("debug", &[]),
    };
    let auditable = request.binaries == Binaries::Shipped && !cross && which::which("cargo-auditable").is_ok();
    let subcommand: &[&str] = match (cross, auditable) {
        (true, _) => &["zigbuild"],
        (false, true) => &["auditable", "build"],
        (false, false) => &["build"],
    };
    if request.binaries == Binaries::Shipped && !auditable {
        let why = if cross {
            "cross builds (cargo zigbuild) are not made with cargo-auditable yet"
        } else {
            "cargo-auditable is not installed (cargo install cargo-auditable)"
        };
        eprintln!("# {why}: the binaries will not list their dependencies for image scanners");
    }
    let cargo = Command::new("cargo")
        .args(subcommand.iter().copied())
        .args(profile_args.iter().copied())
        .args(["--target", triple, "--workspace", "--exclude", "xtask", "--bins"]);
    let staged_rel = format!("target/images/{triple}/{profile_dir}");
    if request.dry_run {
        eprintln!("$ {cargo}");
        eprintln!("# then copy the binaries and this host's CA bundle into {staged_rel}/");
        return Ok(staged_rel);
    }
    let started = Instant::now();
    cargo.run().context("compiling the services failed")?;
    eprintln!("# compiled in {:.1} s", started.elapsed().as_secs_f64());

    let built = target_dir().join(triple).join(profile_dir);
    let staged = root().join(&staged_rel);
    fs::create_dir_all(&staged).with_context(|| format!("cannot create {}", staged.display()))?;
    for service in &request.services {
        let (from, to) = (built.join(service.binary), staged.join(service.binary));
        match request.binaries {
            Binaries::Shipped => place(&from, &to)?,
            Binaries::Debug => place_stripped(&from, &to)?,
        }
    }
    place(&ca_bundle()?, &staged.join("ca-certificates.crt"))?;
    Ok(staged_rel)
}

/// Copies `from` to `to` (a hard link when it can: the binaries are tens of megabytes).
fn place(from: &Path, to: &Path) -> anyhow::Result<()> {
    if !from.exists() {
        bail!("{} was not built", from.display());
    }
    let _ = fs::remove_file(to);
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

/// Copies a debug binary without its debug info (a tenth of its size: 250 MB become 30), which
/// only a debugger on this host would read.
fn place_stripped(from: &Path, to: &Path) -> anyhow::Result<()> {
    if which::which("objcopy").is_err() {
        return place(from, to);
    }
    let _ = fs::remove_file(to);
    Command::new("objcopy")
        .arg("--strip-debug")
        .args([from.to_string_lossy(), to.to_string_lossy()])
        .read()
        .map(drop)
}

/// This host's bundle of trusted CA certificates, wherever its distribution keeps it.
fn ca_bundle() -> anyhow::Result<PathBuf> {
    const CANDIDATES: [&str; 4] = [
        "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Alpine
        "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
        "/etc/ssl/ca-bundle.pem",             // openSUSE
        "/etc/ssl/cert.pem",                  // Alpine, macOS
    ];
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no CA certificate bundle on this host (looked in {}): install ca-certificates",
                CANDIDATES.join(", ")
            )
        })
}

/// `minikube image load` for each image, each confirmed with `minikube image ls` (load exits 0
/// even when a node did not get the image).
fn load_into_minikube(cluster: &Minikube, images: &[Image], dry_run: bool) -> anyhow::Result<()> {
    for image in images {
        let load = cluster.image_load_command(&image.name);
        if dry_run {
            eprintln!("$ {load}");
        } else {
            load.run()
                .with_context(|| format!("loading {} into minikube failed", image.name))?;
        }
    }
    if dry_run {
        return Ok(());
    }
    let listed = cluster.images()?;
    let missing: Vec<&str> = images
        .iter()
        .map(|i| i.name.as_str())
        .filter(|name| !listed.iter().any(|l| minikube::same_image(l, name)))
        .collect();
    if !missing.is_empty() {
        bail!(
            "minikube said it loaded {} but its runtime does not list it: run `minikube -p {} image ls` to look, then load it again",
            missing.join(", "),
            cluster.profile
        );
    }
    Ok(())
}

/// Tags the images for the registry and pushes them. If the registry refuses one, the registry
/// names this run made are removed again and the error says why.
fn push(docker: &Docker, images: &[Image], registry: &str, tag: &str, dry_run: bool) -> anyhow::Result<Vec<String>> {
    let targets: Vec<String> = images
        .iter()
        .map(|i| format!("{}:{tag}", repository(i.service, Some(registry))))
        .collect();
    if dry_run {
        for (image, target) in images.iter().zip(&targets) {
            eprintln!("$ {}", docker.tag(&image.name, target));
        }
        for target in &targets {
            eprintln!("$ {}", docker.push(target));
        }
        return Ok(targets);
    }
    let mut tagged = Vec::new();
    let outcome = (|| {
        for (image, target) in images.iter().zip(&targets) {
            docker.tag(&image.name, target).read()?;
            tagged.push(target.clone());
        }
        for target in &targets {
            let push = docker.push(target);
            eprintln!("$ {push}");
            let output = push.output()?;
            if !output.success() {
                bail!(
                    "the registry refused {target}: {} (log in with `docker login {}`, or check the registry's name)",
                    output.last_error_line(),
                    registry.split('/').next().unwrap_or(registry)
                );
            }
        }
        Ok(())
    })();
    if outcome.is_err() {
        for target in &tagged {
            let _ = docker.untag(target);
        }
    }
    outcome.map(|()| targets)
}

/// What was built, with its sizes.
struct Report {
    rows: Vec<[String; 5]>,
    summary: String,
    json: serde_json::Value,
}

impl Report {
    fn measure(
        request: &Request,
        images: &[Image],
        pushed: &[String],
        load: Load,
        took: Duration,
    ) -> anyhow::Result<Report> {
        let mut rows = Vec::new();
        let mut entries = Vec::new();
        for image in images {
            let size = request.docker.image_size(&image.name)?;
            let compressed = request.docker.compressed_size(&image.name)?;
            let (repository, tag) = image.name.split_once(':').unwrap_or((&image.name, ""));
            rows.push([
                repository.to_string(),
                tag.to_string(),
                mb(size),
                mb(compressed),
                format!("{:.1}", image.took.as_secs_f64()),
            ]);
            entries.push(json!({
                "service": image.service.name,
                "image": image.name,
                "size_bytes": size,
                "compressed_bytes": compressed,
                "build_seconds": (image.took.as_secs_f64() * 10.0).round() / 10.0,
            }));
        }
        let route = match request.route {
            Route::Prebuilt => "compiled on this host",
            Route::InDocker => "compiled inside Docker",
        };
        let mut summary = format!(
            "{} images tagged {} for {}, {route}, in {:.1} s",
            images.len(),
            request.tag(),
            request.platform.docker(),
            took.as_secs_f64()
        );
        if load == Load::Minikube {
            summary.push_str("; loaded into minikube");
        }
        if !pushed.is_empty() {
            summary.push_str(&format!("; pushed {}", pushed.join(", ")));
        }
        let json = json!({
            "tag": request.tag(),
            "platform": request.platform.docker(),
            "route": match request.route { Route::Prebuilt => "prebuilt", Route::InDocker => "in-docker" },
            "loaded": if load == Load::Minikube { Some("minikube") } else { None },
            "pushed": pushed,
            "images": entries,
            "seconds": (took.as_secs_f64() * 10.0).round() / 10.0,
        });
        Ok(Report { rows, summary, json })
    }

    /// The table on stdout, or on stderr when another command (deploy) keeps stdout for its own.
    fn print(&self, to_stderr: bool) {
        let out = |text: String| {
            if to_stderr {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        };
        let header = ["image", "tag", "size MB", "compressed MB", "build s"];
        let width = |i: usize| {
            self.rows
                .iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..5).map(width).collect();
        let line = |cells: [&str; 5]| {
            out(format!(
                "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
                w4 = widths[4]
            ));
        };
        line(header);
        for row in &self.rows {
            line([&row[0], &row[1], &row[2], &row[3], &row[4]]);
        }
        out(format!("\n{}", self.summary));
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dirty: bool) -> TreeState {
        TreeState {
            short_sha: "0123456789ab".into(),
            full_sha: "0123456789ab0123456789ab0123456789ab0123".into(),
            commit_time: "2026-12-01T20:00:00+00:00".into(),
            dirty_tree: dirty.then(|| "fedcba9876543210fedcba9876543210fedcba98".into()),
            origin: None,
        }
    }

    #[test]
    fn a_dirty_tree_is_tagged_by_its_content_and_pushed_only_on_request() {
        assert_eq!(tree(false).tag(), "0123456789ab");
        assert_eq!(tree(true).tag(), "0123456789ab-dirty-fedcba987654");
        assert!(check_push_allowed(&tree(false), true, false).is_ok());
        assert!(check_push_allowed(&tree(true), false, false).is_ok());
        assert!(check_push_allowed(&tree(true), true, true).is_ok());
        let refused = check_push_allowed(&tree(true), true, false).unwrap_err().to_string();
        assert!(
            refused.contains("uncommitted changes") && refused.contains("--allow-dirty"),
            "{refused}"
        );
    }

    #[test]
    fn registries_are_checked_before_anything_is_built() {
        for good in ["ghcr.io/me", "registry.example.com:5000/team", "localhost:5000"] {
            assert!(check_registry(good).is_ok(), "{good}");
        }
        for bad in ["https://ghcr.io/me", "ghcr.io/me/", "Ghcr.io/Me", ""] {
            assert!(check_registry(bad).is_err(), "{bad}");
        }
    }
}
