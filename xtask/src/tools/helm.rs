//! `helm`: one binary, its version (3 and 4 differ in flags and messages), the cluster it talks
//! to, and the commands the deploy and the chart checks run with it.
//!
//! The kube context is part of the wrapper, not of each call: every helm command that reads or
//! changes a release (`history`, `get values`, `status`, `upgrade`, `rollback`, `test`,
//! `uninstall`) reads the kubeconfig's current context unless given `--kube-context`, so a call
//! that forgot it would read another cluster's release (its history, its values) and decide on
//! that. `--kube-context` is one of Helm's global flags (helm/helm `pkg/cli/environment.go`,
//! `AddFlags`), accepted by every subcommand.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::exec::{Command, Output};

#[derive(Clone, Debug)]
pub struct Helm {
    pub bin: PathBuf,
    /// As `helm version` prints it: "v3.18.0", "v4.1.4".
    pub version: String,
    /// The kube context every command is given; `None`: the kubeconfig's current one.
    context: Option<String>,
}

impl Helm {
    /// The helm at `bin`, asked for its version.
    pub fn at(bin: &Path) -> anyhow::Result<Helm> {
        let version = Command::new(&bin.to_string_lossy())
            .args(["version", "--template", "{{.Version}}"])
            .read()
            .with_context(|| format!("{} does not answer `helm version`", bin.display()))?;
        Ok(Helm {
            bin: bin.to_path_buf(),
            version: version.trim().to_string(),
            context: None,
        })
    }

    /// The same helm, talking to the cluster of `context` in every command.
    pub fn in_context(mut self, context: Option<&str>) -> Helm {
        self.context = context.map(str::to_string);
        self
    }

    /// 3 or 4.
    pub fn major(&self) -> u32 {
        self.version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let command = Command::new(&self.bin.to_string_lossy()).args(args);
        match &self.context {
            Some(context) => command.args(["--kube-context", context.as_str()]),
            None => command,
        }
    }

    /// `helm template RELEASE CHART -n NAMESPACE [-f FILE]... [--set K=V]...`, whatever it answers.
    pub fn template(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        files: &[PathBuf],
        sets: &[String],
    ) -> Command {
        let command = self.command(["template", release, &chart.to_string_lossy(), "--namespace", namespace]);
        with_values(command, files, sets)
    }

    /// Renders the chart; the manifests, or an error with what Helm said.
    pub fn render(
        &self,
        chart: &Path,
        release: &str,
        namespace: &str,
        files: &[PathBuf],
        sets: &[String],
    ) -> anyhow::Result<String> {
        let command = self.template(chart, release, namespace, files, sets);
        let output: Output = command.output()?;
        if !output.success() {
            anyhow::bail!("`{command}` failed ({}):\n{}", output.exit(), output.stderr.trim());
        }
        Ok(output.stdout)
    }
}

/// The chart's values on a command: `--values FILE`s, then `--set K=V`s (later ones win).
fn with_values(command: Command, files: &[PathBuf], sets: &[String]) -> Command {
    let files = files
        .iter()
        .flat_map(|f| ["--values".to_string(), f.to_string_lossy().into_owned()]);
    let sets = sets.iter().flat_map(|s| ["--set".to_string(), s.clone()]);
    command.args(files).args(sets)
}

/// One revision of a release, as `helm history -o json` lists it (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    pub revision: u64,
    /// deployed, superseded, failed, pending-install, pending-upgrade, pending-rollback, …
    pub status: String,
    pub description: String,
}

impl Revision {
    pub fn is_pending(&self) -> bool {
        self.status.starts_with("pending-")
    }
}

/// `helm history -o json` output; an empty list is a release that does not exist.
pub fn parse_history(json: &str) -> anyhow::Result<Vec<Revision>> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(json.trim()).context("`helm history -o json` printed no JSON list")?;
    Ok(entries
        .iter()
        .map(|e| Revision {
            revision: e["revision"].as_u64().unwrap_or(0),
            status: e["status"].as_str().unwrap_or("unknown").to_string(),
            description: e["description"].as_str().unwrap_or("").to_string(),
        })
        .collect())
}

/// The revision to go back to after `failed` did not become ready: the newest older one that
/// was ever deployed (`superseded` or `deployed`). `None` for a first install.
pub fn last_good(history: &[Revision], failed: u64) -> Option<u64> {
    history
        .iter()
        .rev()
        .filter(|r| r.revision < failed)
        .find(|r| r.status == "superseded" || r.status == "deployed")
        .map(|r| r.revision)
}

impl Helm {
    /// The release's revisions, oldest first; empty when it does not exist.
    pub fn history(&self, release: &str, namespace: &str) -> anyhow::Result<Vec<Revision>> {
        let command = self.command([
            "history",
            release,
            "--namespace",
            namespace,
            "--max",
            "20",
            "--output",
            "json",
        ]);
        let output = command.output()?;
        if !output.success() {
            if output.stderr.contains("not found") {
                return Ok(Vec::new());
            }
            bail!("`{command}` failed ({}): {}", output.exit(), output.last_error_line());
        }
        parse_history(&output.stdout)
    }

    /// `helm upgrade --install` that returns as soon as the manifests are applied: the xtask
    /// watches the rollout itself (fail fast), and Helm is never killed mid-wait.
    pub fn upgrade_install(
        &self,
        release: &str,
        chart: &Path,
        namespace: &str,
        files: &[PathBuf],
        sets: &[String],
    ) -> Command {
        let command = self.command([
            "upgrade",
            "--install",
            release,
            &chart.to_string_lossy(),
            "--namespace",
            namespace,
            "--history-max",
            "10",
            // The chart's defaults, then the release's values (a `scale`, an earlier --set), then
            // these: what the user set once is kept.
            "--reset-then-reuse-values",
        ]);
        // Helm 4's default is --wait=hookOnly (hooks waited for, resources not); Helm 3 waits for
        // nothing without --wait. Either way the release is recorded before the pods are up.
        with_values(command, files, sets)
    }

    /// Back to `revision`, waiting until its workloads are ready (`--wait`: Helm 4 takes the
    /// watcher strategy, Helm 3 its boolean).
    pub fn rollback(&self, release: &str, revision: u64, namespace: &str, timeout: &str) -> Command {
        let wait = if self.major() >= 4 { "--wait=watcher" } else { "--wait" };
        self.command([
            "rollback",
            release,
            &revision.to_string(),
            "--namespace",
            namespace,
            wait,
            "--timeout",
            timeout,
        ])
    }

    /// `helm test`, with the test pod's logs.
    pub fn test(&self, release: &str, namespace: &str) -> Command {
        self.command(["test", release, "--namespace", namespace, "--logs"])
    }

    pub fn uninstall(&self, release: &str, namespace: &str) -> Command {
        self.command(["uninstall", release, "--namespace", namespace])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Helm 4 prints it (Helm 3 has no rollback_revision).
    const HISTORY: &str = r#"[{"revision":1,"updated":"2026-12-01T10:00:00Z","status":"superseded","chart":"todo-chatbot-0.1.0","app_version":"0.1.0","description":"Install complete"},
{"revision":2,"updated":"2026-12-01T11:00:00Z","status":"superseded","chart":"todo-chatbot-0.1.0","app_version":"0.1.0","description":"Upgrade complete"},
{"revision":3,"updated":"2026-12-01T12:00:00Z","status":"failed","chart":"todo-chatbot-0.1.0","app_version":"0.1.0","description":"Upgrade \"todo-chatbot\" failed"},
{"revision":4,"updated":"2026-12-01T13:00:00Z","status":"deployed","chart":"todo-chatbot-0.1.0","app_version":"0.1.0","description":"Upgrade complete","rollback_revision":0}]"#;

    #[test]
    fn history_is_read_and_the_last_good_revision_found() {
        let history = parse_history(HISTORY).unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(history[2].status, "failed");
        assert_eq!(last_good(&history, 4), Some(2), "a failed revision is skipped");
        assert_eq!(
            last_good(&history, 1),
            None,
            "a first install has nothing to go back to"
        );
        let pending =
            parse_history(r#"[{"revision":1,"status":"pending-install","description":"Initial install underway"}]"#)
                .unwrap();
        assert!(pending[0].is_pending());
    }
}
