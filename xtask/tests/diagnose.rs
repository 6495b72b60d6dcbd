//! `cargo xtask diagnose` as a user runs it, against fake kubectl, kubectl-ai and kagent on a
//! PATH of their own (`tests/fakes/`): the built-in analysis always, the assistants when
//! installed, their failures as one line.

mod common;

use common::*;
use serde_json::Value;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_healthy_release_has_no_problem_and_missing_assistants_are_one_line_each() {
    let fakes = Fakes::new();
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
    let get = fakes.calls_of("kubectl");
    assert!(
        get.iter().any(|c| c == "kubectl --namespace chatbot-dev get pods --selector app.kubernetes.io/instance=todo-chatbot --output json"),
        "{get:?}"
    );
}

#[test]
fn an_image_pull_failure_is_explained_and_the_assistants_get_the_findings_read_only() {
    let mut fakes = Fakes::new();
    fakes.add_fake("kubectl-ai");
    fakes.add_fake("kagent");
    fakes.set("FAKE_PODS", "imagepull").set("GEMINI_API_KEY", "test-key");
    let output = fakes.xtask(&["diagnose"]);
    let text = stdout(&output);
    assert!(!output.status.success(), "problems make it exit non-zero: {text}");
    assert!(stderr(&output).contains("1 problem(s) in release todo-chatbot (namespace chatbot-dev)"));
    assert!(
        text.contains(
            "pod todo-chatbot-backend-6d4f9c7b8-x2x9z (container backend): ImagePullBackOff: todo-backend:0123456789ab"
        ),
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
        asked[0].contains("ImagePullBackOff"),
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
    let mut fakes = Fakes::new();
    fakes.set("FAKE_PODS", "crashloop");
    let output = fakes.xtask(&["diagnose", "--no-ai"]);
    let text = stdout(&output);
    assert!(!output.status.success());
    assert!(
        text.contains("CrashLoopBackOff: exits with code 1 (Error), restarted 5 times"),
        "{text}"
    );
    assert!(
        text.contains("| {\"level\":\"ERROR\",\"message\":\"invalid configuration: BETTER_AUTH_SECRET is not set\"}"),
        "{text}"
    );
    let logs = fakes.calls_of("kubectl --namespace chatbot-dev logs");
    assert!(
        logs.iter().any(|c| c.ends_with("--container mcp --tail=20 --previous")),
        "{logs:?}"
    );
    assert!(!text.contains("kubectl-ai"), "--no-ai asks no assistant: {text}");
}

#[test]
fn assistants_that_fail_say_why_in_one_line_and_changes_need_asking_for() {
    let mut fakes = Fakes::new();
    fakes.add_fake("kubectl-ai");
    fakes.add_fake("kagent");
    fakes.set("FAKE_PODS", "imagepull").set("FAKE_KAGENT_ERROR", "1");
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
    let mut fakes = Fakes::new();
    fakes.set("FAKE_PODS", "imagepull");
    let output = fakes.xtask(&["diagnose", "--json", "--no-ai", "--context", "dev", "-n", "team"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["pods"], 5);
    let problem = &report["problems"][0];
    assert_eq!(problem["kind"], "ImagePull");
    assert_eq!(problem["fatal"], true);
    assert!(problem["fix"].as_str().unwrap().contains("--profile dev"), "{problem}");
    assert!(
        fakes.calls_of("kubectl --context=dev --namespace team get pods").len() == 1,
        "{:?}",
        fakes.calls()
    );
}

#[test]
fn an_unreachable_cluster_is_one_actionable_line() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_KUBECTL_DOWN", "1");
    let error = failure(&fakes.xtask(&["diagnose"]));
    assert!(
        error.contains("was refused - did you specify the right host or port?"),
        "{error}"
    );
}
