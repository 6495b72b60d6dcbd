//! The rollout watch every deploy (and `scale`) goes through: Helm only applies the manifests,
//! and this waits for the release's workloads itself, once a second. A problem that waiting
//! cannot fix (`status_check`: an image that is not there, a crash loop, a missing Secret) fails
//! at once, with the crashing container's last lines; the rest is bounded by the deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::cluster::status_check;
use crate::tools::kubectl::Kubectl;

/// Watches every workload of `release` until all have rolled out; fails at once on a problem
/// waiting cannot fix, at the deadline on the rest, and when `interrupted` is set (Ctrl-C).
pub fn watch(
    kubectl: &Kubectl,
    release: &str,
    profile: &str,
    timeout: Duration,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let started = Instant::now();
    let mut last_report = String::new();
    loop {
        if interrupted.load(Ordering::SeqCst) {
            bail!("interrupted (Ctrl-C) while the rollout was in progress");
        }
        let workloads = kubectl.list("deployments,statefulsets", Some(&selector))?;
        let rollouts = status_check::rollouts(&workloads);
        let pods = kubectl.list("pods", Some(&selector))?;
        let events = kubectl.list("events", None).unwrap_or_else(|_| json!({"items": []}));
        let problems = status_check::examine(&pods, &events, profile);
        if let Some(fatal) = problems.iter().find(|p| p.hopeless) {
            let logs = match (&fatal.kind, &fatal.container) {
                (status_check::Kind::CrashLoop, Some(c)) => kubectl.logs(&fatal.pod, c, 20, true).unwrap_or_default(),
                _ => String::new(),
            };
            let logs = if logs.trim().is_empty() {
                String::new()
            } else {
                format!(
                    "\n  its last lines:\n    | {}",
                    logs.trim_end().replace('\n', "\n    | ")
                )
            };
            bail!("the rollout cannot succeed: {fatal}{logs}");
        }
        let report: Vec<String> = rollouts
            .iter()
            .map(|r| format!("{} {}", r.workload, r.detail))
            .collect();
        let report = report.join(", ");
        if report != last_report {
            eprintln!("[{:>5.1} s] {report}", started.elapsed().as_secs_f64());
            last_report = report;
        }
        if !rollouts.is_empty() && rollouts.iter().all(|r| r.done) {
            return Ok(());
        }
        if started.elapsed() > timeout {
            let waiting: Vec<String> = problems.iter().map(ToString::to_string).collect();
            bail!(
                "the rollout did not finish within {} s:\n  {}",
                timeout.as_secs(),
                if waiting.is_empty() {
                    last_report.clone()
                } else {
                    waiting.join("\n  ")
                }
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
