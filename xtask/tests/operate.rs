//! `cargo xtask rollback`, `status`, `logs`, `scale`, `verify` and `teardown` as a user runs
//! them, against fake helm, kubectl and minikube on a PATH of their own (`tests/fakes/`): the
//! cases the deploy path test (`cluster_path.rs`, the real kubectl and Helm against a stand-in
//! cluster) does not reach.

mod common;

use common::*;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn rollback_goes_to_the_last_good_revision_waits_and_tests() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "superseded failed deployed");
    let output = fakes.xtask(&["rollback", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("rolling todo-chatbot back from revision 3 (deployed) to 1"),
        "{}",
        stderr(&output)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["from"].as_u64(), report["to"].as_u64()), (Some(3), Some(1)));
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
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "superseded deployed");
    let error = failure(&fakes.xtask(&["rollback", "--to", "7"]));
    assert!(
        error.contains("revision 7 is not an earlier revision of todo-chatbot (its revisions: 1, 2)"),
        "{error}"
    );
    let mut first = Fakes::new();
    first.set("FAKE_HELM_HISTORY", "deployed");
    let error = failure(&first.xtask(&["rollback"]));
    assert!(error.contains("has no earlier revision that was deployed"), "{error}");
    let error = failure(&Fakes::new().xtask(&["rollback"]));
    assert!(
        error.contains("release todo-chatbot does not exist in namespace chatbot-dev"),
        "{error}"
    );
    assert!(!first.calls().iter().any(|c| c.starts_with("helm rollback")));
}

#[test]
fn status_shows_revisions_pods_services_and_how_to_reach_it() {
    let mut fakes = Fakes::new();
    fakes
        .set("FAKE_HELM_HISTORY", "superseded deployed")
        .set("FAKE_PODS", "crashloop");
    let output = fakes.xtask(&["status"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("revision   2  deployed"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("todo-chatbot-mcp-6d4f9c7b8-x2x9z") && l.contains("ready 0/1  restarts 5")),
        "{text}"
    );
    assert!(
        text.contains("todo-chatbot-frontend            NodePort   3000→31234"),
        "{text}"
    );
    assert!(
        text.contains("open it: minikube service todo-chatbot-frontend -n chatbot-dev --url"),
        "{text}"
    );
    assert!(text.contains("kubectl top needs the metrics-server addon"), "{text}");
    fakes.set("FAKE_METRICS", "1");
    let text = stdout(&fakes.xtask(&["status"]));
    assert!(
        text.contains("resources (kubectl top)") && text.contains("4Mi"),
        "{text}"
    );
}

#[test]
fn status_says_which_image_tag_serves_while_a_rollout_finishes_and_after() {
    let mut fakes = Fakes::new();
    fakes
        .set("FAKE_HELM_HISTORY", "superseded deployed")
        .set("FAKE_IMAGE_TAG", "a1b2c3d4e5f6")
        .set("FAKE_PODS", "rolling");
    let output = fakes.xtask(&["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The old frontend pod shutting down and the PostgreSQL pod do not count.
    assert_eq!(report["serving"], serde_json::json!(["a1b2c3d4e5f6"]), "{report:#}");
    let old = report["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "todo-chatbot-frontend-5c8b7a6f9-old01")
        .expect("the old pod is listed");
    assert_eq!(old["terminating"], true);
    assert_eq!(old["images"], serde_json::json!(["todo-frontend:fedcba987654"]));

    // A pod that is not ready does not serve: with the backend stuck, the others still do.
    fakes.set("FAKE_PODS", "imagepull");
    let text = stdout(&fakes.xtask(&["status"]));
    assert!(text.contains("serving: images a1b2c3d4e5f6"), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&fakes.xtask(&["status", "--json"]).stdout).unwrap();
    let backend = &report["pods"].as_array().unwrap()[1];
    assert_eq!(
        (backend["name"].as_str(), backend["ready"].as_u64()),
        (Some("todo-chatbot-backend-6d4f9c7b8-x2x9z"), Some(0))
    );
}

#[test]
fn logs_of_one_component_and_teardown_of_release_namespace_and_cluster() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "deployed");
    let output = fakes.xtask(&["logs", "mcp", "--tail", "20"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("todo-mcp starting"));
    assert!(fakes.calls().iter().any(|c| c.contains(
        "logs --selector app.kubernetes.io/instance=todo-chatbot,app.kubernetes.io/name=mcp --all-containers --prefix --tail=20"
    )));
    let error = failure(&fakes.xtask(&["logs", "database"]));
    assert!(error.contains("invalid value 'database'"), "{error}");

    let output = fakes.xtask(&["teardown", "--cluster", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["uninstalled"], true);
    assert_eq!(report["cluster_deleted"], true);
    let calls = fakes.calls();
    for part in [
        "helm uninstall todo-chatbot --namespace chatbot-dev",
        "kubectl --namespace chatbot-dev delete namespace chatbot-dev --ignore-not-found --wait=true",
        "minikube DOCKER_HOST= -p minikube delete",
    ] {
        assert!(calls.iter().any(|c| c.contains(part)), "{part} not called: {calls:#?}");
    }
}

#[test]
fn verify_in_the_cluster_needs_every_workload_rolled_out() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_PODS", "imagepull");
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
/// now is healthy: verify says so and goes on to the smoke suite.
#[test]
fn verify_reports_a_restart_of_a_pod_that_serves_now_and_goes_on() {
    let mut fakes = Fakes::new();
    fakes
        .set("FAKE_PODS", "restarted")
        .set("FAKE_FORWARD_PORT", &closed_port());
    let output = fakes.xtask(&["verify"]);
    let error = failure(&output);
    assert!(error.contains("checks failed against"), "{error}");
    let said = format!("{}{error}", stdout(&output));
    assert!(
        said.contains(
            "pod todo-chatbot-backend-6d4f9c7b8-x2x9z (container backend): restarted 2 times, last exit 1 (Error); running and ready now"
        ),
        "{said}"
    );
}

/// Pods that are not the running system are left out: an old replica on its way out of a
/// rollout (unready, `deletionTimestamp` set), and the helm test pod a failed `helm test` left
/// (the chart keeps it until the next test replaces it).
#[test]
fn verify_leaves_out_terminating_pods_and_the_last_helm_test_pod() {
    let mut fakes = Fakes::new();
    fakes
        .set("FAKE_PODS", "terminating")
        .set("FAKE_TEST_POD", "failed")
        .set("FAKE_FORWARD_PORT", &closed_port());
    reached_the_smoke_suite("terminating and hook pods", &failure(&fakes.xtask(&["verify"])));
}

#[test]
fn verify_runs_the_smoke_suite_through_port_forwards_and_always_stops_them() {
    // A port nothing listens on: the forward is up, the smoke suite behind it fails.
    let closed = closed_port();
    let mut fakes = Fakes::new();
    fakes.set("FAKE_FORWARD_PORT", &closed);
    let output = fakes.xtask(&["verify"]);
    let error = failure(&output);
    assert!(
        error.contains(&format!("checks failed against http://127.0.0.1:{closed}")),
        "{error}"
    );
    let calls = fakes.calls();
    assert!(
        calls
            .iter()
            .any(|c| c == "kubectl --namespace chatbot-dev port-forward service/todo-chatbot-frontend :3000"),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c == "kubectl --namespace chatbot-dev port-forward service/todo-chatbot-mcp :8001"),
        "{calls:#?}"
    );
    let pids = std::fs::read_to_string(fakes.state().join("port-forward.pids")).unwrap();
    assert_eq!(pids.lines().count(), 2, "{pids}");
    for pid in pids.lines() {
        let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
        assert!(
            nix::sys::signal::kill(pid, None).is_err(),
            "kubectl port-forward {pid} was left running"
        );
    }

    let mut fakes = Fakes::new();
    fakes.set("FAKE_FORWARD_FAIL", "1");
    let error = failure(&fakes.xtask(&["verify"]));
    assert!(
        error.contains("kubectl port-forward to service/todo-chatbot-frontend failed: error: unable to forward port because pod is not running"),
        "{error}"
    );
}

#[test]
fn scale_goes_through_the_releases_values_and_is_refused_while_an_autoscaler_owns_the_count() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "deployed");
    let output = fakes.xtask(&["scale", "backend", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let upgrade = fakes
        .calls()
        .into_iter()
        .find(|c| c.starts_with("helm upgrade todo-chatbot"))
        .expect("an upgrade");
    assert!(
        upgrade.contains("--reset-then-reuse-values --set backend.replicaCount=3"),
        "{upgrade}"
    );
    // It waits for the rollout, as deploy does.
    assert!(
        fakes
            .calls()
            .iter()
            .any(|c| c.contains("get deployments,statefulsets --selector")),
        "{:#?}",
        fakes.calls()
    );
    assert!(
        stdout(&output).contains("backend: 3 replicas, rolled out"),
        "{}",
        stdout(&output)
    );

    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "deployed").set(
        "FAKE_HELM_VALUES",
        r#"{"mcp":{"autoscaling":{"enabled":true,"minReplicas":2}}}"#,
    );
    let error = failure(&fakes.xtask(&["scale", "mcp", "4"]));
    assert!(
        error.contains("an autoscaler owns mcp's replica count (mcp.autoscaling.enabled=true)"),
        "{error}"
    );
    assert!(!fakes.calls().iter().any(|c| c.starts_with("helm upgrade")));
    let error = failure(&fakes.xtask(&["scale", "mcp", "-1"]));
    assert!(
        error.contains("unexpected argument '-1'") || error.contains("invalid value"),
        "{error}"
    );
}

#[test]
fn rollback_and_teardown_dry_runs_print_their_commands_and_change_nothing() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "superseded deployed");
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
    let changed: Vec<String> = fakes
        .calls()
        .into_iter()
        .filter(|c| !c.starts_with("helm version") && !c.starts_with("helm history"))
        .collect();
    assert!(changed.is_empty(), "a dry run ran {changed:#?}");
}
