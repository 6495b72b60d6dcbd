//! The optional AI assistants for Kubernetes: kubectl-ai, kagent and Docker's Gordon (`docker
//! ai`). Each may be missing; finding one never fails a command.

use crate::exec::Command;

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
}
