//! The deploy path as it will really run: the real kubectl 1.35 and the real Helm (3.18 and 4)
//! against stand-in clusters (`kube-standin`: an API server with controllers and a kubelet
//! whose container fates the test chooses). Two clusters sit in one kubeconfig; the target is
//! not the current context, so a command that reaches the wrong cluster shows up in its
//! request log. Only docker (for the doctor's look at it) is still a fake here, and with
//! `--skip-build` nothing is built. The pods' processes are the real services, on a PostgreSQL
//! database of their own that the PostgreSQL pod's `kubectl exec` reaches (its pg_dump and
//! pg_restore are this machine's), so `backup` and `restore` move real rows.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fakes, fakes_on_clusters, real_cluster_clients, stderr};
use kube_standin::{Fate, Fates, StandIn};
use serde_json::Value;

const NS: &str = "team-x";
const RELEASE: &str = "todo-chatbot";

/// Images tagged `broken` are not in the registry; the services of images tagged `crash` exit
/// at start (PostgreSQL is another image and runs); everything else runs and is ready. A
/// port-forward to the frontend or MCP reaches the real services of `stack`, standing in for
/// the containers' processes.
fn target_fates(stack: &common::RealStack, database: Option<&common::Database>) -> Fates {
    let server = database.map(|d| {
        let url = url::Url::parse(&d.url).unwrap();
        (
            url.host_str().unwrap_or("127.0.0.1").to_string(),
            url.port().unwrap_or(5432),
        )
    });
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
    .serving(stack.serving())
    .executing(move |exec| {
        // The PostgreSQL container's programs, with its environment (the chart's user,
        // database and password from its Secret); its own server is this machine's.
        let (host, port) = server.clone().filter(|_| exec.container == "postgresql")?;
        let mut command = Command::new(&exec.command[0]);
        command
            .args(&exec.command[1..])
            .env_clear()
            .envs(exec.env.iter().map(|(k, v)| (k, v)))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PGHOST", host)
            .env("PGPORT", port.to_string());
        Some(command)
    })
}

struct Run {
    fakes: Fakes,
    helm: std::path::PathBuf,
    elsewhere: StandIn,
    target: StandIn,
}

impl Run {
    fn new(major: u32, stack: &common::RealStack, database: Option<&common::Database>) -> Option<Run> {
        let (_, helm) = real_cluster_clients(major)?;
        let elsewhere = StandIn::start("elsewhere", Fates::all_healthy()).unwrap();
        let target = StandIn::start("target", target_fates(stack, database)).unwrap();
        let fakes = fakes_on_clusters(major, &[("elsewhere", &elsewhere), ("target", &target)], "elsewhere")?;
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
    // Without PostgreSQL the services run on SQLite and backup has nothing to reach (a loud
    // skip of that part; under CI an error).
    let database = common::Database::create(&format!("cluster_h{major}"));
    let Some(stack) = common::real_stack_on(database.as_ref().map(|d| d.url.as_str())) else {
        return;
    };
    let Some(run) = Run::new(major, &stack, database.as_ref()) else {
        return;
    };
    let database_name = database.as_ref().map_or("todo", |d| d.name.as_str());
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
            // The PostgreSQL pod's user and database: the test's own, on this machine's server.
            "--set",
            "postgresql.auth.username=postgres",
            "--set",
            &format!("postgresql.auth.database={database_name}"),
        ])
    };

    // doctor, aimed at the target cluster: its API server answers and its node is ready.
    let doctor = run.fakes.xtask(&["doctor", "--context", "target", "--json"]);
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap_or_else(|_| panic!("{}", out(&doctor)));
    let cluster = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["check"] == "cluster" || f["check"] == "nodes")
        .map(|f| format!("{} {} {}", f["check"], f["level"], f["detail"]))
        .collect::<Vec<_>>();
    assert_eq!(
        cluster,
        [
            "\"cluster\" \"ok\" \"target: Kubernetes v1.35.0\"",
            "\"nodes\" \"ok\" \"1 ready\""
        ],
        "{report}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["check"] != "minikube"),
        "{report}"
    );

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
    assert!(
        said.contains("rolling back todo-chatbot to revision 2, the last that was ready"),
        "{said}"
    );
    assert!(
        said.contains("==> built-in analysis: the release's pods and events"),
        "deploy diagnosed before it undid: {said}"
    );
    // The snapshot of what was there before, with the Secrets' names and not their data.
    let snapshot = said
        .lines()
        .find_map(|l| l.split("the snapshot of what was there before is in ").nth(1))
        .map(|d| std::path::PathBuf::from(d.trim()))
        .unwrap_or_else(|| panic!("no snapshot named: {said}"));
    for file in ["objects.json", "secret-names.json", "values.json", "history.json"] {
        assert!(snapshot.join(file).exists(), "{file} missing in {}", snapshot.display());
    }
    let names = std::fs::read_to_string(snapshot.join("secret-names.json")).unwrap();
    assert!(
        names.contains("todo-chatbot-auth") && !names.contains("\"data\""),
        "{names}"
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
    let said = out(&verify);
    assert!(verify.status.success(), "{said}");
    assert!(said.contains("16 passed, 0 failed"), "{said}");
    assert!(said.contains("MCP tools/list (with the user's token)"), "{said}");
    assert!(said.contains("release todo-chatbot verified"), "{said}");
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

    // What users wrote (the smoke suite cleans up after itself), through the frontend.
    if database.is_some() {
        common::write_what_users_write(&format!("http://127.0.0.1:{}", stack.frontend_port));
    }

    // `backup`, then `restore` over a damaged database: pg_dump and pg_restore in the
    // PostgreSQL pod through the real kubectl's exec (its stdin carries the archive in).
    if let Some(database) = &database {
        let backup = run.xtask(&["backup", "--json"]);
        assert!(backup.status.success(), "{}", out(&backup));
        let report: Value = serde_json::from_slice(&backup.stdout).unwrap();
        assert_eq!(
            report["database"],
            format!("the database in pod todo-chatbot-postgresql-0 (namespace {NS})"),
            "{report}"
        );
        let file = report["file"].as_str().unwrap().to_string();
        let before = database.rows();
        assert!(database.count("tasks") >= 4, "{before}");
        common::psql(
            &database.url,
            "DELETE FROM messages; DELETE FROM tasks; DELETE FROM users",
        )
        .unwrap();
        let restore = run.xtask(&["restore", &file]);
        assert!(restore.status.success(), "{}", out(&restore));
        assert_eq!(database.rows(), before);
    }

    // `teardown`: the release and its namespace go, and kubectl waits until they have.
    let teardown = run.xtask(&["teardown"]);
    assert!(teardown.status.success(), "{}", out(&teardown));
    assert!(run.target.get("", "namespaces", "", NS).is_none(), "{}", out(&teardown));

    // With no PostgreSQL pod left, backup says what to do instead.
    let said = out(&run.xtask(&["backup"]));
    assert!(
        said.contains(&format!(
            "release todo-chatbot has no running PostgreSQL pod in namespace {NS}: with an external database (global.database.external), pass --database-url"
        )),
        "{said}"
    );

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
