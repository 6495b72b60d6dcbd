//! `cargo xtask doctor` as a user runs it, against fake docker, minikube, kubectl, helm and
//! kubectl-ai on a PATH of their own (`tests/fakes/`). CPUs, memory and disk are this machine's
//! own (their thresholds are unit-tested in `doctor.rs`).

mod common;

use common::*;
use serde_json::Value;

/// The finding for `check` in a `--json` report.
fn find<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["check"] == check))
        .unwrap_or_else(|| panic!("no {check} in {report}"))
}

fn doctor_json(fakes: &Fakes) -> (bool, Value, String) {
    let output = fakes.xtask(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.success(), report, stderr(&output))
}

#[test]
fn a_ready_machine_shows_every_tool_with_its_version_and_the_cluster_running() {
    let mut fakes = Fakes::new();
    fakes.add_fake("kubectl-ai");
    fakes.set("FAKE_MINIKUBE_ADDONS", "ingress metrics-server dashboard");
    let (ok, report, err) = doctor_json(&fakes);
    for (check, level, detail) in [
        ("docker", "ok", "28.2.2"),
        ("docker daemon", "ok", "28.2.2, data in /var/lib/docker"),
        ("minikube", "ok", "v1.38.1"),
        ("minikube cluster", "ok", "profile minikube: running"),
        ("addon ingress", "ok", "enabled"),
        ("addon metrics-server", "ok", "enabled"),
        ("kubectl", "ok", "v1.35.2"),
        ("kube context", "ok", "minikube"),
        ("helm", "ok", "v4.1.4 (Helm 4)"),
        ("kubectl-ai", "ok", "0.0.28"),
        ("kagent", "warn", "not installed (optional)"),
        ("docker ai (Gordon)", "warn", "not installed (optional)"),
    ] {
        let found = find(&report, check);
        assert_eq!(found["level"], level, "{check}: {found}");
        assert_eq!(found["detail"], detail, "{check}: {found}");
    }
    // This machine's own size, measured, with a line each.
    for check in ["CPUs", "memory", "disk (Docker's data)"] {
        find(&report, check);
    }
    let blocked = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["level"] == "fail");
    assert_eq!(ok, !blocked, "exit status and findings disagree: {report} {err}");
    assert_eq!(report["ready"], !blocked);
}

#[test]
fn helm_3_and_4_are_told_apart_and_an_old_helm_blocks() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_VERSION", "v3.18.0");
    let (_, report, _) = doctor_json(&fakes);
    assert_eq!(find(&report, "helm")["detail"], "v3.18.0 (Helm 3)");

    let mut fakes = Fakes::new();
    fakes.set("FAKE_HELM_VERSION", "v3.12.3");
    let (ok, report, err) = doctor_json(&fakes);
    assert!(!ok, "an old Helm must block: {report}");
    let helm = find(&report, "helm");
    assert_eq!(helm["level"], "fail");
    assert!(helm["fix"].as_str().unwrap().contains("Helm 3.18+ or 4"), "{helm}");
    assert!(err.contains("blocker"), "{err}");
}

#[test]
fn no_docker_daemon_blocks_with_how_to_start_it() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_DOWN", "1");
    let output = fakes.xtask(&["doctor"]);
    assert!(!output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("docker daemon"))
        .unwrap_or_default();
    assert!(
        line.contains("FAIL") && line.contains("Cannot connect to the Docker daemon"),
        "{table}"
    );
    assert!(
        table.contains("fix: start it (Docker Desktop, or `sudo systemctl start docker`)"),
        "{table}"
    );
}

#[test]
fn a_stopped_missing_or_paused_cluster_warns_with_what_happens_next() {
    for (state, detail, fix) in [
        ("stopped", "profile minikube: stopped", "cargo xtask deploy starts it"),
        (
            "missing",
            "profile minikube: does not exist yet",
            "cargo xtask deploy creates it",
        ),
        ("paused", "profile minikube: paused", "minikube -p minikube unpause"),
    ] {
        let mut fakes = Fakes::new();
        fakes.set("FAKE_MINIKUBE", state);
        let (_, report, _) = doctor_json(&fakes);
        let cluster = find(&report, "minikube cluster");
        assert_eq!(cluster["level"], "warn", "{state}: {cluster}");
        assert_eq!(cluster["detail"], detail);
        assert_eq!(cluster["fix"], fix);
        // Addons are only asked of a running cluster.
        assert!(!fakes.calls().iter().any(|c| c.contains("addons list")), "{state}");
    }
}

#[test]
fn disabled_addons_and_another_context_warn() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_MINIKUBE_ADDONS", "ingress");
    fakes.set("FAKE_KUBE_CONTEXT", "prod-eu");
    let (_, report, _) = doctor_json(&fakes);
    assert_eq!(find(&report, "addon ingress")["level"], "ok");
    let metrics = find(&report, "addon metrics-server");
    assert_eq!(metrics["level"], "warn");
    assert!(
        metrics["fix"]
            .as_str()
            .unwrap()
            .contains("minikube -p minikube addons enable metrics-server")
    );
    let context = find(&report, "kube context");
    assert_eq!(context["level"], "warn");
    assert_eq!(context["detail"], "prod-eu, not the Minikube profile minikube");
}

#[test]
fn missing_required_tools_each_block_with_an_install_hint() {
    let fakes = Fakes::new();
    for tool in ["minikube", "kubectl", "helm"] {
        fakes.uninstall(tool);
    }
    let (ok, report, _) = doctor_json(&fakes);
    assert!(!ok);
    for (tool, hint) in [
        ("minikube", "https://minikube.sigs.k8s.io/docs/start/"),
        ("kubectl", "https://kubernetes.io/docs/tasks/tools/"),
        ("helm", "https://helm.sh/docs/intro/install/"),
    ] {
        let found = find(&report, tool);
        assert_eq!(found["level"], "fail", "{found}");
        assert_eq!(found["detail"], "not installed");
        assert!(found["fix"].as_str().unwrap().contains(hint), "{found}");
    }
}

/// Minikube on a VM driver has a Docker daemon of its own, which `images --load minikube` builds
/// into through `minikube docker-env`: a host without one is ready. Before the cluster exists
/// it may go either way, so it warns with both ways out; on the docker driver it blocks.
#[test]
fn a_vm_driver_needs_no_docker_daemon_on_the_host() {
    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_DOWN", "1").set("FAKE_MINIKUBE_DRIVER", "kvm2");
    let (ok, report, _) = doctor_json(&fakes);
    let daemon = find(&report, "docker daemon");
    assert_eq!(daemon["level"], "ok", "{daemon}");
    assert!(
        daemon["detail"]
            .as_str()
            .unwrap()
            .contains("Minikube's own (kvm2 driver)"),
        "{daemon}"
    );
    assert!(ok, "{report}");

    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_DOWN", "1").set("FAKE_MINIKUBE", "missing");
    let (_, report, _) = doctor_json(&fakes);
    let daemon = find(&report, "docker daemon");
    assert_eq!(daemon["level"], "warn", "{daemon}");
    assert!(daemon["fix"].as_str().unwrap().contains("--driver=kvm2"), "{daemon}");

    let mut fakes = Fakes::new();
    fakes.set("FAKE_DOCKER_DOWN", "1");
    let (ok, report, _) = doctor_json(&fakes);
    assert_eq!(find(&report, "docker daemon")["level"], "fail");
    assert!(!ok);
}
