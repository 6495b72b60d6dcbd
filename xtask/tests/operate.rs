//! `cargo xtask rollback`, `status`, `logs` and `teardown` as a user runs them, against fake
//! helm, kubectl and minikube on a PATH of their own (`tests/fakes/`).

mod common;

use common::*;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn rollback_goes_to_the_last_good_revision_waits_and_tests() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_HISTORY", "superseded failed deployed");
    let output = fakes.xtask(&["rollback"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("rolling todo-chatbot back from revision 3 (deployed) to 1"),
        "{}",
        stdout(&output)
    );
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

    let output = fakes.xtask(&["teardown", "--cluster"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let calls = fakes.calls();
    for part in [
        "helm uninstall todo-chatbot --namespace chatbot-dev",
        "kubectl --namespace chatbot-dev delete namespace chatbot-dev --ignore-not-found --wait=true",
        "minikube DOCKER_HOST= -p minikube delete",
    ] {
        assert!(calls.iter().any(|c| c.contains(part)), "{part} not called: {calls:#?}");
    }
}
