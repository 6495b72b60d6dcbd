//! `cargo xtask rollback`, `status`, `logs`, `scale`, `verify` and `teardown` as a user runs
//! them: the real kubectl and Helm against a stand-in cluster where the real chart was installed,
//! revision by revision, its containers' fates chosen by image tag. Only minikube (for
//! `teardown --cluster` and `status`'s hint) is a fake.

mod common;

use std::time::Duration;

use common::*;
use kube_standin::{Fates, StandIn};

/// A stand-in with the chart installed once per entry of `revisions` (helm's arguments); the
/// pods of the last settled: all ready, or the backend's broken as its tag says.
fn cluster_with_revisions(revisions: &[&[&str]], serve: Option<&RealStack>) -> Option<(StandIn, Fakes)> {
    cluster_of(fates_by_tag(serve), revisions)
}

fn cluster_of(fates: Fates, revisions: &[&[&str]]) -> Option<(StandIn, Fakes)> {
    let (cluster, fakes) = standin("minikube", fates)?;
    for args in revisions {
        let installed = helm_install(&fakes, args);
        let failing = args.contains(&"--wait");
        assert_eq!(installed.status.success(), !failing, "{args:?}: {}", stderr(&installed));
    }
    let last = revisions.last().map(|r| r.join(" ")).unwrap_or_default();
    let breaks = ["never", "broken", "crash"]
        .iter()
        .any(|t| last.contains(&format!("tag={t}")));
    wait_for_pods(&cluster, |pods| {
        let running: Vec<&serde_json::Value> = pods
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        running.len() == 5
            && running.iter().all(|p| {
                ready(p)
                    || (breaks
                        && ["backend", "mcp"].contains(
                            &p["metadata"]["labels"]["app.kubernetes.io/name"]
                                .as_str()
                                .unwrap_or_default(),
                        ))
            })
    });
    // And the Deployments have counted them available.
    let started = std::time::Instant::now();
    while !cluster
        .list("apps", "deployments", Some("chatbot-dev"))
        .iter()
        .all(|d| {
            (breaks
                && ["todo-chatbot-backend", "todo-chatbot-mcp"]
                    .contains(&d["metadata"]["name"].as_str().unwrap_or_default()))
                || d["status"]["availableReplicas"] == d["spec"]["replicas"]
        })
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the Deployments never became available"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((cluster, fakes))
}

fn tag(tag: &str) -> String {
    format!("global.image.tag={tag}")
}

fn image_of(cluster: &StandIn, deployment: &str) -> String {
    cluster
        .get("apps", "deployments", "chatbot-dev", deployment)
        .expect(deployment)["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Revision 2 never became ready (Helm marked it failed), revision 3 serves: a rollback goes to
/// revision 1, the last good one before, waits for it and runs its test.
#[test]
fn rollback_goes_to_the_last_good_revision_waits_and_tests() {
    let (good, never, good2) = (tag("good"), tag("never"), tag("good2"));
    let revisions: [&[&str]; 3] = [
        &["--set", &good],
        &["--set", &never, "--wait", "--timeout", "2s"],
        &["--set", &good2],
    ];
    let Some((cluster, fakes)) = cluster_with_revisions(&revisions, None) else {
        return;
    };
    let output = fakes.xtask(&["rollback", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("rolling todo-chatbot back from revision 3 (deployed) to 1"),
        "{}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["from"].as_u64(), report["to"].as_u64()), (Some(3), Some(1)));
    assert_eq!(image_of(&cluster, "todo-chatbot-backend"), "todo-backend:good");
    let calls = fakes.calls();
    let rollback = calls
        .iter()
        .position(|c| c.starts_with("helm rollback todo-chatbot 1 --namespace chatbot-dev --wait=watcher --timeout 5m"))
        .expect("rollback");
    let test = calls
        .iter()
        .position(|c| c.starts_with("helm test todo-chatbot"))
        .expect("helm test");
    assert!(rollback < test);
}

#[test]
fn rollback_to_a_revision_that_does_not_exist_or_with_nothing_before_is_refused() {
    let (good, good2) = (tag("good"), tag("good2"));
    let Some((_two, fakes)) = cluster_with_revisions(&[&["--set", &good], &["--set", &good2]], None) else {
        return;
    };
    let error = failure(&fakes.xtask(&["rollback", "--to", "7"]));
    assert!(
        error.contains("revision 7 is not an earlier revision of todo-chatbot (its revisions: 1, 2)"),
        "{error}"
    );
    let Some((_one, first)) = cluster_with_revisions(&[&["--set", &good]], None) else {
        return;
    };
    let error = failure(&first.xtask(&["rollback"]));
    assert!(error.contains("has no earlier revision that was deployed"), "{error}");
    assert!(!first.calls().iter().any(|c| c.starts_with("helm rollback")));
    let Some((_none, empty)) = standin("minikube", fates_by_tag(None)) else {
        return;
    };
    let error = failure(&empty.xtask(&["rollback"]));
    assert!(
        error.contains("release todo-chatbot does not exist in namespace chatbot-dev"),
        "{error}"
    );
}

#[test]
fn logs_of_one_component_and_teardown_of_release_namespace_and_cluster() {
    let good = tag("good");
    let Some((cluster, fakes)) = cluster_with_revisions(&[&["--set", &good]], None) else {
        return;
    };
    let output = fakes.xtask(&["logs", "mcp", "--tail", "20"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("starting mcp (todo-mcp:good)"), "{text}");
    assert!(!text.contains("starting backend"), "{text}");
    let error = failure(&fakes.xtask(&["logs", "database"]));
    assert!(error.contains("invalid value 'database'"), "{error}");

    let output = fakes.xtask(&["teardown", "--cluster", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["uninstalled"], true);
    assert_eq!(report["cluster_deleted"], true);
    assert!(cluster.get("", "namespaces", "", "chatbot-dev").is_none());
    assert!(
        fakes
            .calls()
            .iter()
            .any(|c| c.contains("minikube DOCKER_HOST= -p minikube delete")),
        "{:#?}",
        fakes.calls()
    );
}

#[test]
fn verify_in_the_cluster_needs_every_workload_rolled_out() {
    let broken = tag("broken");
    let Some((_cluster, fakes)) = cluster_with_revisions(&[&["--set", &broken]], None) else {
        return;
    };
    let error = failure(&fakes.xtask(&["verify"]));
    assert!(
        error.contains("not rolled out:\n  Deployment/todo-chatbot-backend: 1 of 1 updated, 0 available"),
        "{error}"
    );
    assert!(
        !fakes.calls().iter().any(|c| c.contains("port-forward")),
        "no smoke suite on an unhealthy release"
    );
}

/// A pod that restarted once (its database was still starting, or the node restarted) and serves
/// now is healthy: verify says so, and its smoke suite passes.
#[test]
fn verify_reports_a_restart_of_a_pod_that_serves_now_and_goes_on() {
    let Some(stack) = real_stack() else { return };
    let restart = tag("restart");
    let Some((_cluster, fakes)) = cluster_with_revisions(&[&["--set", &restart]], Some(&stack)) else {
        return;
    };
    let output = fakes.xtask(&["verify"]);
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains("(container backend): restarted 1 times, last exit 1 (Error); running and ready now"),
        "{said}"
    );
    assert!(said.contains("release todo-chatbot verified"), "{said}");
}

/// `scale` changes one value of the release (the rest kept) and waits for the rollout; while an
/// autoscaler owns the count it refuses.
#[test]
fn scale_goes_through_the_releases_values_and_is_refused_while_an_autoscaler_owns_the_count() {
    let good = tag("good");
    let Some((cluster, fakes)) = cluster_with_revisions(&[&["--set", &good]], None) else {
        return;
    };
    let output = fakes.xtask(&["scale", "backend", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("backend: 3 replicas, rolled out"),
        "{}",
        stdout(&output)
    );
    let backend = cluster
        .get("apps", "deployments", "chatbot-dev", "todo-chatbot-backend")
        .unwrap();
    assert_eq!(backend["spec"]["replicas"], 3);
    assert_eq!(backend["status"]["availableReplicas"], 3, "{backend}");
    assert_eq!(
        image_of(&cluster, "todo-chatbot-backend"),
        "todo-backend:good",
        "the other values kept"
    );

    let autoscaled: [&[&str]; 1] = [&["--set", &good, "--set", "mcp.autoscaling.enabled=true"]];
    let Some((_cluster, fakes)) = cluster_with_revisions(&autoscaled, None) else {
        return;
    };
    let installed = fakes.calls().len();
    let error = failure(&fakes.xtask(&["scale", "mcp", "4"]));
    assert!(
        error.contains("an autoscaler owns mcp's replica count (mcp.autoscaling.enabled=true)"),
        "{error}"
    );
    assert!(!fakes.calls()[installed..].iter().any(|c| c.starts_with("helm upgrade")));
    let error = failure(&fakes.xtask(&["scale", "mcp", "-1"]));
    assert!(
        error.contains("unexpected argument '-1'") || error.contains("invalid value"),
        "{error}"
    );
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits (up to 30 s) until a rollout is half way: some pods terminating, and every other pod
/// of the release ready.
fn wait_for_terminating(cluster: &StandIn) {
    wait_for_pods(cluster, |pods| {
        let serving = pods
            .iter()
            .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")));
        let (leaving, staying): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
            serving.partition(|p| !p["metadata"]["deletionTimestamp"].is_null());
        !leaving.is_empty() && staying.len() == 5 && staying.iter().all(|p| ready(p))
    });
}

#[test]
fn status_shows_revisions_pods_services_and_how_to_reach_it() {
    let (good, crash) = (tag("good"), tag("crash"));
    let revisions: [&[&str]; 2] = [&["--set", &crash], &["--set", &crash]];
    let Some((cluster, fakes)) = cluster_with_revisions(&revisions, None) else {
        return;
    };
    let output = fakes.xtask(&["status"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("revision   2  deployed"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("todo-chatbot-mcp-") && l.contains("ready 0/1  restarts ")),
        "{text}"
    );
    let service = cluster
        .get("", "services", "chatbot-dev", "todo-chatbot-frontend")
        .unwrap();
    let node_port = &service["spec"]["ports"][0]["nodePort"];
    assert!(
        text.contains(&format!("todo-chatbot-frontend            NodePort   3000→{node_port}")),
        "{text}"
    );
    assert!(
        text.contains("open it: minikube service todo-chatbot-frontend -n chatbot-dev --url"),
        "{text}"
    );
    assert!(text.contains("kubectl top needs the metrics-server addon"), "{text}");

    // With the metrics server: `kubectl top`'s table.
    let Some((_cluster, fakes)) = cluster_of(fates_by_tag(None).with_metrics_server(), &[&["--set", &good]]) else {
        return;
    };
    let text = stdout(&fakes.xtask(&["status"]));
    assert!(
        text.contains("resources (kubectl top)") && text.contains("todo-chatbot-backend-") && text.contains("4Mi"),
        "{text}"
    );
}

/// Half way through a rollout (the old pods terminating), `status` says which images serve: the
/// new ones; the old pods are listed as terminating. A new pod that never becomes ready does not
/// serve, and the old one it would replace still does.
#[test]
fn status_says_which_image_tag_serves_while_a_rollout_finishes_and_after() {
    let (old, new, never) = (tag("fedcba987654"), tag("a1b2c3d4e5f6"), tag("never"));
    let lingering = fates_by_tag(None).stopping_for(Duration::from_secs(20));
    let Some((cluster, fakes)) = cluster_of(lingering, &[&["--set", &old]]) else {
        return;
    };
    let upgraded = helm_install(&fakes, &["--set", &new]);
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));
    wait_for_terminating(&cluster);
    let output = fakes.xtask(&["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The old pods shutting down and the PostgreSQL pod do not count.
    assert_eq!(report["serving"], serde_json::json!(["a1b2c3d4e5f6"]), "{report:#}");
    let pods = report["pods"].as_array().unwrap();
    let leaving: Vec<&serde_json::Value> = pods.iter().filter(|p| p["terminating"] == true).collect();
    assert!(!leaving.is_empty(), "{report:#}");
    assert!(
        leaving
            .iter()
            .all(|p| p["images"][0].as_str().unwrap().ends_with(":fedcba987654")),
        "{report:#}"
    );

    // The backend's next image is never ready: its old pod goes on serving beside the others.
    let upgraded = helm_install(&fakes, &["--set", &never]);
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));
    wait_for_pods(&cluster, |pods| {
        pods.iter().any(|p| {
            p["metadata"]["labels"]["app.kubernetes.io/name"] == "backend"
                && p["spec"]["containers"][0]["image"] == "todo-backend:never"
                && p["status"]["phase"] == "Running"
        })
    });
    let text = stdout(&fakes.xtask(&["status"]));
    assert!(
        text.contains("a1b2c3d4e5f6") && text.contains("(a rollout is in progress)"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&fakes.xtask(&["status", "--json"]).stdout).unwrap();
    let stuck = report["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["images"][0] == "todo-backend:never")
        .expect("the new backend pod is listed");
    assert_eq!(stuck["ready"].as_u64(), Some(0), "{stuck}");
}

/// Pods that are not the running system are left out: old replicas on their way out of a
/// rollout (unready, `deletionTimestamp` set), and the helm test pod a failed `helm test` left
/// (the chart keeps it until the next test replaces it). Verify passes.
#[test]
fn verify_leaves_out_terminating_pods_and_the_last_helm_test_pod() {
    let Some(stack) = real_stack() else { return };
    let (failtest, good) = (tag("failtest"), tag("good"));
    let lingering = fates_by_tag(Some(&stack)).stopping_for(Duration::from_secs(30));
    let Some((cluster, fakes)) = cluster_of(lingering, &[&["--set", &failtest]]) else {
        return;
    };
    let tested = helm_test(&fakes);
    assert!(!tested.status.success(), "the first revision's smoke test fails");
    let upgraded = helm_install(&fakes, &["--set", &good]);
    assert!(upgraded.status.success(), "{}", stderr(&upgraded));
    wait_for_terminating(&cluster);
    assert!(
        cluster
            .get("", "pods", "chatbot-dev", "todo-chatbot-smoke-test")
            .is_some()
    );
    let output = fakes.xtask(&["verify"]);
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{said}");
    assert!(said.contains("release todo-chatbot verified"), "{said}");
}

/// The smoke suite runs through port-forwards, and none is left running whatever happened: here
/// nothing listens behind them (no process stands in for the pods), so every check fails.
#[test]
fn verify_runs_the_smoke_suite_through_port_forwards_and_always_stops_them() {
    let good = tag("good");
    let Some((_cluster, fakes)) = cluster_with_revisions(&[&["--set", &good]], None) else {
        return;
    };
    let error = failure(&fakes.xtask(&["verify"]));
    assert!(error.contains("checks failed against http://127.0.0.1:"), "{error}");
    let calls = fakes.calls();
    for forward in [
        "port-forward service/todo-chatbot-frontend :3000",
        "port-forward service/todo-chatbot-mcp :8001",
    ] {
        assert!(calls.iter().any(|c| c.ends_with(forward)), "{forward}: {calls:#?}");
    }
    let pids = std::fs::read_to_string(fakes.state().join("kubectl.pids")).unwrap();
    for pid in pids.lines() {
        let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
        assert!(
            nix::sys::signal::kill(pid, None).is_err(),
            "kubectl {pid} was left running"
        );
    }
}

/// Dry runs print the commands and change nothing in the cluster.
#[test]
fn rollback_and_teardown_dry_runs_print_their_commands_and_change_nothing() {
    let (good, good2) = (tag("good"), tag("good2"));
    let Some((cluster, fakes)) = cluster_with_revisions(&[&["--set", &good], &["--set", &good2]], None) else {
        return;
    };
    let before = cluster.requests().len();
    let output = fakes.xtask(&["rollback", "--dry-run"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("# from revision 2 (deployed) to 1:"), "{text}");
    assert!(
        text.contains("helm rollback todo-chatbot 1 --namespace chatbot-dev --wait=watcher --timeout 5m"),
        "{text}"
    );
    let output = fakes.xtask(&["teardown", "--cluster", "--dry-run"]);
    let text = stdout(&output);
    assert!(
        text.contains("helm uninstall todo-chatbot --namespace chatbot-dev"),
        "{text}"
    );
    assert!(text.contains("minikube -p minikube delete"), "{text}");
    let changes: Vec<String> = cluster.requests()[before..]
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    assert!(changes.is_empty(), "a dry run changed {changes:#?}");
    assert!(
        !fakes
            .calls()
            .iter()
            .any(|c| c.starts_with("minikube") && c.contains("delete"))
    );
}
