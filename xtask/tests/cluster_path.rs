//! The deploy path as it will really run: the real kubectl 1.35 and the real Helm (3.18 and 4)
//! against stand-in clusters (`kube-standin`: an API server with controllers and a kubelet
//! whose container fates the test chooses). Two clusters sit in one kubeconfig; the target is
//! not the current context, so a command that reaches the wrong cluster shows up in its
//! request log. Only docker (for the doctor's look at it) is still a fake here, and with
//! `--skip-build` nothing is built.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fakes, real_cluster_clients, stderr};
use kube_standin::{Fate, Fates, StandIn, kubeconfig};
use serde_json::Value;

const NS: &str = "team-x";
const RELEASE: &str = "todo-chatbot";

/// Images tagged `broken` are not in the registry; the services of images tagged `crash` exit
/// at start (PostgreSQL is another image and runs); everything else runs and is ready. A
/// port-forward to the frontend or MCP reaches the real services of `stack`, standing in for
/// the containers' processes.
fn fates_by_tag(stack: &common::RealStack) -> Fates {
    let (frontend, mcp) = (stack.frontend_port, stack.mcp_port);
    Fates::new(|c| {
        let tag = c.image.rsplit(':').next().unwrap_or_default();
        match tag {
            "broken" => Fate::PullFails {
                // containerd's answer for a tag the registry does not have.
                message: format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": failed to resolve reference \"{}\": not found",
                    c.image, c.image
                ),
            },
            "crash" if c.image.contains("/todo-") => Fate::Crashes { code: 1 },
            _ if c.restart_policy == "Always" => Fate::Runs {
                ready_after: Duration::from_millis(300),
            },
            _ => Fate::Exits {
                code: 0,
                after: Duration::from_millis(200),
            },
        }
    })
    .serving(move |labels, port| {
        let local = match (labels["app.kubernetes.io/name"].as_str(), port) {
            (Some("frontend"), 3000) => frontend,
            (Some("mcp"), 8001) => mcp,
            _ => return None,
        };
        Some(([127, 0, 0, 1], local).into())
    })
}

struct Run {
    fakes: Fakes,
    helm: std::path::PathBuf,
    elsewhere: StandIn,
    target: StandIn,
}

impl Run {
    fn new(major: u32, stack: &common::RealStack) -> Option<Run> {
        let (kubectl, helm) = real_cluster_clients(major)?;
        let elsewhere = StandIn::start("elsewhere", Fates::all_healthy()).unwrap();
        let target = StandIn::start("target", fates_by_tag(stack)).unwrap();
        let mut fakes = Fakes::new();
        fakes.use_real("kubectl", &kubectl);
        fakes.use_real("helm", &helm);
        let home = fakes.home();
        let config = home.join("kubeconfig");
        std::fs::write(
            &config,
            kubeconfig(&[("elsewhere", &elsewhere), ("target", &target)], "elsewhere"),
        )
        .unwrap();
        fakes.set("KUBECONFIG", config.to_str().unwrap());
        for (key, dir) in [
            ("HOME", ""),
            ("XDG_CACHE_HOME", "cache"),
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_DATA_HOME", "data"),
        ] {
            fakes.set(key, home.join(dir).to_str().unwrap());
        }
        Some(Run {
            fakes,
            helm,
            elsewhere,
            target,
        })
    }

    fn xtask(&self, args: &[&str]) -> std::process::Output {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--context", "target", "-n", NS]);
        self.fakes.xtask(&full)
    }

    fn helm_output(&self, args: &[&str]) -> std::process::Output {
        let home = self.fakes.home();
        Command::new(&self.helm)
            .args(["--kube-context", "target", "--namespace", NS])
            .args(args)
            .env("KUBECONFIG", home.join("kubeconfig"))
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .output()
            .unwrap()
    }

    /// The release's revisions; none when Helm says it has no such release.
    fn history(&self) -> Vec<Value> {
        let output = self.helm_output(&["history", RELEASE, "-o", "json"]);
        let said = String::from_utf8_lossy(&output.stderr);
        if said.contains("release: not found") {
            return Vec::new();
        }
        assert!(output.status.success(), "helm history: {said}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// `logs -f` for `wait`, then Ctrl-C: the lines it printed.
    fn follow_logs(&self, wait: Duration) -> (Vec<String>, std::process::ExitStatus) {
        use std::io::{BufRead as _, BufReader};
        use std::os::unix::process::CommandExt as _;

        let _one_at_a_time = common::STAGING.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = self
            .fakes
            .command(&["logs", "-f", "--context", "target", "-n", NS])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        std::thread::sleep(wait);
        let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGINT);
        let status = child.wait().unwrap();
        (lines.try_iter().collect(), status)
    }

    fn backend_pods(&self) -> Vec<Value> {
        self.target
            .list("", "pods", Some(NS))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/name"] == "backend")
            .collect()
    }

    fn backend_image(&self) -> String {
        let deployment = self
            .target
            .get("apps", "deployments", NS, "todo-chatbot-backend")
            .expect("the backend Deployment");
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn out(output: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr(output))
}

/// The sequence the cluster workflow runs on Minikube: deploy, deploy a change, a broken deploy
/// undone, verify, rollback, status, logs, teardown; and before it all a first install that
/// fails.
fn the_deploy_path(major: u32) {
    let Some(stack) = common::real_stack() else { return };
    let Some(run) = Run::new(major, &stack) else { return };
    let deploy = |tag: &str| {
        run.xtask(&[
            "deploy",
            "--registry",
            "localhost:5000",
            "--skip-build",
            "--timeout",
            "60s",
            "--set",
            &format!("global.image.tag={tag}"),
        ])
    };

    // A first install that crash-loops: found at once, the crashing container's last lines shown,
    // and the release uninstalled (nothing before it to go back to). The namespace the deploy
    // made for it stays, with its quota and limits.
    let crashed = deploy("crash");
    let said = out(&crashed);
    assert!(!crashed.status.success(), "{said}");
    assert!(said.contains("CrashLoopBackOff"), "{said}");
    assert!(
        said.contains("exited with code 1"),
        "the container's last lines: {said}"
    );
    assert!(
        run.history().is_empty(),
        "a failed first install is uninstalled: {said}"
    );
    assert!(
        run.target.get("", "resourcequotas", NS, "todo-chatbot").is_some(),
        "{said}"
    );
    assert!(
        run.target.get("", "limitranges", NS, "todo-chatbot").is_some(),
        "{said}"
    );

    // Revision 1: rolled out, then verified through real port-forwards to the real services.
    let first = deploy("good1");
    let said = out(&first);
    assert!(first.status.success(), "{said}");
    assert!(said.contains("revision 1 is ready"), "{said}");
    assert!(
        said.contains("passed, 0 failed"),
        "the smoke suite ran through the port-forwards: {said}"
    );

    // A change: revision 2 serves the new tag.
    let second = deploy("good2");
    let said = out(&second);
    assert!(second.status.success(), "{said}");
    assert!(said.contains("revision 2 is ready"), "{said}");
    assert!(run.backend_image().ends_with(":good2"), "{}", run.backend_image());

    // An image the registry does not have: fails fast, goes back to revision 2, whose pods
    // served all along.
    let serving: Vec<String> = run
        .backend_pods()
        .iter()
        .map(|p| p["metadata"]["uid"].to_string())
        .collect();
    let started = Instant::now();
    let broken = deploy("broken");
    let said = out(&broken);
    assert!(!broken.status.success(), "{said}");
    assert!(
        said.contains("ImagePullBackOff") || said.contains("ErrImagePull"),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "it failed fast, not at the deadline: {said}"
    );
    let history = run.history();
    let last = history.last().expect("a history");
    assert_eq!(last["status"], "deployed", "{history:?}");
    assert!(
        last["description"]
            .as_str()
            .unwrap_or_default()
            .contains("Rollback to 2"),
        "{history:?}"
    );
    assert!(run.backend_image().ends_with(":good2"), "{}", run.backend_image());
    let still: Vec<String> = run
        .backend_pods()
        .iter()
        .map(|p| p["metadata"]["uid"].to_string())
        .collect();
    assert!(
        serving.iter().all(|uid| still.contains(uid)),
        "revision 2's pods were never replaced"
    );

    // `verify` on its own, then `rollback --to 1`: Helm's own wait, then its test.
    let verify = run.xtask(&["verify"]);
    assert!(verify.status.success(), "{}", out(&verify));
    assert!(out(&verify).contains("verified"), "{}", out(&verify));
    let rollback = run.xtask(&["rollback", "--to", "1", "--timeout", "60s"]);
    assert!(rollback.status.success(), "{}", out(&rollback));
    assert!(run.backend_image().ends_with(":good1"), "{}", run.backend_image());

    // `status` reads the revisions and pods of the target cluster.
    let status = run.xtask(&["status"]);
    let said = out(&status);
    assert!(status.status.success(), "{said}");
    assert!(said.contains("Rollback to 1"), "{said}");
    assert!(said.contains("todo-chatbot-backend-"), "{said}");

    // `logs backend`: the container's lines, through the API server's log endpoint.
    let logs = run.xtask(&["logs", "backend", "--tail", "5"]);
    assert!(logs.status.success(), "{}", out(&logs));
    assert!(
        out(&logs).contains("starting backend (localhost:5000/todo-backend:good1)"),
        "{}",
        out(&logs)
    );

    // `logs -f`: every service's lines as they come (kubectl follows each pod's log stream),
    // until Ctrl-C.
    let (lines, status) = run.follow_logs(Duration::from_secs(3));
    for service in ["frontend", "backend", "agent", "mcp"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("starting {service} (localhost:5000/todo-{service}:good1)"))),
            "{service} in {lines:#?}"
        );
    }
    assert!(!status.success(), "ended by Ctrl-C: {status:?}");

    // `teardown`: the release and its namespace go, and kubectl waits until they have.
    let teardown = run.xtask(&["teardown"]);
    assert!(teardown.status.success(), "{}", out(&teardown));
    assert!(run.target.get("", "namespaces", "", NS).is_none(), "{}", out(&teardown));

    // Nothing of all that reached the current context's cluster.
    assert_eq!(run.elsewhere.requests(), Vec::<String>::new());
}

#[test]
fn the_deploy_path_with_helm_3() {
    the_deploy_path(3);
}

#[test]
fn the_deploy_path_with_helm_4() {
    the_deploy_path(4);
}
