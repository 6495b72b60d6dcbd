//! Building the images: the services compiled once for the platform (on the host, or inside
//! Docker), staged in the build context, and one `docker build` per image, in parallel.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::{Binaries, Image, Request, Route, Service, repository};
use crate::exec::{self, Command};
use crate::flags::Platform;
use crate::project::{root, target_dir};
use crate::tools::docker::Builder;

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
