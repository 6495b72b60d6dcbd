//! The optional AI assistants for Kubernetes: kubectl-ai, kagent and Docker's Gordon (`docker
//! ai`). Each may be missing; finding one never fails a command.
//!
//! kubectl-ai reads stdin whenever it is not a terminal and its exit code can race its last
//! message, so it runs with stdin closed and a timeout; in `--quiet` mode it runs no step that
//! could change the cluster unless `--skip-permissions` is given. kagent exits 0 even when it
//! failed, so its output is read, not its exit code. Gordon has no unattended form: only a
//! command for the user to run is printed.

use std::os::unix::process::CommandExt as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::exec::Command;

/// What an assistant answered, or why it did not.
pub type Answer = anyhow::Result<String>;

/// Runs a program with stdin closed, in its own process group (killed whole on timeout); its
/// exit code, stdout and stderr.
fn run_bounded(program: &str, args: &[String], timeout: Duration) -> anyhow::Result<(Option<i32>, String, String)> {
    eprintln!("$ {}", Command::new(program).args(args.iter().cloned()));
    let handle = duct::cmd(program, args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .before_spawn(|command| {
            command.process_group(0);
            Ok(())
        })
        .start()
        .with_context(|| format!("cannot start {program}"))?;
    let started = Instant::now();
    loop {
        if let Some(output) = handle.try_wait()? {
            return Ok((
                output.status.code(),
                strip_ansi(&String::from_utf8_lossy(&output.stdout)),
                strip_ansi(&String::from_utf8_lossy(&output.stderr)),
            ));
        }
        if started.elapsed() > timeout {
            for pid in handle.pids() {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = handle.wait();
            bail!("{program} gave no answer within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Text without the colour codes kubectl-ai prints even into a pipe.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters... final byte (a letter)
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Asks kubectl-ai one question, read-only unless `allow_changes`.
/// It works on the kubeconfig's current context, so the question names the context and namespace.
pub fn ask_kubectl_ai(query: &str, allow_changes: bool, timeout: Duration) -> Answer {
    let mut args = vec!["--quiet".to_string()];
    if allow_changes {
        args.push("--skip-permissions".to_string());
    }
    args.push(query.to_string());
    let (code, stdout, stderr) = run_bounded("kubectl-ai", &args, timeout)?;
    if code != Some(0) {
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Error:"))
            .unwrap_or("no answer");
        bail!(
            "kubectl-ai failed ({reason}); it needs a model provider's key, e.g. GEMINI_API_KEY or OPENAI_API_KEY with --llm-provider"
        );
    }
    Ok(stdout.trim().to_string())
}

/// Asks kagent's k8s-agent one task. kagent exits 0 on errors: an `Error` line on stderr, or no
/// text in its answer, is a failure.
pub fn ask_kagent(task: &str, timeout: Duration) -> Answer {
    let args = ["invoke", "--agent", "k8s-agent", "--task", task].map(String::from);
    let (_, stdout, stderr) = run_bounded("kagent", &args, timeout)?;
    if let Some(error) = stderr.lines().map(str::trim).find(|l| l.starts_with("Error")) {
        bail!("kagent failed: {error}");
    }
    let texts = kagent_texts(&stdout);
    if texts.is_empty() {
        bail!("kagent answered no text: {}", stdout.trim());
    }
    Ok(texts.join("\n"))
}

/// Every `text` in kagent's answer (one JSON line: an A2A task with artifacts and messages).
pub fn kagent_texts(stdout: &str) -> Vec<String> {
    fn collect(value: &serde_json::Value, into: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("text", serde_json::Value::String(text)) => into.push(text.clone()),
                        _ => collect(value, into),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    for line in stdout.lines() {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line.trim()) {
            collect(&value, &mut texts);
        }
    }
    texts.dedup();
    texts
}

/// `kubectl-ai version` prints `version: 0.0.28` (then commit and date lines).
pub fn kubectl_ai_version() -> Option<String> {
    which::which("kubectl-ai").ok()?;
    let text = Command::new("kubectl-ai").arg("version").read().ok()?;
    Some(parse_kubectl_ai_version(&text).unwrap_or_else(|| "unknown version".into()))
}

pub fn parse_kubectl_ai_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("version:"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `kagent version` prints one JSON object whose version key has changed between releases.
pub fn kagent_version() -> Option<String> {
    which::which("kagent").ok()?;
    let text = Command::new("kagent").arg("version").read().ok()?;
    Some(parse_kagent_version(&text).unwrap_or_else(|| "unknown version".into()))
}

pub fn parse_kagent_version(text: &str) -> Option<String> {
    let parsed: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    parsed
        .as_object()?
        .iter()
        .find(|(key, _)| key.to_ascii_lowercase().contains("version"))
        .and_then(|(_, v)| v.as_str().map(str::to_string))
}

/// Gordon ships with Docker Desktop only: there `docker ai --help` prints the usage of `docker
/// ai`; Docker Engine answers that `ai` is not a docker command (a 28.x CLI prints its general
/// usage instead, and exits 0).
pub fn gordon_available() -> bool {
    which::which("docker").is_ok()
        && Command::new("docker")
            .args(["ai", "--help"])
            .output()
            .is_ok_and(|o| o.success() && o.stdout.contains("docker ai"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_from_what_the_tools_print() {
        assert_eq!(
            parse_kubectl_ai_version("version: 0.0.28\ncommit: 3f1c2d\ndate: 2026-10-02T10:00:00Z\n").as_deref(),
            Some("0.0.28")
        );
        assert_eq!(parse_kubectl_ai_version("usage: kubectl-ai"), None);
        assert_eq!(
            parse_kagent_version(r#"{"kagent_version":"0.9.12","git_commit":"abc","build_date":"2026-11-01"}"#)
                .as_deref(),
            Some("0.9.12")
        );
        assert_eq!(parse_kagent_version("Error: unknown command"), None);
    }

    #[test]
    fn answers_are_read_without_colours_and_from_kagents_task_json() {
        assert_eq!(strip_ansi("\u{1b}[1;32mThe pod\u{1b}[0m is fine"), "The pod is fine");
        let task = r#"{"id":"t1","status":{"state":"completed","message":{"role":"agent","parts":[{"kind":"text","text":"The backend pod cannot pull its image."}]}},"artifacts":[{"parts":[{"kind":"text","text":"Load it with minikube image load."}]}]}"#;
        let texts = kagent_texts(task);
        assert_eq!(texts.len(), 2, "{texts:?}");
        assert!(texts.iter().any(|t| t == "The backend pod cannot pull its image."));
        assert!(kagent_texts("not json").is_empty());
    }
}
