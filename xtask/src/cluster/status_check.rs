//! Pod states turned into messages a person can act on, as Skaffold's status check does: from
//! `kubectl get pods -o json` and `kubectl get events -o json`, each problem with its pod, what
//! is wrong, and what to do. Some problems never fix themselves (an image or tag the registry does
//! not have, a pull it is refused, a missing Secret, a container that keeps crashing): `deploy`
//! fails on them at once instead of waiting out its timeout. Others pass with time, and are
//! reported only at the deadline, as `kubectl rollout status` waits them out: scheduling, a probe
//! not yet passing, a pull that failed for a passing reason (Docker Hub's `toomanyrequests`, a
//! timeout; the kubelet retries with back-off), and the first few restarts of a container whose
//! dependency is still starting (a service before its database).

use std::fmt;

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The image cannot be pulled (or, with pullPolicy Never, is not in the node's runtime).
    ImagePull,
    /// The container keeps exiting.
    CrashLoop,
    /// A Secret or ConfigMap (or a key) the container reads does not exist.
    Config,
    /// No node can take the pod.
    Unschedulable,
    /// Running, but its readiness probe does not pass.
    Unready,
    /// A container ended with a non-zero exit code and will not be restarted.
    Failed,
}

/// Restarts after which a crash loop counts as hopeless. The kubelet waits 10 s, 20 s, 40 s…
/// between them (`pkg/kubelet/kuberuntime`, `backOffPeriod`), so three restarts span over a minute
/// of the container's life: longer than a dependency of this release takes to start (PostgreSQL
/// initialising its volume), shorter than any rollout deadline worth waiting out.
pub const HOPELESS_RESTARTS: u64 = 3;

/// What a failed pull says when pulling again cannot help: the image or tag does not exist, or
/// the registry refuses this cluster (the messages of containerd, CRI-O and Docker's registry
/// client as the kubelet passes them on).
const HOPELESS_PULLS: [&str; 9] = [
    "not found",
    "manifest unknown",
    "does not exist",
    "pull access denied",
    "unauthorized",
    "authentication required",
    "denied",
    "invalid reference format",
    "repository name must",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub pod: String,
    pub container: Option<String>,
    pub kind: Kind,
    /// Waiting longer cannot help: the deploy fails at once.
    pub hopeless: bool,
    /// What is wrong, in the cluster's own words where it has them.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.container {
            Some(c) => write!(f, "pod {} (container {c}): {}", self.pod, self.message)?,
            None => write!(f, "pod {}: {}", self.pod, self.message)?,
        }
        write!(f, "\n  fix: {}", self.fix)
    }
}

/// The problems of every pod in `pods` (a `kubectl get pods -o json` list), with the latest
/// Warning event of each pod from `events` (a `kubectl get events -o json` list) where it says
/// more. `profile` is the Minikube profile, for the commands in the fixes.
pub fn examine(pods: &Value, events: &Value, profile: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    for pod in pods["items"].as_array().into_iter().flatten().filter(|p| is_serving(p)) {
        let name = pod["metadata"]["name"].as_str().unwrap_or("?").to_string();
        let warning = latest_warning(events, &name);
        if let Some(problem) = unschedulable(pod, &name) {
            problems.push(problem);
            continue;
        }
        let statuses = pod["status"]["initContainerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(pod["status"]["containerStatuses"].as_array().into_iter().flatten());
        for status in statuses {
            if let Some(problem) = container_problem(pod, &name, status, warning.as_deref(), profile) {
                problems.push(problem);
            }
        }
    }
    problems
}

/// Whether a pod is one of the release's running system, which a rollout and a verify judge.
/// Not: a pod being deleted (`metadata.deletionTimestamp` set: an old replica shutting down after
/// a rollout, or every pod of a deleted namespace), whose container goes unready on its way out;
/// nor a Helm hook's pod (the `helm test` pod, annotated `helm.sh/hook`), which Helm judges
/// itself and keeps after it ran until the next `helm test` replaces it (the chart's
/// `before-hook-creation` delete policy), failed or not.
pub fn is_serving(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null() && pod["metadata"]["annotations"]["helm.sh/hook"].is_null()
}

fn unschedulable(pod: &Value, name: &str) -> Option<Problem> {
    let condition = pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")?;
    let message = condition["message"]
        .as_str()
        .unwrap_or("no node can take it")
        .to_string();
    Some(Problem {
        pod: name.to_string(),
        container: None,
        kind: Kind::Unschedulable,
        hopeless: false,
        message: format!("cannot be scheduled: {message}"),
        fix: if message.contains("Insufficient") {
            "give the cluster more CPU or memory (minikube start --cpus/--memory), or lower the chart's resources.requests".into()
        } else {
            "check the pod's nodeSelector, tolerations and volume claims (kubectl describe pod)".into()
        },
    })
}

fn container_problem(pod: &Value, name: &str, status: &Value, warning: Option<&str>, profile: &str) -> Option<Problem> {
    let container = status["name"].as_str().unwrap_or("?").to_string();
    let image = status["image"].as_str().unwrap_or("?");
    let problem = |kind, hopeless, message: String, fix: String| {
        Some(Problem {
            pod: name.to_string(),
            container: Some(container.clone()),
            kind,
            hopeless,
            message,
            fix,
        })
    };
    let waiting = &status["state"]["waiting"];
    let reason = waiting["reason"].as_str().unwrap_or("");
    let detail = waiting["message"].as_str().or(warning).unwrap_or("").to_string();
    match reason {
        "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" => {
            let local = !image.contains('/') || image.starts_with("docker.io/library/");
            let fix = if local {
                format!(
                    "the image is not in the cluster's runtime: cargo xtask images --load minikube --profile {profile} (or minikube -p {profile} image load {image})"
                )
            } else {
                format!("check that {image} exists in its registry and that the cluster may pull it (imagePullSecrets)")
            };
            // The back-off's own message ("Back-off pulling image …") does not say why; the
            // kubelet's Warning event (`Failed to pull image …: <the runtime's error>`) does.
            let why = format!("{detail} {}", warning.unwrap_or("")).to_lowercase();
            // One of the project's images without a registry exists only where `images --load`
            // put it: no registry has it to pull.
            let project_image = image.trim_start_matches("docker.io/library/").starts_with("todo-");
            let hopeless = matches!(reason, "ErrImageNeverPull" | "InvalidImageName")
                || (local && project_image)
                || HOPELESS_PULLS.iter().any(|sign| why.contains(sign));
            let (detail, fix) = if hopeless {
                (detail, fix)
            } else {
                (
                    format!("{detail}; the kubelet retries with back-off"),
                    format!("if it goes on, {fix}"),
                )
            };
            return problem(
                Kind::ImagePull,
                hopeless,
                format!("{reason}: {image}{}", suffix(&detail)),
                fix,
            );
        }
        "CreateContainerConfigError" | "CreateContainerError" => {
            return problem(
                Kind::Config,
                true,
                format!("{reason}{}", suffix(&detail)),
                "create the Secret or ConfigMap it names in the release's namespace, or fix the value that names it"
                    .into(),
            );
        }
        "CrashLoopBackOff" => {
            let last = &status["lastState"]["terminated"];
            let code = last["exitCode"].as_i64().unwrap_or(-1);
            let why = last["reason"].as_str().unwrap_or("Error");
            let fix = if why == "OOMKilled" {
                "it ran out of memory: raise its resources.limits.memory".to_string()
            } else {
                format!("read why it exits: kubectl logs {name} -c {container} --previous")
            };
            let restarts = status["restartCount"].as_u64().unwrap_or(0);
            // Out of memory is not a dependency still starting: it ends the same way each time.
            let hopeless = why == "OOMKilled" || restarts >= HOPELESS_RESTARTS;
            return problem(
                Kind::CrashLoop,
                hopeless,
                format!("CrashLoopBackOff: exits with code {code} ({why}), restarted {restarts} times"),
                fix,
            );
        }
        _ => {}
    }
    let terminated = &status["state"]["terminated"];
    if let Some(code) = terminated["exitCode"].as_i64()
        && code != 0
        && pod["spec"]["restartPolicy"] == "Never"
    {
        return problem(
            Kind::Failed,
            true,
            format!(
                "exited with code {code} ({})",
                terminated["reason"].as_str().unwrap_or("Error")
            ),
            format!("kubectl logs {name} -c {container}"),
        );
    }
    let running = status["state"]["running"].is_object();
    if running && status["ready"] == false {
        let probe = warning
            .filter(|w| w.contains("probe failed"))
            .map_or_else(|| "its readiness probe has not passed yet".to_string(), str::to_string);
        return problem(
            Kind::Unready,
            false,
            format!("running but not ready: {probe}"),
            format!(
                "check the readinessProbe's path and port, and what the service logs: kubectl logs {name} -c {container}"
            ),
        );
    }
    None
}

fn suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    }
}

/// How far one Deployment or StatefulSet has rolled out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    /// "Deployment/todo-chatbot-backend"
    pub workload: String,
    pub done: bool,
    /// "2 of 3 updated, 1 available"
    pub detail: String,
}

/// The rollout of each workload in `list` (a `kubectl get deployments,statefulsets -o json`
/// list), judged as `kubectl rollout status` does: the controller has seen the newest spec, and
/// every replica is updated and available (ready, for a StatefulSet).
pub fn rollouts(list: &Value) -> Vec<Rollout> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let kind = w["kind"].as_str().unwrap_or("?");
            let name = w["metadata"]["name"].as_str().unwrap_or("?");
            let count = |v: &Value| v.as_u64().unwrap_or(0);
            let wanted = w["spec"]["replicas"].as_u64().unwrap_or(1);
            let seen = count(&w["status"]["observedGeneration"]) >= count(&w["metadata"]["generation"]);
            let updated = count(&w["status"]["updatedReplicas"]);
            let (ready, word) = if kind == "StatefulSet" {
                (count(&w["status"]["readyReplicas"]), "ready")
            } else {
                (count(&w["status"]["availableReplicas"]), "available")
            };
            let total = count(&w["status"]["replicas"]);
            // Old pods still running beside the new ones: a rolling update in progress.
            let done = seen && updated >= wanted && ready >= wanted && total <= wanted;
            Rollout {
                workload: format!("{kind}/{name}"),
                done,
                detail: format!("{updated} of {wanted} updated, {ready} {word}"),
            }
        })
        .collect()
}

/// The message of the newest Warning event about the pod.
fn latest_warning(events: &Value, pod: &str) -> Option<String> {
    events["items"]
        .as_array()?
        .iter()
        .filter(|e| e["type"] == "Warning" && e["involvedObject"]["name"] == pod)
        .max_by_key(|e| {
            e["lastTimestamp"]
                .as_str()
                .or(e["eventTime"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .and_then(|e| e["message"].as_str().map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, status: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Always"}, "status": status})
    }

    fn events(items: Vec<Value>) -> Value {
        json!({"kind": "List", "items": items})
    }

    fn warning(pod: &str, reason: &str, message: &str, at: &str) -> Value {
        json!({"type": "Warning", "reason": reason, "message": message, "lastTimestamp": at,
               "involvedObject": {"kind": "Pod", "name": pod}})
    }

    #[test]
    fn an_image_missing_from_minikube_says_how_to_load_it_and_is_fatal() {
        let pods = json!({"items": [pod("todo-chatbot-backend-7c9f-abcde", json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "backend", "image": "todo-backend:0123456789ab", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"todo-backend:0123456789ab\""}}}]
        }))]});
        let found = examine(&pods, &events(vec![]), "minikube");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, Kind::ImagePull);
        assert!(found[0].hopeless);
        assert!(
            found[0].message.contains("ImagePullBackOff: todo-backend:0123456789ab"),
            "{}",
            found[0]
        );
        assert!(
            found[0]
                .fix
                .contains("cargo xtask images --load minikube --profile minikube"),
            "{}",
            found[0]
        );

        let remote = pods
            .to_string()
            .replace("todo-backend:0123456789ab", "ghcr.io/me/todo-backend:0123456789ab");
        let found = examine(&serde_json::from_str(&remote).unwrap(), &events(vec![]), "minikube");
        assert!(found[0].fix.contains("exists in its registry"), "{}", found[0]);
    }

    /// A pull that fails for a passing reason is waited out (the kubelet retries); one the
    /// registry answers "no such image" or "denied" to is not.
    #[test]
    fn a_passing_pull_failure_is_waited_out_and_a_missing_image_is_not() {
        let pods = json!({"items": [pod("todo-chatbot-postgresql-0", json!({
            "phase": "Pending",
            "containerStatuses": [{"name": "postgresql", "image": "postgres:17.6", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"postgres:17.6\""}}}]
        }))]});
        let pulled = |why: &str| {
            let events = events(vec![warning(
                "todo-chatbot-postgresql-0",
                "Failed",
                &format!("Failed to pull image \"postgres:17.6\": {why}"),
                "2026-12-01T10:00:03Z",
            )]);
            examine(&pods, &events, "minikube").remove(0)
        };
        let limited = pulled(
            "failed to pull and unpack image \"docker.io/library/postgres:17.6\": unexpected status from HEAD request: 429 Too Many Requests: toomanyrequests: You have reached your unauthenticated pull rate limit",
        );
        assert!(!limited.hopeless, "{limited}");
        assert!(limited.message.contains("the kubelet retries"), "{limited}");
        assert!(!pulled("dial tcp: i/o timeout").hopeless);
        for missing in [
            "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/postgres:17.6\": docker.io/library/postgres:17.6: not found",
            "Error response from daemon: manifest for postgres:17.6 not found: manifest unknown: manifest unknown",
            "pull access denied for postgres, repository does not exist or may require 'docker login'",
        ] {
            assert!(pulled(missing).hopeless, "{missing}");
        }
        // Without an event to say why, the project's own image, never pushed, cannot be pulled.
        let ours = json!({"items": [pod("todo-chatbot-backend-1", json!({
            "containerStatuses": [{"name": "backend", "image": "todo-backend:1", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ErrImagePull", "message": "pull failed"}}}]
        }))]});
        assert!(examine(&ours, &events(vec![]), "minikube")[0].hopeless);
    }

    /// A container that restarts while its database starts is waited for; one that has crashed
    /// three times, or ran out of memory, is hopeless.
    #[test]
    fn early_restarts_are_waited_for_and_a_lasting_crash_loop_is_not() {
        let crashing = |restarts: u64, why: &str| {
            let pods = json!({"items": [pod("todo-chatbot-backend-1", json!({
                "phase": "Running",
                "containerStatuses": [{"name": "backend", "image": "todo-backend:1", "ready": false, "restartCount": restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": why}}}]
            }))]});
            examine(&pods, &events(vec![]), "minikube").remove(0)
        };
        assert!(!crashing(1, "Error").hopeless);
        assert!(!crashing(HOPELESS_RESTARTS - 1, "Error").hopeless);
        assert!(crashing(HOPELESS_RESTARTS, "Error").hopeless);
        assert!(crashing(1, "OOMKilled").hopeless);
    }

    #[test]
    fn a_crash_loop_gives_the_exit_code_and_an_oom_says_to_raise_the_limit() {
        let status = |reason: &str| {
            json!({
                "phase": "Running",
                "containerStatuses": [{"name": "mcp", "image": "todo-mcp:1", "ready": false, "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": reason}}}]
            })
        };
        let found = examine(
            &json!({"items": [pod("mcp-1", status("Error"))]}),
            &events(vec![]),
            "minikube",
        );
        assert_eq!(found[0].kind, Kind::CrashLoop);
        assert_eq!(
            found[0].message,
            "CrashLoopBackOff: exits with code 1 (Error), restarted 4 times"
        );
        assert_eq!(found[0].fix, "read why it exits: kubectl logs mcp-1 -c mcp --previous");
        let oom = examine(
            &json!({"items": [pod("mcp-1", status("OOMKilled"))]}),
            &events(vec![]),
            "minikube",
        );
        assert!(oom[0].fix.contains("raise its resources.limits.memory"));
    }

    #[test]
    fn a_missing_secret_and_a_pod_no_node_can_take() {
        let config = pod(
            "agent-1",
            json!({"phase": "Pending", "containerStatuses": [{"name": "agent", "image": "todo-agent:1", "ready": false,
            "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"todo-openai\" not found"}}}]}),
        );
        let pending = pod(
            "postgresql-0",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
            "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient cpu."}]}),
        );
        let found = examine(&json!({"items": [config, pending]}), &events(vec![]), "minikube");
        assert_eq!(found[0].kind, Kind::Config);
        assert_eq!(
            found[0].message,
            "CreateContainerConfigError (secret \"todo-openai\" not found)"
        );
        assert_eq!(found[1].kind, Kind::Unschedulable);
        assert!(!found[1].hopeless, "scheduling may still succeed");
        assert_eq!(
            found[1].message,
            "cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu."
        );
        assert!(found[1].fix.contains("more CPU or memory"));
    }

    #[test]
    fn a_pod_failing_its_probe_shows_the_probes_last_answer() {
        let unready = pod(
            "frontend-1",
            json!({"phase": "Running", "containerStatuses": [{"name": "frontend", "image": "todo-frontend:1",
            "ready": false, "restartCount": 0, "state": {"running": {"startedAt": "2026-12-01T10:00:00Z"}}}]}),
        );
        let found = examine(
            &json!({"items": [unready]}),
            &events(vec![
                warning(
                    "frontend-1",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 500",
                    "2026-12-01T10:00:05Z",
                ),
                warning(
                    "frontend-1",
                    "Unhealthy",
                    "Readiness probe failed: HTTP probe failed with statuscode: 503",
                    "2026-12-01T10:00:15Z",
                ),
                warning(
                    "other-pod",
                    "Unhealthy",
                    "Readiness probe failed: connection refused",
                    "2026-12-01T10:00:20Z",
                ),
            ]),
            "minikube",
        );
        assert_eq!(found[0].kind, Kind::Unready);
        assert_eq!(
            found[0].message,
            "running but not ready: Readiness probe failed: HTTP probe failed with statuscode: 503"
        );
    }

    #[test]
    fn a_rollout_is_done_when_every_replica_is_updated_and_available() {
        let deployment = |generation: u64, observed: u64, updated: u64, available: u64, total: u64| {
            json!({"kind": "Deployment", "metadata": {"name": "web", "generation": generation}, "spec": {"replicas": 2},
                   "status": {"observedGeneration": observed, "updatedReplicas": updated, "availableReplicas": available, "replicas": total}})
        };
        let done = |w: Value| rollouts(&json!({"items": [w]}))[0].done;
        assert!(done(deployment(3, 3, 2, 2, 2)));
        assert!(
            !done(deployment(3, 2, 2, 2, 2)),
            "the controller has not seen the new spec"
        );
        assert!(!done(deployment(3, 3, 1, 2, 3)), "an old pod is still serving");
        assert!(!done(deployment(3, 3, 2, 1, 2)), "one new pod is not available yet");
        let sts = json!({"kind": "StatefulSet", "metadata": {"name": "db", "generation": 1}, "spec": {"replicas": 1},
                         "status": {"observedGeneration": 1, "updatedReplicas": 1, "readyReplicas": 1, "replicas": 1}});
        let found = rollouts(&json!({"items": [sts]}));
        assert!(found[0].done);
        assert_eq!(found[0].workload, "StatefulSet/db");
        assert_eq!(found[0].detail, "1 of 1 updated, 1 ready");
    }

    #[test]
    fn healthy_pods_and_a_test_pod_that_succeeded_are_no_problem() {
        let ready = pod(
            "backend-1",
            json!({"phase": "Running", "containerStatuses": [{"name": "backend", "image": "todo-backend:1",
            "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
        );
        let mut done = pod(
            "smoke-test",
            json!({"phase": "Succeeded", "containerStatuses": [{"name": "smoke-test", "image": "todo-smoke:1",
            "ready": false, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        done["spec"]["restartPolicy"] = json!("Never");
        assert!(examine(&json!({"items": [ready, done.clone()]}), &events(vec![]), "minikube").is_empty());
        done["status"]["containerStatuses"][0]["state"]["terminated"] = json!({"exitCode": 1, "reason": "Error"});
        let found = examine(&json!({"items": [done]}), &events(vec![]), "minikube");
        assert_eq!(found[0].kind, Kind::Failed);
        assert_eq!(found[0].message, "exited with code 1 (Error)");
    }
}
