//! kubectl: its version, the current context, and what the cluster's nodes are.

use anyhow::{Context as _, bail};

use crate::exec::Command;

/// `kubectl get nodes` for the nodes' CPU architectures (`status.nodeInfo.architecture`).
pub fn node_architectures_command(context: Option<&str>) -> Command {
    let context = context.map(|c| format!("--context={c}"));
    Command::new("kubectl").args(context).args([
        "get",
        "nodes",
        "-o",
        "jsonpath={.items[*].status.nodeInfo.architecture}",
    ])
}

/// The one architecture of the cluster's nodes (`amd64`, `arm64`).
pub fn node_architecture(context: Option<&str>) -> anyhow::Result<String> {
    let command = node_architectures_command(context);
    let output = command.output()?;
    if !output.success() {
        bail!(
            "cannot ask the cluster for its nodes' architecture (`{command}`: {}): pass --platform linux/amd64 or linux/arm64",
            output.last_error_line()
        );
    }
    let mut arches: Vec<&str> = output.stdout.split_whitespace().collect();
    arches.sort_unstable();
    arches.dedup();
    match arches.as_slice() {
        [one] => Ok((*one).to_string()),
        [] => bail!("the cluster has no nodes yet: pass --platform linux/amd64 or linux/arm64"),
        many => bail!(
            "the cluster's nodes mix architectures ({}): pass --platform for the nodes the services should run on",
            many.join(", ")
        ),
    }
}

/// `kubectl version --client -o json`: the client's `gitVersion` ("v1.35.2").
pub fn client_version() -> anyhow::Result<String> {
    let text = Command::new("kubectl")
        .args(["version", "--client", "-o", "json"])
        .read()?;
    let parsed: serde_json::Value = serde_json::from_str(&text).context("`kubectl version -o json` printed no JSON")?;
    parsed["clientVersion"]["gitVersion"]
        .as_str()
        .map(str::to_string)
        .context("`kubectl version -o json` has no clientVersion.gitVersion")
}

/// The kubeconfig's current context; `None` when none is set.
pub fn current_context() -> anyhow::Result<Option<String>> {
    let output = Command::new("kubectl").args(["config", "current-context"]).output()?;
    Ok(output
        .success()
        .then(|| output.stdout.trim().to_string())
        .filter(|c| !c.is_empty()))
}

/// kubectl aimed at one context (none: the current one) and namespace.
#[derive(Clone, Debug)]
pub struct Kubectl {
    pub context: Option<String>,
    pub namespace: String,
}

impl Kubectl {
    pub fn new(context: Option<&str>, namespace: &str) -> Kubectl {
        Kubectl {
            context: context.map(str::to_string),
            namespace: namespace.to_string(),
        }
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command::new("kubectl")
            .args(self.context.iter().map(|c| format!("--context={c}")))
            .args(["--namespace".to_string(), self.namespace.clone()])
            .args(args)
    }

    /// `get KIND -l SELECTOR -o json`: the list kubectl prints (`{"items": [...]}`).
    pub fn list(&self, kind: &str, selector: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let mut args = vec!["get".to_string(), kind.to_string()];
        if let Some(selector) = selector {
            args.extend(["--selector".to_string(), selector.to_string()]);
        }
        args.extend(["--output".to_string(), "json".to_string()]);
        let command = self.command(args);
        let output = command.output()?;
        if !output.success() {
            bail!("`{command}` failed ({}): {}", output.exit(), output.last_error_line());
        }
        serde_json::from_str(&output.stdout).with_context(|| format!("`{command}` printed no JSON"))
    }

    /// The last `tail` lines a container printed (`previous`: its run before the last restart).
    pub fn logs(&self, pod: &str, container: &str, tail: u32, previous: bool) -> anyhow::Result<String> {
        let mut args = vec![
            "logs".to_string(),
            pod.to_string(),
            "--container".to_string(),
            container.to_string(),
            format!("--tail={tail}"),
        ];
        if previous {
            args.push("--previous".to_string());
        }
        self.command(args).read()
    }
}
