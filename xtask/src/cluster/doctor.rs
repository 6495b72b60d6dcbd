//! `cargo xtask doctor`: is this machine ready to deploy? The tools (required: docker,
//! minikube, kubectl, helm; optional: kubectl-ai, kagent, Docker's Gordon) with their versions,
//! the Docker daemon, the CPUs, memory and free disk where Docker and Minikube keep their data,
//! the Minikube cluster's state and addons, and the kube context; or, with `--context`, another
//! cluster: that its API server answers (and at what version, against kubectl's) and that it
//! has a node ready. A table (or JSON) with a fix on every line that is not ok; exit 1 when
//! something blocks a deploy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use crate::exec::Command;
use crate::flags::DoctorArgs;
use crate::tools::docker::Docker;
use crate::tools::helm::Helm;
use crate::tools::minikube::{self, ClusterState, Minikube};
use crate::tools::{ai, kubectl};

/// The deploy plan's machine: 4 CPUs, 8 GiB, 20 GiB free; below 2 CPUs or 4 GiB Minikube cannot
/// hold the release at all.
const RECOMMENDED_CPUS: usize = 4;
const MINIMUM_CPUS: usize = 2;
const RECOMMENDED_MEMORY_GIB: f64 = 8.0;
const MINIMUM_MEMORY_GIB: f64 = 4.0;
const RECOMMENDED_DISK_GIB: f64 = 20.0;
/// Minikube's node image and the release's images need about this much.
const MINIMUM_DISK_GIB: f64 = 5.0;
const ADDONS: [&str; 3] = ["ingress", "metrics-server", "dashboard"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug)]
pub struct Finding {
    pub check: String,
    pub level: Level,
    pub detail: String,
    /// What to do about it (empty when ok).
    pub fix: String,
}

fn finding(check: &str, level: Level, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        check: check.to_string(),
        level,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// Which cluster a deploy would go to.
#[derive(Clone, Copy, Debug)]
pub enum Cluster<'a> {
    /// A Minikube profile, which the deploy starts when it is not running.
    Minikube(&'a str),
    /// A kube context of some other cluster, which must be up already.
    Context(&'a str),
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let findings = examine(match &args.context {
        Some(context) => Cluster::Context(context),
        None => Cluster::Minikube(&args.profile),
    });
    let blockers = findings.iter().filter(|f| f.level == Level::Fail).count();
    if args.json {
        let rows: Vec<_> = findings
            .iter()
            .map(
                |f| json!({"check": f.check, "level": f.level.word().to_lowercase(), "detail": f.detail, "fix": f.fix}),
            )
            .collect();
        let report = json!({"ready": blockers == 0, "findings": rows, "seconds": started.elapsed().as_secs_f64()});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&findings);
        println!("\n({:.1} s)", started.elapsed().as_secs_f64());
    }
    if blockers > 0 {
        bail!("{blockers} blocker(s): fix the FAIL lines above, then run cargo xtask doctor again");
    }
    Ok(())
}

fn print_table(findings: &[Finding]) {
    let width = findings.iter().map(|f| f.check.len()).max().unwrap_or(10);
    for f in findings {
        println!("{:<width$}  {:<4}  {}", f.check, f.level.word(), f.detail);
        if !f.fix.is_empty() {
            println!("{:<width$}        fix: {}", "", f.fix);
        }
    }
}

/// Every check, the slow ones (each an external command) side by side, so the whole takes about
/// as long as the slowest tool. For another cluster than Minikube, no Minikube checks.
pub fn examine(cluster: Cluster) -> Vec<Finding> {
    let (profile, context) = match cluster {
        Cluster::Minikube(profile) => (Some(profile), None),
        Cluster::Context(context) => (None, Some(context)),
    };
    std::thread::scope(|scope| {
        let docker = scope.spawn(check_docker);
        let minikube = scope.spawn(|| profile.map(|p| check_minikube(&Minikube::new(p))).unwrap_or_default());
        let kubectl = scope.spawn(|| {
            let mut found = check_kubectl(profile);
            if let (Some(context), true) = (context, found.iter().all(|f| f.level == Level::Ok)) {
                found.extend(check_cluster(context, &found[0].detail));
            }
            found
        });
        let helm = scope.spawn(check_helm);
        let optional = scope.spawn(check_optional);
        let mut findings = Vec::new();
        let (mut docker_findings, docker_root) = docker.join().unwrap_or_else(|_| (vec![panicked("docker")], None));
        if let Some(profile) = profile {
            spare_the_vm_driver(&mut docker_findings, &Minikube::new(profile));
        }
        findings.extend(docker_findings);
        findings.extend(minikube.join().unwrap_or_else(|_| vec![panicked("minikube")]));
        findings.extend(kubectl.join().unwrap_or_else(|_| vec![panicked("kubectl")]));
        findings.extend(helm.join().unwrap_or_else(|_| vec![panicked("helm")]));
        findings.extend(assess_host(&host_resources(docker_root.as_deref())));
        findings.extend(optional.join().unwrap_or_else(|_| vec![panicked("optional tools")]));
        findings
    })
}

fn panicked(what: &str) -> Finding {
    finding(what, Level::Fail, "the check itself failed", "report this as a bug")
}

fn missing(tool: &str, how: &str) -> Finding {
    finding(tool, Level::Fail, "not installed", how)
}

fn check_docker() -> (Vec<Finding>, Option<PathBuf>) {
    if which::which("docker").is_err() {
        return (
            vec![missing(
                "docker",
                "install Docker Desktop or Docker Engine (https://docs.docker.com/engine/install/)",
            )],
            None,
        );
    }
    let docker = Docker::default();
    let client = docker.client_version().unwrap_or_else(|_| "unknown version".into());
    let mut findings = vec![finding("docker", Level::Ok, client, "")];
    let root = match docker.daemon() {
        Ok((version, root)) => {
            findings.push(finding(
                "docker daemon",
                Level::Ok,
                format!("{version}, data in {root}"),
                "",
            ));
            Some(PathBuf::from(root))
        }
        Err(e) => {
            findings.push(finding(
                "docker daemon",
                Level::Fail,
                format!("not reachable: {e:#}"),
                "start it (Docker Desktop, or `sudo systemctl start docker`)",
            ));
            None
        }
    };
    (findings, root)
}

/// Without a Docker daemon on this host, Minikube on a VM driver (kvm2, qemu, hyperkit, vfkit,
/// …) with the Docker runtime still gives the images one: its own, through `minikube
/// docker-env`, which `images --load minikube` builds into. The docker driver (the node is a
/// container of this host's Docker) and the other runtimes need the host's. A profile that
/// does not exist yet may go either way: `minikube start` picks a VM driver when no Docker runs.
fn spare_the_vm_driver(findings: &mut [Finding], cluster: &Minikube) {
    let Some(daemon) = findings
        .iter_mut()
        .find(|f| f.check == "docker daemon" && f.level == Level::Fail)
    else {
        return;
    };
    match cluster.config() {
        Ok(Some(config)) if config.is_vm() && config.runtime == "docker" => {
            daemon.level = Level::Ok;
            daemon.detail = format!(
                "none on this host; Minikube's own ({} driver) builds the images through `minikube -p {} docker-env`",
                config.driver, cluster.profile
            );
            daemon.fix = String::new();
        }
        Ok(None) => {
            daemon.level = Level::Warn;
            daemon.detail = format!(
                "none on this host ({}); a Minikube started on a VM driver brings its own",
                daemon.detail
            );
            daemon.fix = format!(
                "start Docker, or create the cluster on a VM driver first: minikube start -p {} --driver=kvm2 (or qemu2, hyperkit, vfkit)",
                cluster.profile
            );
        }
        _ => {}
    }
}

fn check_minikube(cluster: &Minikube) -> Vec<Finding> {
    if which::which("minikube").is_err() {
        return vec![missing(
            "minikube",
            "install it: https://minikube.sigs.k8s.io/docs/start/ (or deploy to another cluster with --context and --registry)",
        )];
    }
    let version = minikube::version().unwrap_or_else(|_| "unknown version".into());
    let mut findings = vec![finding("minikube", Level::Ok, version, "")];
    let profile = &cluster.profile;
    let state = match cluster.status() {
        Ok(state) => state,
        Err(e) => {
            findings.push(finding(
                "minikube cluster",
                Level::Warn,
                format!("{e:#}"),
                format!("minikube -p {profile} logs"),
            ));
            return findings;
        }
    };
    let (level, detail, fix) = match &state {
        ClusterState::Running => (Level::Ok, format!("profile {profile}: running"), String::new()),
        ClusterState::Stopped => (
            Level::Warn,
            format!("profile {profile}: stopped"),
            "cargo xtask deploy starts it".to_string(),
        ),
        ClusterState::Missing => (
            Level::Warn,
            format!("profile {profile}: does not exist yet"),
            "cargo xtask deploy creates it".to_string(),
        ),
        ClusterState::Paused => (
            Level::Warn,
            format!("profile {profile}: paused"),
            format!("minikube -p {profile} unpause"),
        ),
        ClusterState::Degraded(how) => (
            Level::Fail,
            format!("profile {profile}: {how}"),
            format!("minikube -p {profile} stop, then cargo xtask deploy (or see minikube -p {profile} logs)"),
        ),
    };
    findings.push(finding("minikube cluster", level, detail, fix));
    if state == ClusterState::Running {
        match cluster.addons() {
            Ok(addons) => {
                for addon in ADDONS {
                    let enabled = addons.get(addon).copied().unwrap_or(false);
                    findings.push(if enabled {
                        finding(&format!("addon {addon}"), Level::Ok, "enabled", "")
                    } else {
                        finding(
                            &format!("addon {addon}"),
                            Level::Warn,
                            "disabled",
                            format!("cargo xtask deploy enables it (or minikube -p {profile} addons enable {addon})"),
                        )
                    });
                }
            }
            Err(e) => findings.push(finding("minikube addons", Level::Warn, format!("{e:#}"), "")),
        }
    }
    findings
}

fn check_kubectl(profile: Option<&str>) -> Vec<Finding> {
    if which::which("kubectl").is_err() {
        return vec![missing(
            "kubectl",
            "install it (https://kubernetes.io/docs/tasks/tools/), or use `minikube kubectl --`",
        )];
    }
    let version = kubectl::client_version().unwrap_or_else(|_| "unknown version".into());
    let mut findings = vec![finding("kubectl", Level::Ok, version, "")];
    let Some(profile) = profile else {
        return findings;
    };
    findings.push(match kubectl::current_context() {
        Ok(Some(context)) if context == profile => finding("kube context", Level::Ok, context, ""),
        Ok(Some(context)) => finding(
            "kube context",
            Level::Warn,
            format!("{context}, not the Minikube profile {profile}"),
            format!("cargo xtask deploy passes --context {profile} itself; `kubectl config use-context {profile}` for your own kubectl"),
        ),
        _ => finding(
            "kube context",
            Level::Warn,
            "none set",
            "cargo xtask deploy sets it when it starts Minikube",
        ),
    });
    findings
}

/// Another cluster: its API server answers through `context` (`kubectl version`: kubectl
/// supports a server one minor version away, kubernetes.io/releases/version-skew-policy), and a
/// node is Ready to run the release.
fn check_cluster(context: &str, client_version: &str) -> Vec<Finding> {
    let context_flag = format!("--context={context}");
    let version = Command::new("kubectl")
        .args([
            context_flag.as_str(),
            "version",
            "--output=json",
            "--request-timeout=10s",
        ])
        .output();
    let server = match &version {
        Ok(output) if output.success() => serde_json::from_str::<serde_json::Value>(&output.stdout)
            .ok()
            .and_then(|v| v["serverVersion"]["gitVersion"].as_str().map(str::to_string)),
        _ => None,
    };
    let Some(server) = server else {
        let why = version.map_or_else(|e| format!("{e:#}"), |o| o.last_error_line());
        return vec![finding(
            "cluster",
            Level::Fail,
            format!("context {context} does not answer: {why}"),
            "check the context (kubectl config get-contexts) and that its cluster is up; or deploy to Minikube without --context",
        )];
    };
    let skew = match (minor(&server), minor(client_version)) {
        (server, client) if server > 0 && client > 0 => server.abs_diff(client),
        _ => 0,
    };
    let mut findings = vec![if skew > 1 {
        finding(
            "cluster",
            Level::Warn,
            format!("{context}: Kubernetes {server}, {skew} minor versions from kubectl {client_version}"),
            "use a kubectl within one minor version of the server",
        )
    } else {
        finding("cluster", Level::Ok, format!("{context}: Kubernetes {server}"), "")
    }];
    let nodes = Command::new("kubectl")
        .args([
            context_flag.as_str(),
            "get",
            "nodes",
            "--output=json",
            "--request-timeout=10s",
        ])
        .output();
    let ready = match &nodes {
        Ok(output) if output.success() => serde_json::from_str::<serde_json::Value>(&output.stdout)
            .ok()
            .map(|list| {
                list["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|node| {
                        node["status"]["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
                    .count()
            }),
        _ => None,
    };
    findings.push(match ready {
        Some(0) => finding(
            "nodes",
            Level::Fail,
            "no node is Ready",
            format!("kubectl --context {context} describe nodes says why"),
        ),
        Some(n) => finding("nodes", Level::Ok, format!("{n} ready"), ""),
        // Listing nodes is a cluster-wide permission a namespaced user may not have.
        None => finding(
            "nodes",
            Level::Warn,
            format!(
                "cannot list them: {}",
                nodes.map_or_else(|e| format!("{e:#}"), |o| o.last_error_line())
            ),
            "a deploy needs no node list, but cannot tell you now whether a node can run it",
        ),
    });
    findings
}

fn check_helm() -> Vec<Finding> {
    let Ok(bin) = which::which("helm") else {
        return vec![missing(
            "helm",
            "install Helm 3.18+ or 4 (https://helm.sh/docs/intro/install/)",
        )];
    };
    match Helm::at(&bin) {
        Ok(helm) if helm.major() >= 4 => vec![finding("helm", Level::Ok, format!("{} (Helm 4)", helm.version), "")],
        Ok(helm) if helm.major() == 3 && minor(&helm.version) >= 18 => {
            vec![finding("helm", Level::Ok, format!("{} (Helm 3)", helm.version), "")]
        }
        Ok(helm) => vec![finding(
            "helm",
            Level::Fail,
            format!("{} is too old", helm.version),
            "install Helm 3.18+ or 4 (https://helm.sh/docs/intro/install/)",
        )],
        Err(e) => vec![finding("helm", Level::Fail, format!("{e:#}"), "reinstall Helm")],
    }
}

fn minor(version: &str) -> u32 {
    version
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

fn check_optional() -> Vec<Finding> {
    let optional = |check: &str, version: Option<String>, how: &str| match version {
        Some(version) => finding(check, Level::Ok, version, ""),
        None => finding(check, Level::Warn, "not installed (optional)", how),
    };
    vec![
        optional(
            "kubectl-ai",
            ai::kubectl_ai_version(),
            "cargo xtask diagnose works without it; to add its answers: https://github.com/GoogleCloudPlatform/kubectl-ai",
        ),
        optional(
            "kagent",
            ai::kagent_version(),
            "cargo xtask diagnose works without it; to add its answers: https://kagent.dev",
        ),
        optional(
            "docker ai (Gordon)",
            ai::gordon_available().then(|| "available (interactive only)".to_string()),
            "Docker Desktop 4.61+ only; nothing needs it",
        ),
    ]
}

/// What the machine has, as far as the checks care.
#[derive(Debug, Clone)]
pub struct HostResources {
    pub cpus: usize,
    pub memory_gib: f64,
    /// Free space under each folder that matters: (what, path, GiB free).
    pub disks: Vec<(String, PathBuf, f64)>,
}

fn host_resources(docker_root: Option<&Path>) -> HostResources {
    let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
    let (cpus, memory_gib) = match sysinfo::System::new() {
        Ok(mut system) => {
            system.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
            system.refresh_memory();
            // A container's limit, when it has one, is what Minikube gets.
            let memory = system
                .cgroup_limits()
                .map_or(system.total_memory(), |l| l.total_memory.min(system.total_memory()));
            (system.cpus().len(), gib(memory))
        }
        Err(_) => (0, 0.0),
    };
    let minikube_home = std::env::var_os("MINIKUBE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".minikube")));
    let mut folders = Vec::new();
    if let Some(root) = docker_root {
        folders.push(("Docker's data".to_string(), root.to_path_buf()));
    }
    if let Some(home) = minikube_home {
        folders.push(("Minikube's data".to_string(), home));
    }
    let disks = sysinfo::Disks::new_with_refreshed_list().ok();
    let disks = folders
        .into_iter()
        .filter_map(|(what, path)| {
            let disks = disks.as_ref()?;
            // The filesystem holding the folder: the longest mount point that prefixes it.
            let existing = path.ancestors().find(|p| p.exists()).unwrap_or(Path::new("/"));
            let disk = disks
                .iter()
                .filter(|d| existing.starts_with(d.mount_point()))
                .max_by_key(|d| d.mount_point().as_os_str().len())?;
            Some((what, path, gib(disk.available_space())))
        })
        .collect();
    HostResources {
        cpus,
        memory_gib,
        disks,
    }
}

/// The machine against the plan's sizes: below the minimum blocks a deploy, below the
/// recommendation only warns.
pub fn assess_host(host: &HostResources) -> Vec<Finding> {
    let mut findings = Vec::new();
    findings.push(match host.cpus {
        n if n >= RECOMMENDED_CPUS => finding("CPUs", Level::Ok, n.to_string(), ""),
        n if n >= MINIMUM_CPUS => finding(
            "CPUs",
            Level::Warn,
            format!("{n} (recommended {RECOMMENDED_CPUS})"),
            format!("deploy gives Minikube {n} CPUs; rollouts will be slower"),
        ),
        n => finding(
            "CPUs",
            Level::Fail,
            format!("{n} (Minikube needs at least {MINIMUM_CPUS})"),
            "use a machine (or VM) with 2 or more CPUs",
        ),
    });
    let memory = host.memory_gib;
    findings.push(if memory >= RECOMMENDED_MEMORY_GIB {
        finding("memory", Level::Ok, format!("{memory:.1} GiB"), "")
    } else if memory >= MINIMUM_MEMORY_GIB {
        finding(
            "memory",
            Level::Warn,
            format!("{memory:.1} GiB (recommended {RECOMMENDED_MEMORY_GIB:.0})"),
            "deploy gives Minikube what the host can spare; close other programs if pods stay Pending",
        )
    } else {
        finding(
            "memory",
            Level::Fail,
            format!("{memory:.1} GiB (Minikube needs at least {MINIMUM_MEMORY_GIB:.0})"),
            "use a machine (or raise the VM's or Docker Desktop's memory) to 4 GiB or more",
        )
    });
    for (what, path, free) in &host.disks {
        let check = format!("disk ({what})");
        let detail = format!("{free:.1} GiB free at {}", path.display());
        findings.push(if *free >= RECOMMENDED_DISK_GIB {
            finding(&check, Level::Ok, detail, "")
        } else if *free >= MINIMUM_DISK_GIB {
            finding(
                &check,
                Level::Warn,
                format!("{detail} (recommended {RECOMMENDED_DISK_GIB:.0})"),
                "free some space: docker system prune, minikube delete of unused profiles",
            )
        } else {
            finding(
                &check,
                Level::Fail,
                format!("{detail} (at least {MINIMUM_DISK_GIB:.0} needed)"),
                "free space: docker system prune -a, minikube delete of unused profiles",
            )
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cpus: usize, memory_gib: f64, disk_gib: f64) -> HostResources {
        HostResources {
            cpus,
            memory_gib,
            disks: vec![("Docker's data".into(), PathBuf::from("/var/lib/docker"), disk_gib)],
        }
    }

    fn levels(host: &HostResources) -> Vec<(String, Level)> {
        assess_host(host).into_iter().map(|f| (f.check, f.level)).collect()
    }

    #[test]
    fn the_plans_machine_passes_a_small_one_warns_and_a_too_small_one_blocks() {
        let ok = levels(&host(8, 16.0, 100.0));
        assert!(ok.iter().all(|(_, l)| *l == Level::Ok), "{ok:?}");
        let small = levels(&host(2, 6.0, 12.0));
        assert!(small.iter().all(|(_, l)| *l == Level::Warn), "{small:?}");
        let too_small = assess_host(&host(1, 2.0, 3.0));
        assert!(too_small.iter().all(|f| f.level == Level::Fail), "{too_small:?}");
        assert!(
            too_small.iter().all(|f| !f.fix.is_empty()),
            "every FAIL has a fix: {too_small:?}"
        );
        assert!(
            too_small[1].detail.contains("2.0 GiB (Minikube needs at least 4)"),
            "{:?}",
            too_small[1]
        );
    }
}
