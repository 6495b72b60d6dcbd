//! `cargo xtask deploy` as a user runs it: the real kubectl and Helm against a stand-in cluster
//! (its containers' fates chosen by image tag), with fake minikube, docker and cargo on a PATH of
//! their own (`tests/fakes/`, in the real tools' formats and exit codes). On Minikube: a stopped
//! one started (its `start` points the profile's context at the stand-in), a release left in
//! pending-upgrade by a Helm killed mid-upgrade, Ctrl-C, a failed test pod left behind, and the
//! dry run. On another cluster: images pushed, the nodes' architecture in the tag, failures that
//! pass with time waited out. (Failures caught at once and undone, with Helm 3 and 4, are the
//! deploy path test's.)

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use kube_standin::{Fate, Fates, StandIn};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The position of the first call containing `part`, to check the order of the phases.
fn position(fakes: &Fakes, part: &str) -> usize {
    let calls = fakes.calls();
    calls
        .iter()
        .position(|c| c.contains(part))
        .unwrap_or_else(|| panic!("no call with {part:?} in {calls:#?}"))
}

/// A stopped Minikube whose cluster, once `minikube start` has run, is a stand-in: until then
/// the profile's context names a server that does not answer, as a stopped Minikube's does.
fn stopped_minikube(fates: Fates) -> Option<(StandIn, Fakes)> {
    let (cluster, mut fakes) = standin("minikube", fates)?;
    let config = fakes.home().join("kubeconfig");
    let running = fakes.home().join("kubeconfig.started");
    std::fs::copy(&config, &running).unwrap();
    let stopped = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&cluster.url, &format!("http://127.0.0.1:{}", closed_port()));
    std::fs::write(&config, stopped).unwrap();
    fakes
        .set("FAKE_MINIKUBE", "stopped")
        .set("FAKE_MINIKUBE_KUBECONFIG", running.to_str().unwrap());
    Some((cluster, fakes))
}

/// Minikube (a fake) stopped, then started; the release rolled out with the real kubectl and
/// Helm on the stand-in behind it, verified through real port-forwards to the real services.
#[test]
fn a_stopped_minikube_is_started_and_the_release_rolled_out_phase_by_phase() {
    let Some(real) = real_stack() else { return };
    let Some((cluster, mut fakes)) = stopped_minikube(fates_by_tag(Some(&real))) else {
        return;
    };
    fakes.set("FAKE_MINIKUBE_ADDONS", "ingress");
    let output = fakes.xtask(&["deploy", "--timeout", "60s"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{}", stderr(&output));
    // In order: start, the missing addon, the namespace, the images into Minikube's daemon,
    // the chart, the release with the images' tag, then helm test.
    let start = position(&fakes, "minikube DOCKER_HOST= -p minikube start --cpus=");
    assert!(fakes.calls()[start].contains("--disk-size=40g"));
    let addon = position(&fakes, "addons enable metrics-server");
    assert!(
        !fakes.calls().iter().any(|c| c.contains("addons enable ingress")),
        "ingress was already on"
    );
    let apply = position(
        &fakes,
        "kubectl --context=minikube --namespace chatbot-dev apply --filename",
    );
    let build = position(&fakes, "docker DOCKER_HOST=tcp://192.168.49.2:2376 build");
    let dependencies = position(&fakes, "helm dependency build");
    let upgrade = position(&fakes, "helm upgrade --install todo-chatbot");
    let forward = position(&fakes, "port-forward service/todo-chatbot-frontend :3000");
    let test = position(
        &fakes,
        "helm test todo-chatbot --namespace chatbot-dev --logs --kube-context minikube",
    );
    assert!(
        start < addon
            && addon < apply
            && apply < build
            && build < dependencies
            && dependencies < upgrade
            && upgrade < forward
            && forward < test
    );
    assert!(
        stderr(&output).contains("16 passed, 0 failed"),
        "the smoke suite ran through the port-forward: {text}"
    );
    let upgrade_call = &fakes.calls()[upgrade];
    assert!(
        upgrade_call
            .contains("--history-max 10 --reset-then-reuse-values --kube-context minikube --set global.image.tag="),
        "{upgrade_call}"
    );
    assert!(
        !upgrade_call.contains("--wait"),
        "Helm must not wait: the xtask watches: {upgrade_call}"
    );
    for phase in [
        "doctor",
        "cluster",
        "addons",
        "namespace",
        "snapshot",
        "images",
        "chart",
        "release",
        "rollout",
        "verify",
        "total",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(phase)),
            "no timing for {phase}: {text}"
        );
    }
    assert!(
        text.contains("release todo-chatbot revision 1 is ready in namespace chatbot-dev"),
        "{text}"
    );
    assert!(
        cluster
            .get("apps", "deployments", "chatbot-dev", "todo-chatbot-backend")
            .is_some()
    );
}

/// A Helm killed while it waited on an upgrade leaves the release in pending-upgrade, and every
/// later upgrade refused: the deploy says so and how to recover, before it builds anything.
#[test]
fn a_release_stuck_in_pending_upgrade_is_reported_with_its_recovery_before_anything_is_built() {
    let Some((cluster, fakes)) = standin("minikube", fates_by_tag(None)) else {
        return;
    };
    let installed = helm_install(&fakes, &["--set", "global.image.tag=good"]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/todo-chatbot");
    let mut waiting = fakes
        .tool("helm")
        .args(["upgrade", "todo-chatbot"])
        .arg(&chart)
        .args([
            "--namespace",
            "chatbot-dev",
            "--set",
            "global.image.tag=never",
            "--wait",
            "--timeout",
            "120s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Helm's release record says pending-upgrade while it waits (its Secret's `status` label).
    let started = std::time::Instant::now();
    while !cluster
        .list("", "secrets", Some("chatbot-dev"))
        .iter()
        .any(|s| s["metadata"]["labels"]["status"] == "pending-upgrade")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "helm never started its upgrade"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    waiting.kill().unwrap();
    waiting.wait().unwrap();
    let before = fakes.calls().len();
    let error = failure(&fakes.xtask(&["deploy"]));
    assert!(
        error.contains("release todo-chatbot is stuck in pending-upgrade (revision 2)"),
        "{error}"
    );
    assert!(error.contains("helm rollback todo-chatbot 1 -n chatbot-dev"), "{error}");
    let after = &fakes.calls()[before..];
    assert!(
        !after
            .iter()
            .any(|c| c.contains(" build ") || c.contains("upgrade --install")),
        "{after:#?}"
    );
}

#[test]
fn ctrl_c_during_the_rollout_stops_and_says_what_it_left() {
    let Some((_cluster, fakes)) = standin("minikube", fates_by_tag(None)) else {
        return;
    };
    let _one_at_a_time = STAGING.lock().unwrap_or_else(|e| e.into_inner());
    // A deadline past which the test fails rather than waits, far beyond the signal's moment.
    let mut child = fakes
        .command(&[
            "deploy",
            "--skip-build",
            "--timeout",
            "120s",
            "--set",
            "global.image.tag=never",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut signalled = false;
    let mut err = String::new();
    // The progress is on stderr. Read on to the end after the signal: a closed pipe would fail
    // its last words.
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if !signalled
            && line.starts_with('[')
            && line.contains("Deployment/todo-chatbot-backend 1 of 1 updated, 0 available")
        {
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
            signalled = true;
        }
        err.push_str(&line);
        err.push('\n');
    }
    assert!(signalled, "the rollout was never watched: {err}");
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        err.contains("interrupted: revision 1 of todo-chatbot is installed and its rollout was still in progress; nothing was rolled back"),
        "{err}"
    );
    assert!(
        !fakes
            .calls()
            .iter()
            .any(|c| c.contains("helm rollback") || c.contains("helm uninstall"))
    );
}

/// A stand-in Minikube cluster and the real clients; after a dry run, no request but reads
/// may have reached it.
fn dry_run_cluster() -> Option<(StandIn, Fakes)> {
    standin("minikube", Fates::all_healthy())
}

fn assert_unchanged(cluster: &StandIn) {
    let writes: Vec<String> = cluster
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET "))
        .collect();
    assert!(writes.is_empty(), "a dry run changed {writes:#?}");
}

#[test]
fn the_dry_run_prints_every_command_in_order_renders_the_real_chart_and_changes_nothing() {
    let Some((cluster, fakes)) = dry_run_cluster() else {
        return;
    };
    let output = fakes.xtask(&["deploy", "--dry-run", "--set", "backend.replicaCount=2"]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    let commands: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    let order = [
        "minikube -p minikube status",
        "minikube -p minikube start",
        "addons enable ingress",
        "apply --filename",
        "cargo xtask images --load minikube",
        "dependency build",
        "upgrade --install",
        "test todo-chatbot",
    ];
    let mut at = 0;
    for part in order {
        let found = commands[at..]
            .iter()
            .position(|c| c.contains(part))
            .unwrap_or_else(|| panic!("{part} missing or out of order: {commands:#?}"));
        at += found + 1;
    }
    assert!(
        commands.iter().any(|c| c.contains("--set backend.replicaCount=2")),
        "{commands:#?}"
    );
    assert!(text.contains("# the chart renders 33 objects"), "{text}");
    assert!(
        text.contains("it would watch Deployment/todo-chatbot-agent, Deployment/todo-chatbot-backend"),
        "{text}"
    );
    // Nothing ran but helm template.
    assert!(
        fakes
            .calls()
            .iter()
            .all(|c| !c.starts_with("minikube") && !c.starts_with("kubectl") && !c.starts_with("docker")),
        "{:#?}",
        fakes.calls()
    );
    assert_unchanged(&cluster);
}

/// The pod a failed `helm test` left behind (kept until the next test replaces it) belongs to
/// Helm, not to the rollout: the next deploy rolls out past it instead of rolling back.
#[test]
fn a_failed_smoke_test_pod_left_behind_does_not_fail_the_next_rollout() {
    let Some(real) = real_stack() else { return };
    let Some((cluster, fakes)) = standin("minikube", fates_by_tag(Some(&real))) else {
        return;
    };
    let installed = helm_install(&fakes, &["--set", "global.image.tag=failtest"]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    wait_for_pods(&cluster, |pods| pods.len() == 5 && pods.iter().all(ready));
    let tested = helm_test(&fakes);
    assert!(!tested.status.success(), "the first revision's smoke test fails");
    let output = fakes.xtask(&[
        "deploy",
        "--skip-build",
        "--timeout",
        "60s",
        "--set",
        "global.image.tag=good",
    ]);
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{said}");
    assert!(said.contains("revision 2 is ready"), "{said}");
}

/// `--registry` prefixes the project's images, which the deploy pushes there, and no other: the
/// official PostgreSQL image is pulled from where it lives (the real chart, rendered by the real
/// helm).
#[test]
fn another_cluster_pulls_only_the_project_s_images_from_its_registry() {
    let Some((cluster, fakes)) = dry_run_cluster() else {
        return;
    };
    let output = fakes.xtask(&[
        "deploy",
        "--dry-run",
        "--context",
        "prod-eu",
        "--registry",
        "registry.example.com/team",
    ]);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    let pulled = text
        .lines()
        .find_map(|l| l.strip_prefix("# the pods would pull "))
        .unwrap_or_else(|| panic!("no image list: {text}"));
    let images: Vec<&str> = pulled.split(", ").collect();
    assert!(images.contains(&"postgres:17.6"), "{images:?}");
    for service in ["backend", "mcp", "agent", "frontend"] {
        assert!(
            images
                .iter()
                .any(|i| i.starts_with(&format!("registry.example.com/team/todo-{service}:"))),
            "{service}: {images:?}"
        );
    }
    assert!(
        !images
            .iter()
            .any(|i| i.starts_with("registry.example.com/team/postgres")),
        "{images:?}"
    );
    assert_unchanged(&cluster);
}

/// The images are for the cluster's nodes, and their tag says so: `--skip-build` deploys the tag
/// `images` gave them (`-arm64` on arm64 nodes), not the bare commit, which names no image there.
#[test]
fn skip_build_deploys_the_tag_images_gave_the_nodes_architecture() {
    let Some(real) = real_stack() else { return };
    let cluster = StandIn::start_with_arch("graviton", "arm64", Fates::all_healthy().serving(real.serving())).unwrap();
    let Some(fakes) = fakes_on_clusters(4, &[("graviton", &cluster)], "graviton") else {
        return;
    };
    let output = fakes.xtask(&[
        "deploy",
        "--context",
        "graviton",
        "--registry",
        "registry.example.com/team",
        "--skip-build",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let backend = cluster
        .get("apps", "deployments", "chatbot-dev", "todo-chatbot-backend")
        .expect("the backend's Deployment");
    let image = backend["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(image.ends_with("-arm64"), "{image}");
    assert!(
        !fakes
            .calls()
            .iter()
            .any(|c| c.starts_with("docker") && c.contains(" build ")),
        "--skip-build built: {:#?}",
        fakes.calls()
    );
}

/// Another cluster than Minikube, with the real kubectl and Helm against a stand-in for it: the
/// images are built and pushed to its registry (docker is a fake here), no Minikube step runs,
/// and the release pulls the project's images from there and PostgreSQL from where it lives.
#[test]
fn another_cluster_gets_pushed_images_and_no_minikube_step() {
    let Some(real) = real_stack() else { return };
    let cluster = StandIn::start("prod-eu", Fates::all_healthy().serving(real.serving())).unwrap();
    let Some(fakes) = fakes_on_clusters(4, &[("prod-eu", &cluster)], "prod-eu") else {
        return;
    };
    let output = fakes.xtask(&[
        "deploy",
        "--context",
        "prod-eu",
        "--registry",
        "registry.example.com/team",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    // With --json, stdout is the result alone; the progress went to stderr.
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}): {}", stdout(&output)));
    assert_eq!(report["revision"], 1);
    assert_eq!(report["release"], "todo-chatbot");
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "doctor",
            "namespace",
            "snapshot",
            "images",
            "chart",
            "release",
            "rollout",
            "verify"
        ]
    );
    assert!(
        !fakes.calls().iter().any(|c| c.starts_with("minikube")),
        "{:#?}",
        fakes.calls()
    );
    position(
        &fakes,
        "docker DOCKER_HOST= push registry.example.com/team/todo-backend:",
    );
    let image = |kind: &str, name: &str| {
        cluster.get("apps", kind, "chatbot-dev", name).expect(name)["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        image("deployments", "todo-chatbot-backend").starts_with("registry.example.com/team/todo-backend:"),
        "{}",
        image("deployments", "todo-chatbot-backend")
    );
    assert_eq!(image("statefulsets", "todo-chatbot-postgresql"), "postgres:17.6");
}

/// What passes with time is waited for, as `kubectl rollout status` waits: PostgreSQL's pull
/// refused once by Docker Hub's rate limit (the kubelet retries), the backend crash-looping once
/// while its database starts. A first install is not uninstalled over either; the rollout
/// finishes and verify passes.
#[test]
fn a_rate_limited_pull_and_an_early_restart_are_waited_out_not_undone() {
    let Some(real) = real_stack() else { return };
    let fates = Fates::new(|c| match c.container {
        "postgresql" => Fate::PullFailsFirst {
            times: 2,
            // containerd's words for Docker Hub's 429.
            message: "failed to pull and unpack image \"docker.io/library/postgres:17.6\": unexpected status from HEAD request: 429 Too Many Requests: toomanyrequests: You have reached your unauthenticated pull rate limit".into(),
        },
        "backend" => Fate::CrashesFirst { times: 1, code: 1 },
        _ if c.restart_policy == "Always" => Fate::Runs {
            ready_after: Duration::from_millis(100),
        },
        _ => Fate::Exits {
            code: 0,
            after: Duration::from_millis(100),
        },
    })
    .serving(real.serving());
    let cluster = StandIn::start("prod-eu", fates).unwrap();
    let Some(fakes) = fakes_on_clusters(3, &[("prod-eu", &cluster)], "prod-eu") else {
        return;
    };
    let output = fakes.xtask(&[
        "deploy",
        "--context",
        "prod-eu",
        "--registry",
        "registry.example.com/team",
        "--skip-build",
        "--timeout",
        "60s",
    ]);
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{said}");
    assert!(said.contains("revision 1 is ready"), "{said}");
    let backend = cluster
        .list("", "pods", Some("chatbot-dev"))
        .into_iter()
        .find(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "backend")
        .expect("the backend's pod");
    assert_eq!(
        backend["status"]["containerStatuses"][0]["restartCount"], 1,
        "{backend}"
    );
}
