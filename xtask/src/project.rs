//! Where things are, and small helpers shared by the commands.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use xshell::{Shell, cmd};

/// A shell rooted at the workspace.
pub fn shell() -> anyhow::Result<Shell> {
    let sh = Shell::new().context("cannot create a shell")?;
    sh.change_dir(root());
    Ok(sh)
}

/// Gives the commands xtask runs the environment of a terminal rather than that of `cargo run`.
///
/// `cargo run` gives xtask its own package's variables. Build scripts that watch one of them (ring
/// watches CARGO_MANIFEST_DIR) saw it change between a cargo run from here and one from a
/// terminal, and each switch rebuilt ring and everything above it (minutes in release).
/// Call first thing in `main`, before any thread exists.
pub fn forget_cargo_run_env() {
    /// What `cargo run` sets for the program it runs, besides `CARGO_PKG_*` (and `CARGO`, which
    /// names the same cargo and is kept).
    const SET_BY_CARGO_RUN: &[&str] = &[
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
    ];
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && (name.starts_with("CARGO_PKG_") || SET_BY_CARGO_RUN.contains(&name))
        {
            // SAFETY: called at the start of `main`, while the process has one thread, so nothing
            // reads the environment concurrently.
            unsafe { std::env::remove_var(name) };
        }
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where cargo puts what it builds: `target/` in the workspace unless CARGO_TARGET_DIR or cargo's
/// configuration (`build.target-dir`) say otherwise; `cargo metadata` knows which.
pub fn target_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        std::process::Command::new(cargo)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| serde_json::from_slice::<serde_json::Value>(&output.stdout).ok())
            .and_then(|metadata| metadata["target_directory"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| root().join("target"))
    })
    .clone()
}

/// Debug or release binaries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

/// Builds the services (every binary of the workspace but xtask) and returns their folder.
///
/// Always this one set, never `--bin x`: cargo unifies features over the packages it builds, so a
/// narrower set compiles most dependencies again with other features. `cargo xtask test` tests
/// the same set, so the suites that run the binaries find them built (a narrower build after the
/// tests took six minutes). xtask stays out: rebuilding the running xtask would replace its own executable.
pub fn build_services(sh: &Shell, profile: Profile) -> anyhow::Result<PathBuf> {
    let (flag, dir) = match profile {
        Profile::Debug => (None, "debug"),
        Profile::Release => (Some("--release"), "release"),
    };
    cmd!(sh, "cargo build --workspace --exclude xtask --bins {flag...}")
        .run()
        .context("building the services failed")?;
    Ok(bin_dir(dir))
}

/// Where cargo puts the binaries of a profile (`debug`, `release`): under the target triple's
/// folder when CARGO_BUILD_TARGET names one (CI builds everything for musl, so the container
/// rehearsal can use the binaries the tests ran).
pub fn bin_dir(profile_dir: &str) -> PathBuf {
    match std::env::var("CARGO_BUILD_TARGET") {
        Ok(triple) if !triple.is_empty() => target_dir().join(triple).join(profile_dir),
        _ => target_dir().join(profile_dir),
    }
}

/// True when running under CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Reports a missing tool: a loud skip locally, an error in CI.
pub fn skip_or_fail(what: &str, why: &str) -> anyhow::Result<()> {
    if in_ci() {
        anyhow::bail!("{what} cannot run in CI: {why}");
    }
    eprintln!("\n*** SKIPPED: {what}: {why} ***\n");
    Ok(())
}

/// A random hex string, for development secrets.
pub fn random_hex(bytes: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}
