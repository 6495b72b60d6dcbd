//! minikube: its version, the cluster's state and addons, its Docker daemon's variables, and
//! loading images into the cluster's runtime.
//!
//! Formats and exit codes as minikube documents them: `docker-env --shell none -o json` prints
//! one JSON object; exit 81 means several nodes (no single daemon to build into), 14 a runtime
//! other than Docker, 83 a cluster that is not running, 85 a profile that does not exist.
//! `image load` exits 0 even when a node did not get the image, so every load is confirmed with
//! `image ls`.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::exec::Command;

/// The cluster's state as `minikube status -o json` reports it (exit code bitmask: 1 host, 2
/// kubelet or API server, 4 kubeconfig not running; 85 no such profile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterState {
    Running,
    /// The kubelet is stopped and the API server paused (`minikube pause`).
    Paused,
    Stopped,
    /// No cluster of this profile exists yet.
    Missing,
    /// Something else (a host running without its API server, say), as minikube put it.
    Degraded(String),
}

/// `minikube version --short`: "v1.38.1".
pub fn version() -> anyhow::Result<String> {
    Ok(Command::new("minikube")
        .args(["version", "--short"])
        .read()?
        .trim()
        .to_string())
}

pub struct Minikube {
    pub profile: String,
}

/// Why minikube's own Docker daemon cannot be built into.
#[derive(Debug)]
pub enum DockerEnv {
    /// The variables that point docker at the cluster's daemon.
    Ready(Vec<(String, String)>),
    /// The cluster runs, but not a single Docker daemon (several nodes, containerd, cri-o): load
    /// images with `image load` instead.
    Unsuitable(String),
}

/// How a profile runs, as `minikube profile list -o json` reports it (`config.ClusterConfig`'s
/// `Driver` and `KubernetesConfig.ContainerRuntime`, minikube `pkg/minikube/config/types.go`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileConfig {
    /// docker, podman, kvm2, qemu2, hyperkit, vfkit, virtualbox, hyperv, …
    pub driver: String,
    /// docker, containerd or crio.
    pub runtime: String,
}

impl ProfileConfig {
    /// A driver that runs the node in a VM of its own, with its own Docker daemon when the
    /// runtime is docker: `minikube docker-env` then gives the host a daemon it may not have.
    pub fn is_vm(&self) -> bool {
        !matches!(self.driver.as_str(), "docker" | "podman" | "none" | "ssh")
    }
}

/// The profile named `name` in `minikube profile list -o json` output (`{"invalid":[…],
/// "valid":[{"Name":…,"Config":{"Driver":…,"KubernetesConfig":{"ContainerRuntime":…}}}]}`, minikube
/// `cmd/minikube/cmd/config/profile_list.go`); `None` when no valid profile has that name.
pub fn parse_profile(json: &str, name: &str) -> anyhow::Result<Option<ProfileConfig>> {
    let listed: Value = serde_json::from_str(json.trim()).context("`minikube profile list -o json` printed no JSON")?;
    Ok(listed["valid"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["Name"] == name)
        .map(|p| ProfileConfig {
            driver: p["Config"]["Driver"].as_str().unwrap_or("").to_string(),
            runtime: p["Config"]["KubernetesConfig"]["ContainerRuntime"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        }))
}

impl Minikube {
    pub fn new(profile: &str) -> Minikube {
        Minikube {
            profile: profile.to_string(),
        }
    }

    fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command::new("minikube")
            .args(["-p".to_string(), self.profile.clone()])
            .args(args)
    }

    pub fn delete_command(&self) -> Command {
        self.command(["delete"])
    }

    pub fn status_command(&self) -> Command {
        self.command(["status", "-o", "json"])
    }

    pub fn status(&self) -> anyhow::Result<ClusterState> {
        let output = self.status_command().output()?;
        if output.code == Some(85) {
            return Ok(ClusterState::Missing);
        }
        parse_status(&output.stdout, output.code).with_context(|| {
            format!(
                "`{}` answered {}: {}",
                self.status_command(),
                output.exit(),
                output.last_error_line()
            )
        })
    }

    /// `addons list -o json`: each addon and whether it is enabled.
    pub fn addons(&self) -> anyhow::Result<BTreeMap<String, bool>> {
        let text = self.command(["addons", "list", "-o", "json"]).read()?;
        let listed: serde_json::Map<String, Value> =
            serde_json::from_str(text.trim()).context("`minikube addons list -o json` printed no JSON object")?;
        Ok(listed
            .into_iter()
            .map(|(name, addon)| (name, addon["Status"] == "enabled"))
            .collect())
    }

    /// This profile's driver and container runtime; `None` when it does not exist yet. `--light`
    /// skips asking each cluster for its status, which this does not need.
    pub fn config(&self) -> anyhow::Result<Option<ProfileConfig>> {
        let command = Command::new("minikube").args(["profile", "list", "-o", "json", "--light"]);
        let output = command.output()?;
        if !output.success() {
            bail!("`{command}` failed ({}): {}", output.exit(), output.last_error_line());
        }
        parse_profile(&output.stdout, &self.profile)
    }

    pub fn docker_env_command(&self) -> Command {
        self.command(["docker-env", "--shell", "none", "-o", "json"])
    }

    pub fn docker_env(&self) -> anyhow::Result<DockerEnv> {
        if which::which("minikube").is_err() {
            bail!(
                "minikube is not installed: install it (https://minikube.sigs.k8s.io/docs/start/), or use --load none"
            );
        }
        let output = self.docker_env_command().output()?;
        match output.code {
            Some(0) => {
                let vars: serde_json::Map<String, serde_json::Value> = serde_json::from_str(output.stdout.trim())
                    .with_context(|| format!("`{}` printed no JSON object", self.docker_env_command()))?;
                let vars = vars
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                Ok(DockerEnv::Ready(vars))
            }
            Some(81 | 14) => Ok(DockerEnv::Unsuitable(output.last_error_line())),
            Some(83) => bail!(
                "minikube profile {:?} is not running: start it (`minikube start -p {}`, or `cargo xtask deploy`)",
                self.profile,
                self.profile
            ),
            Some(85) => bail!(
                "minikube profile {:?} does not exist: create it (`minikube start -p {}`, or `cargo xtask deploy`)",
                self.profile,
                self.profile
            ),
            _ => bail!(
                "`{}` failed ({}): {}",
                self.docker_env_command(),
                output.exit(),
                output.last_error_line()
            ),
        }
    }

    pub fn image_load_command(&self, image: &str) -> Command {
        self.command(["image", "load", image])
    }

    /// The images in the cluster's runtime, as `image ls --format short` names them
    /// (`docker.io/library/todo-backend:abc`).
    pub fn images(&self) -> anyhow::Result<Vec<String>> {
        let listing = self.command(["image", "ls", "--format", "short"]).read()?;
        Ok(listing
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }
}

/// The state in `status -o json` output: one object, or an array (one per node; the first is the
/// control plane).
pub fn parse_status(stdout: &str, code: Option<i32>) -> anyhow::Result<ClusterState> {
    let parsed: Value = serde_json::from_str(stdout.trim()).context("no JSON status")?;
    let node = match &parsed {
        Value::Array(nodes) => nodes.first().cloned().context("no node in the status")?,
        one => one.clone(),
    };
    let field = |key: &str| node[key].as_str().unwrap_or("").to_string();
    let (host, kubelet, api) = (field("Host"), field("Kubelet"), field("APIServer"));
    Ok(match (host.as_str(), api.as_str()) {
        ("Running", "Running") if code == Some(0) || kubelet == "Running" => ClusterState::Running,
        (_, "Paused") => ClusterState::Paused,
        ("Stopped", _) => ClusterState::Stopped,
        ("Nonexistent", _) => ClusterState::Missing,
        _ => ClusterState::Degraded(format!("host {host}, kubelet {kubelet}, API server {api}")),
    })
}

/// Whether `listed` (a fully qualified name from `image ls`) is `image` as docker names it
/// locally (`todo-backend:abc` is `docker.io/library/todo-backend:abc`).
pub fn same_image(listed: &str, image: &str) -> bool {
    let qualify = |name: &str| {
        let first = name.split('/').next().unwrap_or_default();
        let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
        match (has_registry, name.contains('/')) {
            (true, _) => name.to_string(),
            (false, true) => format!("docker.io/{name}"),
            (false, false) => format!("docker.io/library/{name}"),
        }
    };
    qualify(listed) == qualify(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_one_node_several_and_every_state() {
        let running = r#"{"Name":"minikube","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false}"#;
        assert_eq!(parse_status(running, Some(0)).unwrap(), ClusterState::Running);
        let stopped = r#"{"Name":"minikube","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped","Kubeconfig":"Stopped","Worker":false}"#;
        assert_eq!(parse_status(stopped, Some(7)).unwrap(), ClusterState::Stopped);
        let paused = r#"{"Name":"minikube","Host":"Running","Kubelet":"Stopped","APIServer":"Paused","Kubeconfig":"Configured","Worker":false}"#;
        assert_eq!(parse_status(paused, Some(2)).unwrap(), ClusterState::Paused);
        let nodes = format!("[{running},{}]", running.replace("minikube", "minikube-m02"));
        assert_eq!(parse_status(&nodes, Some(0)).unwrap(), ClusterState::Running);
        let broken = running.replace(r#""APIServer":"Running""#, r#""APIServer":"Stopped""#);
        assert!(
            matches!(parse_status(&broken, Some(2)).unwrap(), ClusterState::Degraded(s) if s.contains("API server Stopped"))
        );
        assert!(parse_status("* Profile not found", Some(85)).is_err());
    }

    #[test]
    fn image_names_compare_as_fully_qualified() {
        assert!(same_image("docker.io/library/todo-backend:abc", "todo-backend:abc"));
        assert!(same_image("docker.io/me/todo-mcp:1", "me/todo-mcp:1"));
        assert!(same_image("localhost:5000/todo-mcp:1", "localhost:5000/todo-mcp:1"));
        assert!(!same_image("docker.io/library/todo-backend:abc", "todo-backend:abd"));
    }
}
