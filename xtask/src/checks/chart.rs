//! The chart checks in `cargo xtask test`, all by real tools: `helm lint --strict` and `helm
//! template` with Helm 3 and Helm 4 (the defaults, an external database, a scaled-out release),
//! bad values refused with a message naming them, each rendering validated by
//! `kubernetes-validate --strict` for the oldest and newest Kubernetes the chart supports and
//! by `checkov`, our own rules over the manifests, and `helm package`. Then the rehearsal runs
//! what the chart renders.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use crate::chart::manifests::{self, Manifests};
use crate::chart::{NAMESPACE, RELEASE, chart_dir};
use crate::exec::Command;
use crate::project::{root, skip_or_fail, target_dir};
use crate::tools::helm::Helm;

/// The oldest Kubernetes the chart supports (its `kubeVersion`); the newest is whatever
/// kubernetes-validate knows.
pub const OLDEST_KUBERNETES: &str = "1.30.0";

/// The value sets the chart is rendered and checked with: a name, and the files.
pub fn renderings() -> Vec<(&'static str, Vec<PathBuf>)> {
    let ci = chart_dir().join("ci");
    vec![
        ("default values", Vec::new()),
        ("external database", vec![ci.join("external-database-values.yaml")]),
        (
            "autoscaling, ingress and 3 replicas",
            vec![ci.join("scaled-values.yaml")],
        ),
    ]
}

/// Values that must be refused before anything is installed, and what the refusal must name.
const REFUSED: [(&str, &str, &str); 6] = [
    ("a negative replica count", "backend.replicaCount=-1", "replicaCount"),
    ("a typo'd key", "backend.replicas=3", "replicas"),
    ("the image tag latest", "global.image.tag=latest", "latest"),
    (
        "no database at all",
        "postgresql.enabled=false",
        "global.database.existingSecret",
    ),
    (
        "a model provider without a key",
        "agent.llm.provider=openai",
        "agent.openai.existingSecret",
    ),
    (
        "a credential in a ConfigMap",
        "backend.extraEnv.DATABASE_URL=postgres://u:p@h/db",
        "backend.extraEnv.DATABASE_URL",
    ),
];

pub fn run() -> anyhow::Result<()> {
    println!(
        "\n==> chart checks: helm lint and template (Helm 3 and 4), kubernetes-validate, checkov, our rules, helm package"
    );
    let helms = crate::checks::pinned_kube_tools::ensure()?;
    let Some(newest) = helms.iter().max_by_key(|h| h.major()) else {
        return Ok(());
    };
    check_versions()?;
    for helm in &helms {
        dependencies(helm)?;
        lint(helm)?;
        for (what, files) in renderings() {
            let yaml = helm.render(&chart_dir(), RELEASE, NAMESPACE, &files, &[])?;
            let manifests = Manifests::parse(&yaml)?;
            let problems = manifests.problems();
            ensure!(
                problems.is_empty(),
                "the chart rendered with {what} (Helm {}) breaks our rules:\n  {}",
                helm.version,
                problems.join("\n  ")
            );
            client_addresses(&manifests, what.contains("ingress"))
                .with_context(|| format!("the chart rendered with {what} (Helm {})", helm.version))?;
            println!(
                "helm {} template, {what}: {} objects, our rules hold",
                helm.version,
                manifests.objects.len()
            );
        }
        refusals(helm)?;
    }
    let rendered = target_dir().join("chart");
    fs::create_dir_all(&rendered).with_context(|| format!("cannot create {}", rendered.display()))?;
    let mut files = Vec::new();
    for (index, (what, values)) in renderings().into_iter().enumerate() {
        let yaml = newest.render(&chart_dir(), RELEASE, NAMESPACE, &values, &[])?;
        let file = rendered.join(format!("rendering-{index}.yaml"));
        fs::write(&file, yaml).with_context(|| format!("cannot write {}", file.display()))?;
        files.push((what, file));
    }
    quota_holds_the_release(&files[0].1)?;
    let bootstrap: Vec<(&str, PathBuf)> = crate::cluster::bootstrap::manifests()?
        .into_iter()
        .map(|p| ("the k8s/ bootstrap manifests", p))
        .collect();
    validate(&[files.clone(), bootstrap.clone()].concat())?;
    checkov(&files)?;
    package(newest, &rendered)?;
    Ok(())
}

/// A variable of the backend container's non-secret environment, as rendered.
fn component_env(manifests: &Manifests, component: &str, name: &str) -> Option<String> {
    let workload = component_deployment(manifests, component)?;
    let container = manifests::containers(workload.spec).next()?;
    manifests
        .plain_env(container)
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn component_deployment<'a>(manifests: &'a Manifests, component: &str) -> Option<manifests::Workload<'a>> {
    manifests
        .workloads()
        .into_iter()
        .find(|w| w.kind == "Deployment" && w.labels["app.kubernetes.io/component"] == component)
}

fn component_object<'a>(manifests: &'a Manifests, kind: &str, component: &str) -> Option<&'a Value> {
    manifests
        .of_kind(kind)
        .find(|o| o["metadata"]["labels"]["app.kubernetes.io/component"] == component)
}

/// The sign-in and sign-up limits count per client address, so who may name that address must
/// hold in every rendering: the backend believes only the frontend's pods; the frontend believes
/// nobody (it is the edge: a NodePort that keeps client addresses) or, with an ingress, only the
/// controller, which is then the only way in (no NodePort; the NetworkPolicy admits its
/// namespace alone). The frontend's /metrics is on a port its Service does not expose.
fn client_addresses(manifests: &Manifests, ingress: bool) -> anyhow::Result<()> {
    let pods = "10.244.0.0/16";
    let backend = component_env(manifests, "backend", "TRUSTED_PROXIES");
    ensure!(
        backend.as_deref() == Some(pods),
        "the backend's TRUSTED_PROXIES is {backend:?}, not the pod network {pods}, where the frontend is"
    );
    let frontend = component_env(manifests, "frontend", "TRUSTED_PROXIES");
    let expected = if ingress { pods } else { "" };
    ensure!(
        frontend.as_deref() == Some(expected),
        "the frontend's TRUSTED_PROXIES is {frontend:?}, not {expected:?}: {}",
        if ingress {
            "behind the ingress, the controller's pods name the client"
        } else {
            "without an ingress the frontend is the edge, and a client's own X-Forwarded-For must not count"
        }
    );
    let service = component_object(manifests, "Service", "frontend").context("no frontend Service")?;
    let spec = &service["spec"];
    if ingress {
        ensure!(
            spec["type"] == "ClusterIP",
            "the frontend Service is {}, not ClusterIP, beside an ingress: clients could go around the proxy it trusts",
            spec["type"]
        );
        let policy = component_object(manifests, "NetworkPolicy", "frontend").context("no frontend NetworkPolicy")?;
        let open = policy["spec"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|rule| rule.get("from").is_none());
        ensure!(
            !open,
            "the frontend's NetworkPolicy admits anyone beside an ingress: {policy}"
        );
    } else {
        ensure!(
            spec["type"] == "NodePort" && spec["externalTrafficPolicy"] == "Local",
            "the frontend Service is {} with externalTrafficPolicy {}, not NodePort with Local: \
             kube-proxy would replace every client's address with the node's",
            spec["type"],
            spec["externalTrafficPolicy"]
        );
    }
    let metrics = component_env(manifests, "frontend", "METRICS_PORT").context("the frontend has no METRICS_PORT")?;
    let exposed: Vec<String> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            [
                p["port"].to_string(),
                p["targetPort"].to_string().trim_matches('"').to_string(),
            ]
        })
        .collect();
    ensure!(
        !exposed.contains(&metrics) && !exposed.iter().any(|p| p == "metrics"),
        "the frontend Service exposes its metrics port {metrics}: {exposed:?}"
    );
    let deployment = component_deployment(manifests, "frontend").context("no frontend Deployment")?;
    let scraped = &deployment.manifest["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"];
    ensure!(
        scraped.as_str() == Some(metrics.as_str()),
        "the frontend pods tell scrapers port {scraped}, but /metrics is on {metrics}"
    );
    Ok(())
}

/// The chart's `version` and `appVersion`, and every subchart's, follow the workspace version.
fn check_versions() -> anyhow::Result<()> {
    let workspace = env!("CARGO_PKG_VERSION");
    let mut charts = vec![chart_dir().join("Chart.yaml")];
    for entry in fs::read_dir(chart_dir().join("charts"))? {
        charts.push(entry?.path().join("Chart.yaml"));
    }
    for file in charts {
        let text = fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let chart: serde_json::Value =
            serde_saphyr::from_str(&text).with_context(|| format!("{} is not YAML", file.display()))?;
        ensure!(
            chart["version"] == workspace,
            "{}: version {} is not the workspace version {workspace} (Cargo.toml)",
            file.display(),
            chart["version"]
        );
        let postgres = chart["name"] == "postgresql";
        ensure!(
            postgres || chart["appVersion"] == workspace,
            "{}: appVersion {} is not the workspace version {workspace}",
            file.display(),
            chart["appVersion"]
        );
    }
    Ok(())
}

/// `helm dependency build` (what `cargo xtask deploy` runs) finds every subchart in `charts/` and
/// `Chart.lock` in step with `Chart.yaml`, and changes no file: a rewritten lock would make the
/// work tree dirty, and the images' tag with it.
fn dependencies(helm: &Helm) -> anyhow::Result<()> {
    let chart = chart_dir();
    let lock = chart.join("Chart.lock");
    let before = fs::read(&lock)
        .context("helm/todo-chatbot/Chart.lock is missing: run helm dependency update helm/todo-chatbot")?;
    helm.command(["dependency", "build", &chart.to_string_lossy()])
        .read()
        .with_context(|| format!("helm {} dependency build failed (after editing the dependencies in Chart.yaml, run helm dependency update)", helm.version))?;
    ensure!(
        fs::read(&lock)? == before,
        "helm {} dependency build rewrote Chart.lock: commit the lock helm dependency update writes",
        helm.version
    );
    Ok(())
}

fn lint(helm: &Helm) -> anyhow::Result<()> {
    let chart = chart_dir();
    let mut runs = vec![Vec::new()];
    runs.extend(renderings().into_iter().skip(1).map(|(_, files)| files));
    for files in runs {
        let mut command = helm.command(["lint", "--strict", "--namespace", NAMESPACE, &chart.to_string_lossy()]);
        for file in &files {
            command = command.args(["--values".to_string(), file.to_string_lossy().into_owned()]);
        }
        command
            .run()
            .with_context(|| format!("helm {} lint --strict failed", helm.version))?;
    }
    Ok(())
}

fn refusals(helm: &Helm) -> anyhow::Result<()> {
    for (what, set, named) in REFUSED {
        let command = helm.template(&chart_dir(), RELEASE, NAMESPACE, &[], &[set.to_string()]);
        let output = command.output()?;
        ensure!(!output.success(), "helm {} accepted {what} ({set})", helm.version);
        ensure!(
            output.stderr.contains(named),
            "helm {} refused {what} ({set}) without naming {named}: {}",
            helm.version,
            output.stderr.trim()
        );
        println!(
            "helm {} refuses {what}: {}",
            helm.version,
            output.stderr.lines().find(|l| l.contains(named)).unwrap_or("").trim()
        );
    }
    Ok(())
}

/// The namespace's ResourceQuota (`k8s/in-namespace/resource-quota.yaml`) admits the default release with a
/// rolling update in flight: every pod, plus one surge pod per Deployment.
fn quota_holds_the_release(rendering: &Path) -> anyhow::Result<()> {
    let manifests = Manifests::parse(&fs::read_to_string(rendering)?)?;
    let quota_text = fs::read_to_string(root().join("k8s/in-namespace/resource-quota.yaml"))
        .context("cannot read k8s/in-namespace/resource-quota.yaml")?;
    let quota: serde_json::Value =
        serde_saphyr::from_str(&quota_text).context("k8s/in-namespace/resource-quota.yaml is not YAML")?;
    let mut used = [0.0f64; 4]; // requests.cpu, requests.memory, limits.cpu, limits.memory
    for workload in manifests.workloads() {
        // One pod each, one more for a Deployment's rolling update (maxSurge 1).
        let pods = if workload.kind == "Deployment" { 2.0 } else { 1.0 };
        for container in manifests::containers(workload.spec) {
            let resources = &container["resources"];
            for (slot, (kind, what)) in [
                ("requests", "cpu"),
                ("requests", "memory"),
                ("limits", "cpu"),
                ("limits", "memory"),
            ]
            .into_iter()
            .enumerate()
            {
                used[slot] += pods
                    * quantity(&resources[kind][what]).with_context(|| format!("{}: {kind}.{what}", workload.id))?;
            }
        }
    }
    for (slot, key) in ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"]
        .into_iter()
        .enumerate()
    {
        let hard = quantity(&quota["spec"]["hard"][key])
            .with_context(|| format!("k8s/in-namespace/resource-quota.yaml: {key}"))?;
        ensure!(
            used[slot] <= hard,
            "k8s/in-namespace/resource-quota.yaml: {key} is {hard}, but the release during a rolling update needs {}",
            used[slot]
        );
    }
    println!(
        "k8s/in-namespace/resource-quota.yaml holds the release during a rolling update: it needs {:.2} CPUs and {:.2} GiB of limits",
        used[2],
        used[3] / f64::from(1u32 << 30)
    );
    Ok(())
}

/// A Kubernetes quantity ("500m", "1", "256Mi", "2Gi") as a number (cores, bytes).
fn quantity(value: &serde_json::Value) -> anyhow::Result<f64> {
    let text = match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => bail!("not a quantity: {other}"),
    };
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().with_context(|| format!("not a quantity: {text}"))?;
    let factor = match unit {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        other => bail!("unknown unit {other} in {text}"),
    };
    Ok(number * factor)
}

fn validate(files: &[(&str, PathBuf)]) -> anyhow::Result<()> {
    if which::which("kubernetes-validate").is_err() {
        return skip_or_fail(
            "kubernetes-validate on the rendered chart",
            "kubernetes-validate is not installed (pip install kubernetes-validate)",
        );
    }
    for (what, file) in files {
        for version in [Some(OLDEST_KUBERNETES), None] {
            let mut command = Command::new("kubernetes-validate").args(["--strict", "--quiet"]);
            if let Some(version) = version {
                command = command.args(["--kubernetes-version", version]);
            }
            let output = command.arg(file.to_string_lossy()).output()?;
            let against = version.unwrap_or("its newest version");
            if !output.success() {
                bail!(
                    "kubernetes-validate --strict refuses the chart rendered with {what}, for Kubernetes {against}:\n{}{}",
                    output.stdout,
                    output.stderr
                );
            }
            println!("kubernetes-validate --strict, Kubernetes {against}, {what}: valid");
        }
    }
    Ok(())
}

fn checkov(files: &[(&str, PathBuf)]) -> anyhow::Result<()> {
    if which::which("checkov").is_err() {
        return skip_or_fail(
            "checkov on the rendered chart",
            "checkov is not installed (pip install checkov)",
        );
    }
    for (what, file) in files {
        // --skip-download: no guidelines fetched from the vendor's API (and no network needed).
        let output = Command::new("checkov")
            .args([
                "--framework",
                "kubernetes",
                "--quiet",
                "--compact",
                "--skip-download",
                "--output",
                "json",
                "--file",
            ])
            .arg(file.to_string_lossy())
            .env("BC_SKIP_MAPPING", "TRUE")
            .output()?;
        let report: serde_json::Value = serde_json::from_str(&output.stdout).with_context(|| {
            format!(
                "checkov printed no JSON report ({}): {}",
                output.exit(),
                output.stderr.trim()
            )
        })?;
        let summary = &report["summary"];
        let failed = summary["failed"].as_u64().context("checkov's report has no summary")?;
        if failed > 0 {
            let checks: Vec<String> = report["results"]["failed_checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} {} on {}",
                        c["check_id"].as_str().unwrap_or("?"),
                        c["check_name"].as_str().unwrap_or(""),
                        c["resource"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            bail!(
                "checkov: {failed} failed checks on the chart rendered with {what}:\n  {}",
                checks.join("\n  ")
            );
        }
        println!(
            "checkov, {what}: {} passed, 0 failed, {} skipped (each skip's reason is in the chart)",
            summary["passed"], summary["skipped"]
        );
    }
    Ok(())
}

/// `helm package`: the chart archive the deploy plan ships, named by the workspace version.
pub fn package(helm: &Helm, into: &Path) -> anyhow::Result<PathBuf> {
    helm.command([
        "package",
        &chart_dir().to_string_lossy(),
        "--destination",
        &into.to_string_lossy(),
    ])
    .read()
    .context("helm package failed")?;
    let archive = into.join(format!("todo-chatbot-{}.tgz", env!("CARGO_PKG_VERSION")));
    ensure!(archive.exists(), "helm package made no {}", archive.display());
    // The packaged chart renders like the directory it came from.
    helm.render(&archive, RELEASE, NAMESPACE, &[], &[])
        .context("the packaged chart does not render")?;
    println!("helm package: {}", archive.display());
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(quantity(&json!("500m")).unwrap(), 0.5);
        assert_eq!(quantity(&json!(2)).unwrap(), 2.0);
        assert_eq!(quantity(&json!("10")).unwrap(), 10.0);
        assert_eq!(quantity(&json!("256Mi")).unwrap(), 268_435_456.0);
        assert_eq!(quantity(&json!("2Gi")).unwrap(), 2_147_483_648.0);
        assert!(quantity(&json!("2 cores")).is_err());
        assert!(quantity(&json!(null)).is_err());
    }
}
