//! `cargo xtask diagnose` as a user runs it: the real kubectl against a stand-in cluster where
//! the real chart was installed by the real Helm, its containers' fates chosen by image tag; the
//! AI assistants (kubectl-ai, kagent) are fakes on the PATH (`tests/fakes/`). The built-in
//! analysis always, the assistants when installed, their failures as one line.

mod common;

use common::*;
use kube_standin::{Fates, StandIn};
use serde_json::Value;

const NS: &str = "chatbot-dev";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A stand-in cluster (as the kube context `context`, the current one) with the chart installed
/// by the real Helm 4 as on Minikube (the images without a registry), tagged `tag`; returned
/// once its five pods exist and, unless the tag breaks them, are ready.
fn cluster_with_release(context: &str, tag: &str) -> Option<(StandIn, Fakes)> {
    let (cluster, fakes) = standin(context, fates_by_tag(None))?;
    let installed = helm_install(&fakes, &["--set", &format!("global.image.tag={tag}")]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    // The pods the tag breaks have shown it (a failed pull, a restart); all others are ready.
    let broken = match tag {
        "broken" => "backend",
        "crash" => "mcp",
        _ => "",
    };
    wait_for_pods(&cluster, |pods| {
        pods.len() == 5
            && pods.iter().all(|p| {
                let status = &p["status"]["containerStatuses"][0];
                if p["metadata"]["labels"]["app.kubernetes.io/name"] != broken {
                    ready(p)
                } else {
                    status["state"]["waiting"]["reason"].is_string()
                        && (tag != "crash" || status["restartCount"].as_u64() >= Some(1))
                }
            })
    });
    Some((cluster, fakes))
}

#[test]
fn a_healthy_release_has_no_problem_and_missing_assistants_are_one_line_each() {
    let Some((_cluster, fakes)) = cluster_with_release("minikube", "good") else {
        return;
    };
    let output = fakes.xtask(&["diagnose"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("5 pods, no problem found"), "{text}");
    assert!(text.contains("==> kubectl-ai: not installed (optional"), "{text}");
    assert!(text.contains("==> kagent: not installed (optional"), "{text}");
    assert!(
        text.contains("==> Docker's Gordon: not available (Docker Desktop only)"),
        "{text}"
    );
}

#[test]
fn an_image_pull_failure_is_explained_and_the_assistants_get_the_findings_read_only() {
    let Some((_cluster, mut fakes)) = cluster_with_release("minikube", "broken") else {
        return;
    };
    fakes.add_fake("kubectl-ai");
    fakes.add_fake("kagent");
    fakes.set("GEMINI_API_KEY", "test-key");
    let output = fakes.xtask(&["diagnose"]);
    let text = stdout(&output);
    assert!(!output.status.success(), "problems make it exit non-zero: {text}");
    assert!(stderr(&output).contains("1 problem(s) in release todo-chatbot (namespace chatbot-dev)"));
    assert!(
        text.contains("(container backend): ImagePullBackOff: todo-backend:broken")
            || text.contains("(container backend): ErrImagePull: todo-backend:broken"),
        "{text}"
    );
    assert!(
        text.contains("fix: the image is not in the cluster's runtime: cargo xtask images --load minikube"),
        "{text}"
    );
    // The assistants' answers, kubectl-ai's without its colour codes.
    assert!(
        text.contains("==> kubectl-ai says:\nkubectl-ai: the backend pod cannot pull"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "colour codes left in: {text:?}");
    assert!(
        text.contains("==> kagent says:\nkagent: the backend image is missing"),
        "{text}"
    );
    let asked = fakes.calls_of("kubectl-ai --quiet");
    assert_eq!(asked.len(), 1, "{:?}", fakes.calls());
    assert!(
        asked[0].contains("ImagePull"),
        "the question carries the findings: {}",
        asked[0]
    );
    assert!(
        !asked[0].contains("--skip-permissions"),
        "read-only unless asked: {}",
        asked[0]
    );
    assert!(fakes.calls_of("kagent invoke --agent k8s-agent --task").len() == 1);
}

#[test]
fn a_crash_loop_shows_the_containers_last_lines() {
    let Some((_cluster, fakes)) = cluster_with_release("minikube", "crash") else {
        return;
    };
    let output = fakes.xtask(&["diagnose", "--no-ai"]);
    let text = stdout(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("exits with code 1 (Error), restarted "), "{text}");
    assert!(text.contains("| ") && text.contains("mcp exited with code 1"), "{text}");
    let logs = fakes.calls_of("kubectl --namespace chatbot-dev logs");
    assert!(logs.iter().any(|c| c.contains("--container mcp --tail=20")), "{logs:?}");
    assert!(!text.contains("kubectl-ai"), "--no-ai asks no assistant: {text}");
}

#[test]
fn assistants_that_fail_say_why_in_one_line_and_changes_need_asking_for() {
    let Some((_cluster, mut fakes)) = cluster_with_release("minikube", "broken") else {
        return;
    };
    fakes.add_fake("kubectl-ai");
    fakes.add_fake("kagent");
    fakes.set("FAKE_KAGENT_ERROR", "1");
    let output = fakes.xtask(&["diagnose", "--allow-changes"]);
    let text = stdout(&output);
    assert!(
        text.contains("==> kubectl-ai: kubectl-ai failed (Error: creating llm client: GEMINI_API_KEY environment variable not set)"),
        "{text}"
    );
    // kagent exits 0 on errors: its stderr tells.
    assert!(
        text.contains("==> kagent: kagent failed: Error getting agent metadata: HTTP 404"),
        "{text}"
    );
    assert!(
        fakes.calls_of("kubectl-ai --quiet --skip-permissions").len() == 1,
        "{:?}",
        fakes.calls()
    );
}

#[test]
fn json_lists_each_problem_with_its_kind_and_fix() {
    let Some((_cluster, fakes)) = cluster_with_release("dev", "broken") else {
        return;
    };
    let output = fakes.xtask(&["diagnose", "--json", "--no-ai", "--context", "dev", "-n", NS]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["pods"], 5);
    let problem = &report["problems"][0];
    assert_eq!(problem["kind"], "ImagePull");
    assert_eq!(problem["fatal"], true);
    assert!(problem["fix"].as_str().unwrap().contains("--profile dev"), "{problem}");
    assert!(
        fakes
            .calls_of(&format!("kubectl --context=dev --namespace {NS} get pods"))
            .len()
            == 1,
        "{:?}",
        fakes.calls()
    );
}

/// A kubeconfig whose cluster is not there: the real kubectl's own words, on one line.
#[test]
fn an_unreachable_cluster_is_one_actionable_line() {
    let cluster = StandIn::start("minikube", Fates::all_healthy()).unwrap();
    let Some(mut fakes) = fakes_on_clusters(4, &[("minikube", &cluster)], "minikube") else {
        return;
    };
    let config = fakes.home().join("kubeconfig");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&cluster.url, &format!("http://127.0.0.1:{}", closed_port()));
    std::fs::write(&config, text).unwrap();
    drop(cluster);
    fakes.set("KUBECONFIG", config.to_str().unwrap());
    let error = failure(&fakes.xtask(&["diagnose"]));
    assert!(
        error.contains("was refused - did you specify the right host or port?"),
        "{error}"
    );
}
