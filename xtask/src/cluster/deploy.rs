//! `cargo xtask deploy`: from a fresh clone to a working release, each phase timed.
//!
//! doctor → Minikube started if needed → addons → `k8s/` applied → a snapshot of the namespace
//! and the release's values → images built and loaded (or pushed) → `helm dependency build` →
//! `helm upgrade --install` → the rollout watched → `cargo xtask verify` (rollouts, pods, the
//! smoke suite through port-forwards, `helm test`) → the URLs and a timing per phase.
//!
//! Why Helm does not wait: `--wait` (and Helm 4's `--rollback-on-failure`, Helm 3's `--atomic`)
//! cannot fail fast (an image that is not there is waited on until the timeout), and a Helm killed
//! mid-wait leaves the release `pending-upgrade`, which blocks every later upgrade. So Helm only
//! applies the manifests and records the revision, which takes seconds, and the xtask watches
//! the workloads itself: pod states turned into problems (`status_check`) fail the deploy at
//! once when waiting cannot help, and the rollout's deadline bounds the rest. On failure it
//! rolls back to the last good revision (`helm rollback --wait`), or uninstalls a first install,
//! so the release never stays half-upgraded; Ctrl-C stops the watch, never Helm.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::chart;
use crate::cluster::images::Binaries;
use crate::cluster::rollout;
use crate::exec::Command;
use crate::flags::{DeployArgs, ImagesArgs, Load, Platform};
use crate::project::target_dir;
use crate::tools::helm::{self, Helm};
use crate::tools::kubectl::Kubectl;
use crate::tools::minikube::{ClusterState, Minikube};

/// What the deploy plan asks of Minikube, clamped to what the host has.
const PLAN_CPUS: usize = 4;
const PLAN_MEMORY_MB: u64 = 8192;
const PLAN_DISK: &str = "40g";
const ADDONS: [&str; 2] = ["ingress", "metrics-server"];

struct Phases {
    done: Vec<(&'static str, Duration)>,
}

impl Phases {
    fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
        eprintln!("\n==> {name}");
        let started = Instant::now();
        let outcome = f();
        let took = started.elapsed();
        self.done.push((name, took));
        match &outcome {
            Ok(_) => eprintln!("--- {name}: {:.1} s", took.as_secs_f64()),
            Err(_) => eprintln!("--- {name}: FAILED after {:.1} s", took.as_secs_f64()),
        }
        outcome.with_context(|| format!("deploy failed in the {name} phase"))
    }

    /// The timings: a table on stdout, the result of the command (on stderr after a failure,
    /// whose error is the result then).
    fn print(&self, to_stdout: bool) {
        let total: Duration = self.done.iter().map(|(_, t)| *t).sum();
        let mut table = String::from("\nphase            seconds\n");
        for (name, took) in self.done.iter().chain([("total", total)].iter()) {
            table.push_str(&format!("{name:<16} {:>7.1}\n", took.as_secs_f64()));
        }
        if to_stdout {
            print!("{table}");
        } else {
            eprint!("{table}");
        }
    }

    fn json(&self) -> serde_json::Value {
        let total: Duration = self.done.iter().map(|(_, t)| *t).sum();
        json!({
            "phases": self.done.iter().map(|(name, took)| json!({"phase": name, "seconds": took.as_secs_f64()})).collect::<Vec<_>>(),
            "total_seconds": total.as_secs_f64(),
        })
    }
}

/// Everything the run decides before it starts.
struct Target {
    /// None: Minikube (the profile's context); Some: any cluster, images pushed to `registry`.
    real: Option<(String, String)>,
    profile: String,
    context: String,
    namespace: String,
    release: String,
}

pub fn run(args: &DeployArgs) -> anyhow::Result<()> {
    let target = Target {
        real: args.context.clone().zip(args.registry.clone()),
        profile: args.profile.clone(),
        context: args.context.clone().unwrap_or_else(|| args.profile.clone()),
        namespace: args.namespace.clone(),
        release: args.release.clone(),
    };
    let timeout = parse_duration(&args.timeout)?;
    let helm = Helm::at(&which::which("helm").context("helm is not installed: run cargo xtask doctor")?)?
        .in_context(Some(&target.context));
    let kubectl = Kubectl::new(Some(&target.context), &target.namespace);
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second handler cannot be set in one process; the first is enough.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let mut phases = Phases { done: Vec::new() };

    if args.dry_run {
        return dry_run(args, &target, &helm);
    }
    phases.run("doctor", || {
        let cluster = match target.real {
            None => crate::cluster::doctor::Cluster::Minikube(&target.profile),
            Some(_) => crate::cluster::doctor::Cluster::Context(&target.context),
        };
        let findings = crate::cluster::doctor::examine(cluster);
        let blockers: Vec<String> = findings
            .iter()
            .filter(|f| f.level == crate::cluster::doctor::Level::Fail)
            .map(|f| format!("{}: {} (fix: {})", f.check, f.detail, f.fix))
            .collect();
        if !blockers.is_empty() {
            bail!("this machine cannot deploy yet:\n  {}", blockers.join("\n  "));
        }
        Ok(())
    })?;
    if target.real.is_none() {
        let cluster = Minikube::new(&target.profile);
        phases.run("cluster", || start_minikube(&cluster, args.cni.as_deref()))?;
        phases.run("addons", || enable_addons(&cluster))?;
    }
    phases.run("namespace", || crate::cluster::bootstrap::apply(&kubectl))?;
    let history = helm.history(&target.release, &target.namespace)?;
    if let Some(stuck) = history.last().filter(|r| r.is_pending()) {
        bail!(
            "release {} is stuck in {} (revision {}): {}",
            target.release,
            stuck.status,
            stuck.revision,
            recovery(&target, stuck.revision, &history)
        );
    }
    let snapshot = phases.run("snapshot", || snapshot(&helm, &kubectl, &target))?;
    let tag = phases.run("images", || {
        // The images are for the cluster's nodes, whatever this machine is (an arm64 laptop
        // deploying to amd64 nodes, or the reverse): asked once, for the build and the tag.
        let platform = Platform::from_arch(&crate::tools::kubectl::node_architecture(Some(&target.context))?)?;
        if args.skip_build {
            let tree = crate::tools::git::TreeState::read()?;
            return Ok(crate::cluster::images::tag_for(&tree, platform, Binaries::Shipped));
        }
        crate::cluster::images::build_and_ship(&images_args(&target, platform))
    })?;
    phases.run("chart", || {
        helm.command(["dependency", "build", &chart::chart_dir().to_string_lossy()])
            .run()
    })?;
    let sets = chart_sets(&target, &tag, &args.set);
    phases.run("release", || upgrade_command(&helm, &target, &args.values, &sets).run())?;
    let revision = helm
        .history(&target.release, &target.namespace)?
        .last()
        .map_or(1, |r| r.revision);
    let watched = phases.run("rollout", || {
        rollout::watch(&kubectl, &target.release, &target.profile, timeout, &interrupted)
    });
    if let Err(e) = watched {
        if interrupted.load(Ordering::SeqCst) {
            eprintln!(
                "\ninterrupted: revision {revision} of {} is installed and its rollout was still in progress; nothing was rolled back. Run cargo xtask deploy again, or cargo xtask rollback.",
                target.release
            );
            return Err(e);
        }
        eprintln!("\n{e:#}");
        if !args.json {
            // The whole analysis (and the AI assistants, when installed) before anything is undone.
            let _ = crate::cluster::diagnose::run(&crate::flags::DiagnoseArgs {
                namespace: target.namespace.clone(),
                release: target.release.clone(),
                context: Some(target.context.clone()),
                allow_changes: false,
                no_ai: false,
                json: false,
            });
        }
        undo(&helm, &target, revision, &timeout)?;
        phases.print(false);
        bail!(
            "deploy failed and was undone; the snapshot of what was there before is in {}",
            snapshot.display()
        );
    }
    phases.run("verify", || {
        crate::cluster::verify::in_cluster(&crate::flags::VerifyArgs {
            url: None,
            service: Vec::new(),
            mcp: None,
            json: false,
            release: crate::flags::ReleaseArgs {
                namespace: target.namespace.clone(),
                release: target.release.clone(),
                context: Some(target.context.clone()),
            },
            quiet_stdout: true,
        })
    })?;
    let open = format!(
        "minikube -p {} service {}-frontend -n {} --url, or kubectl -n {} port-forward service/{}-frontend 3000:3000",
        target.profile, target.release, target.namespace, target.namespace, target.release
    );
    if args.json {
        let mut report = phases.json();
        report["release"] = json!(target.release);
        report["revision"] = json!(revision);
        report["namespace"] = json!(target.namespace);
        report["images_tag"] = json!(tag);
        report["open"] = json!(open);
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        phases.print(true);
        println!(
            "\nrelease {} revision {revision} is ready in namespace {} (images {tag}).\nopen it: {open}",
            target.release, target.namespace
        );
    }
    Ok(())
}

/// The `helm upgrade --install` a deploy runs (and its dry run prints).
fn upgrade_command(helm: &Helm, target: &Target, values: &[PathBuf], sets: &[String]) -> Command {
    helm.upgrade_install(&target.release, &chart::chart_dir(), &target.namespace, values, sets)
}

fn images_args(target: &Target, platform: Platform) -> ImagesArgs {
    ImagesArgs {
        services: Vec::new(),
        prebuilt: false,
        in_docker: false,
        platform: Some(platform),
        load: if target.real.is_some() {
            Load::None
        } else {
            Load::Minikube
        },
        profile: target.profile.clone(),
        push: target.real.as_ref().map(|(_, registry)| registry.clone()),
        allow_dirty: true,
        dry_run: false,
        json: false,
        report_to_stderr: true,
    }
}

fn chart_sets(target: &Target, tag: &str, extra: &[String]) -> Vec<String> {
    let mut sets = vec![format!("global.image.tag={tag}")];
    if let Some((_, registry)) = &target.real {
        sets.push(format!("global.imageRegistry={registry}"));
    }
    sets.extend(extra.iter().cloned());
    sets
}

/// What to run when a release is stuck in `pending-*`.
fn recovery(target: &Target, revision: u64, history: &[helm::Revision]) -> String {
    let (release, namespace) = (&target.release, &target.namespace);
    match helm::last_good(history, revision) {
        Some(good) => format!(
            "another Helm operation was interrupted. If none is running, roll back: helm rollback {release} {good} -n {namespace} (or cargo xtask rollback --to {good}), then deploy again"
        ),
        None => format!(
            "a first install was interrupted. If no Helm operation is running, remove it: helm uninstall {release} -n {namespace}, then deploy again"
        ),
    }
}

fn start_minikube(cluster: &Minikube, cni: Option<&str>) -> anyhow::Result<()> {
    match cluster.status()? {
        ClusterState::Running => {
            eprintln!("minikube profile {} is running", cluster.profile);
            Ok(())
        }
        ClusterState::Paused => Command::new("minikube").args(["-p", &cluster.profile, "unpause"]).run(),
        ClusterState::Degraded(how) => bail!(
            "minikube profile {} is {how}: run minikube -p {} stop, then deploy again",
            cluster.profile,
            cluster.profile
        ),
        ClusterState::Stopped | ClusterState::Missing => start_command(&cluster.profile, cni).run(),
    }
}

/// `minikube start` with the plan's sizes, clamped to the host.
fn start_command(profile: &str, cni: Option<&str>) -> Command {
    let (cpus, memory) = clamp_to_host();
    let start = Command::new("minikube").args([
        "-p".to_string(),
        profile.to_string(),
        "start".to_string(),
        format!("--cpus={cpus}"),
        format!("--memory={memory}mb"),
        format!("--disk-size={PLAN_DISK}"),
    ]);
    match cni {
        Some(cni) => start.arg(format!("--cni={cni}")),
        None => start,
    }
}

/// The plan's 4 CPUs and 8 GiB, or what the host can give (all but one CPU, and half its memory).
fn clamp_to_host() -> (usize, u64) {
    let (cpus, memory_mb) = match sysinfo::System::new() {
        Ok(mut system) => {
            system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            system.refresh_memory();
            (system.cpus().len(), system.total_memory() / (1024 * 1024))
        }
        Err(_) => (2, 4096),
    };
    (
        PLAN_CPUS.min(cpus.saturating_sub(1)).max(2),
        PLAN_MEMORY_MB.min(memory_mb / 2).max(2048),
    )
}

fn enable_addons(cluster: &Minikube) -> anyhow::Result<()> {
    let enabled = cluster.addons()?;
    for addon in ADDONS {
        if enabled.get(addon).copied().unwrap_or(false) {
            eprintln!("addon {addon}: enabled");
        } else {
            Command::new("minikube")
                .args(["-p", &cluster.profile, "addons", "enable", addon])
                .run()?;
        }
    }
    Ok(())
}

/// `target/deploy/<timestamp>/`: what the namespace held and the release's values, before this
/// deploy changed them (Secrets' names only, never their data).
fn snapshot(helm: &Helm, kubectl: &Kubectl, target: &Target) -> anyhow::Result<PathBuf> {
    let dir = target_dir()
        .join("deploy")
        .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let objects = kubectl.list(
        "deployments,statefulsets,services,configmaps,persistentvolumeclaims",
        None,
    )?;
    fs::write(dir.join("objects.json"), serde_json::to_string_pretty(&objects)?)?;
    let secrets = kubectl.list("secrets", None)?;
    let names: Vec<&str> = secrets["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    fs::write(dir.join("secret-names.json"), serde_json::to_string_pretty(&names)?)?;
    let history = helm.history(&target.release, &target.namespace)?;
    if !history.is_empty() {
        let values = helm
            .command([
                "get",
                "values",
                &target.release,
                "--namespace",
                &target.namespace,
                "--output",
                "json",
            ])
            .read()?;
        fs::write(dir.join("values.json"), values)?;
    }
    let revisions: Vec<_> = history
        .iter()
        .map(|r| json!({"revision": r.revision, "status": r.status}))
        .collect();
    fs::write(dir.join("history.json"), serde_json::to_string_pretty(&revisions)?)?;
    eprintln!("snapshot: {}", dir.display());
    Ok(dir)
}

/// After a failed rollout: back to the last good revision, or away with a first install.
fn undo(helm: &Helm, target: &Target, failed: u64, timeout: &Duration) -> anyhow::Result<()> {
    let history = helm.history(&target.release, &target.namespace)?;
    let seconds = format!("{}s", timeout.as_secs());
    match helm::last_good(&history, failed) {
        Some(good) => {
            eprintln!(
                "rolling back {} to revision {good}, the last that was ready",
                target.release
            );
            helm.rollback(&target.release, good, &target.namespace, &seconds).run()
        }
        None => {
            eprintln!(
                "the first install of {} never became ready: uninstalling it",
                target.release
            );
            helm.uninstall(&target.release, &target.namespace).run()
        }
    }
}

/// The commands a deploy would run, in order, with the chart rendered by the real `helm
/// template` for the values it would give (so the plan is checked against the chart); nothing
/// that changes anything runs.
fn dry_run(args: &DeployArgs, target: &Target, helm: &Helm) -> anyhow::Result<()> {
    let tree = crate::tools::git::TreeState::read()?;
    let tag = tree.tag();
    let sets = chart_sets(target, &tag, &args.set);
    let mut plan: Vec<Command> = Vec::new();
    if target.real.is_none() {
        plan.push(Minikube::new(&target.profile).status_command());
        plan.push(start_command(&target.profile, args.cni.as_deref()));
        for addon in ADDONS {
            plan.push(Command::new("minikube").args(["-p", &target.profile, "addons", "enable", addon]));
        }
    }
    let kubectl = Kubectl::new(Some(&target.context), &target.namespace);
    plan.extend(crate::cluster::bootstrap::commands(&kubectl)?);
    if !args.skip_build {
        let mut images = Command::new("cargo").args(["xtask", "images"]);
        images = match &target.real {
            Some((_, registry)) => images.args(["--push", registry.as_str()]),
            None => images.args(["--load", "minikube", "--profile", target.profile.as_str()]),
        };
        plan.push(images);
    }
    plan.push(helm.command(["dependency", "build", &chart::chart_dir().to_string_lossy()]));
    plan.push(upgrade_command(helm, target, &args.values, &sets));
    for (service, port) in [("frontend", 3000), ("mcp", 8001)] {
        plan.push(kubectl.port_forward_command(&format!("{}-{service}", target.release), port));
    }
    plan.push(helm.test(&target.release, &target.namespace));
    println!(
        "# cargo xtask deploy would run, in order (watching the rollout after upgrade --install, undoing it on failure, and running the smoke suite through the port-forwards):"
    );
    for command in &plan {
        println!("$ {command}");
    }
    let rendered = helm.render(
        &chart::chart_dir(),
        &target.release,
        &target.namespace,
        &args.values,
        &sets,
    )?;
    let manifests = chart::manifests::Manifests::parse(&rendered)?;
    let problems = manifests.problems();
    if !problems.is_empty() {
        bail!(
            "the chart, rendered with these values, breaks our rules:\n  {}",
            problems.join("\n  ")
        );
    }
    let workloads: Vec<String> = manifests
        .workloads()
        .iter()
        .filter(|w| w.kind != "Pod")
        .map(|w| w.id.clone())
        .collect();
    println!(
        "# the chart renders {} objects for images {tag}; it would watch {}",
        manifests.objects.len(),
        workloads.join(", ")
    );
    let images = manifests.images();
    if let Some((_, registry)) = &target.real {
        let ours: Vec<String> = crate::cluster::images::SERVICES
            .iter()
            .map(|s| crate::cluster::images::repository(s, Some(registry)))
            .collect();
        let unpushed: Vec<&String> = images
            .iter()
            .filter(|i| i.starts_with(&format!("{}/", registry.trim_end_matches('/'))))
            .filter(|i| !ours.iter().any(|o| i.starts_with(&format!("{o}:"))))
            .collect();
        if !unpushed.is_empty() {
            bail!(
                "the release would pull {} from {registry}, where this deploy pushes only the project's images",
                unpushed.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    println!("# the pods would pull {}", images.join(", "));
    Ok(())
}

/// "10m", "90s", "1h", or a number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let number: u64 = number
        .parse()
        .with_context(|| format!("--timeout {text:?}: write it as 90s, 10m or 1h"))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => bail!("--timeout {text:?}: write it as 90s, 10m or 1h"),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_helm_writes_them() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert!(parse_duration("ten minutes").is_err());
        assert!(parse_duration("10d").is_err());
    }

    #[test]
    fn a_stuck_release_gets_the_right_recovery() {
        let target = Target {
            real: None,
            profile: "minikube".into(),
            context: "minikube".into(),
            namespace: "chatbot-dev".into(),
            release: "todo-chatbot".into(),
        };
        let history =
            helm::parse_history(r#"[{"revision":1,"status":"superseded"},{"revision":2,"status":"pending-upgrade"}]"#)
                .unwrap();
        assert!(recovery(&target, 2, &history).contains("helm rollback todo-chatbot 1 -n chatbot-dev"));
        let first = helm::parse_history(r#"[{"revision":1,"status":"pending-install"}]"#).unwrap();
        assert!(recovery(&target, 1, &first).contains("helm uninstall todo-chatbot -n chatbot-dev"));
    }
}
