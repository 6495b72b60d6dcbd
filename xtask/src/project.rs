//! Where things are, and small helpers shared by the commands.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use xshell::{Shell, cmd};

/// A shell rooted at the workspace.
pub fn shell() -> anyhow::Result<Shell> {
    let sh = Shell::new().context("cannot create a shell")?;
    sh.change_dir(root());
    Ok(sh)
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
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
    Ok(root().join("target").join(dir))
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
