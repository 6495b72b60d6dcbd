//! minikube: its Docker daemon's variables, and loading images into the cluster's runtime.
//!
//! Formats and exit codes as minikube documents them: `docker-env --shell none -o json` prints
//! one JSON object; exit 81 means several nodes (no single daemon to build into), 14 a runtime
//! other than Docker, 83 a cluster that is not running, 85 a profile that does not exist.
//! `image load` exits 0 even when a node did not get the image, so every load is confirmed with
//! `image ls`.

use anyhow::{Context as _, bail};

use crate::exec::Command;

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
    use super::same_image;

    #[test]
    fn image_names_compare_as_fully_qualified() {
        assert!(same_image("docker.io/library/todo-backend:abc", "todo-backend:abc"));
        assert!(same_image("docker.io/me/todo-mcp:1", "me/todo-mcp:1"));
        assert!(same_image("localhost:5000/todo-mcp:1", "localhost:5000/todo-mcp:1"));
        assert!(!same_image("docker.io/library/todo-backend:abc", "todo-backend:abd"));
    }
}
