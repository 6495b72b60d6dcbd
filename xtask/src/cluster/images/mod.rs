//! `cargo xtask images`: the services' container images, from `apps/Dockerfile`.
//!
//! Two ways to one runtime stage: the fast path compiles static musl binaries on the host and
//! copies them in (the Dockerfile's `prebuilt` target), the other compiles inside Docker (its
//! `compiled` target). Every image is tagged with the commit it was built from, plus a hash of
//! the uncommitted changes when there are any, so a tag never names two different builds and a
//! cluster never runs a stale image under a reused tag. Built images can go into Minikube's
//! runtime or to a registry. The steps live beside this command: `build`, `ship` (load or push)
//! and `report`.

mod build;
mod report;
mod ship;

pub use build::{build, compile_and_stage};

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::exec::Command;
use crate::flags::{ImagesArgs, Load, Platform, ServiceName};
use crate::tools::docker::{Builder, Docker};
use crate::tools::git::TreeState;
use crate::tools::kubectl;
use crate::tools::minikube::{DockerEnv, Minikube};
use report::Report;
use ship::{load_into_minikube, push};

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
    /// The tag of every image of this request.
    pub fn tag(&self) -> String {
        tag_for(&self.tree, self.platform, self.binaries)
    }
}

/// The tag images of `tree` get: the tree's (its commit, and a hash of uncommitted changes), plus
/// what else makes an image differ: `-arm64` for arm64, `-debug` for the tests' debug binaries.
/// `deploy --skip-build` deploys this same tag without building it.
pub fn tag_for(tree: &TreeState, platform: Platform, binaries: Binaries) -> String {
    let mut tag = tree.tag();
    if platform != Platform::Amd64 {
        tag.push('-');
        tag.push_str(platform.arch());
    }
    if binaries == Binaries::Debug {
        tag.push_str("-debug");
    }
    tag
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
            // minikube answers docker-env for the containerd runtime too (1.38, docker driver), by
            // starting nerdctld, a partial Docker API over SSH that it calls "highly
            // experimental" (minikube cmd/minikube/cmd/docker-env.go); with CRI-O it refuses.
            // Only a Docker runtime is a Docker daemon to build into; otherwise build here and
            // `minikube image load`, which every runtime takes.
            let runtime = cluster.config().ok().flatten().map(|c| c.runtime);
            let env = match runtime.as_deref() {
                Some(runtime) if runtime != "docker" => {
                    DockerEnv::Unsuitable(format!("its container runtime is {runtime}"))
                }
                _ => cluster.docker_env()?,
            };
            match env {
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
