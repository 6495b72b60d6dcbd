//! The chart rehearsal: rendering is not running. Every Deployment and StatefulSet the chart
//! renders runs in Docker as its pod spec says (image, command and args, the environment with
//! `envFrom` and `valueFrom` resolved from the rendered ConfigMaps and Secrets, the user, a
//! read-only root filesystem, dropped capabilities, emptyDirs and volume claims as tmpfs), under
//! the network names of the Services that select it, and is waited on by its own startup and
//! readiness probes as the kubelet would. Then the smoke suite runs through the frontend and the
//! `helm test` pod's own container runs on the same network.
//!
//! What Docker cannot show: NetworkPolicies (Docker does not enforce them), scheduling, replicas
//! (one container per workload), and persistence (a volume claim is a tmpfs here).

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};

use super::pod_plan::{Check, Plan, Planned, describe, plan};
use crate::chart::manifests::Manifests;
use crate::exec::Command;
use crate::project::random_hex;
use crate::tools::docker::Docker;

/// The containers of one rehearsal on their own Docker network, removed when dropped.
pub struct Running {
    docker: Docker,
    run: String,
    started: Vec<(Planned, String)>,
    network: bool,
}

impl Running {
    pub fn new(docker: &Docker) -> Running {
        Running {
            docker: docker.clone(),
            run: format!("todo-chart-{}", random_hex(3)),
            started: Vec::new(),
            network: false,
        }
    }

    fn container_name(&self, planned: &Planned) -> String {
        let workload = planned.workload.rsplit('/').next().unwrap_or("x");
        format!("{}-{workload}-{}", self.run, planned.container)
    }

    fn docker_run(&self, planned: &Planned, detach: bool) -> Command {
        let mut args: Vec<String> = vec!["run".into(), "--name".into(), self.container_name(planned)];
        args.push(if detach { "--detach".into() } else { "--rm".into() });
        args.extend(["--network".into(), self.run.clone()]);
        for alias in &planned.aliases {
            args.extend(["--network-alias".into(), alias.clone()]);
        }
        if let Some(user) = &planned.user {
            args.extend(["--user".into(), user.clone()]);
        }
        if planned.read_only {
            args.push("--read-only".into());
        }
        if planned.drop_all {
            args.extend(["--cap-drop".into(), "ALL".into()]);
        }
        for cap in &planned.cap_add {
            args.extend(["--cap-add".into(), cap.clone()]);
        }
        if planned.no_new_privileges {
            args.extend(["--security-opt".into(), "no-new-privileges".into()]);
        }
        for mount in &planned.tmpfs {
            args.extend(["--tmpfs".into(), mount.clone()]);
        }
        // Published on loopback so the probes (and the smoke suite) can reach them from here.
        for port in &planned.ports {
            args.extend(["--publish".into(), format!("127.0.0.1::{port}")]);
        }
        args.extend(["--stop-timeout".into(), planned.grace.to_string()]);
        // `--env KEY`: docker reads the value from its own environment, so no value (some are
        // secrets) is on a command line or in the echoed command.
        let mut command = self.docker.command(Vec::<String>::new());
        for (key, value) in &planned.env {
            args.extend(["--env".into(), key.clone()]);
            command = command.secret_env(key, value);
        }
        if let Some(entrypoint) = &planned.entrypoint {
            args.extend(["--entrypoint".into(), entrypoint.first().cloned().unwrap_or_default()]);
        }
        args.push(planned.image.clone());
        if let Some(entrypoint) = &planned.entrypoint {
            args.extend(entrypoint.iter().skip(1).cloned());
        }
        args.extend(planned.args.iter().cloned());
        command.args(args)
    }

    /// Starts every workload's containers at once, as a cluster would, then waits on each by
    /// its probes; `within` bounds the wait for each.
    pub fn start(&mut self, plan: &Plan, within: Duration) -> anyhow::Result<()> {
        self.docker.command(["network", "create", &self.run]).read()?;
        self.network = true;
        for planned in &plan.services {
            let command = self.docker_run(planned, true);
            eprintln!("$ {command}");
            command.read().with_context(|| {
                format!(
                    "{}: docker could not start container {}",
                    planned.workload, planned.container
                )
            })?;
            self.started.push((planned.clone(), self.container_name(planned)));
        }
        for (planned, name) in &self.started {
            let took = self.wait_ready(planned, name, within)?;
            println!(
                "{} ({}): ready after {:.0} ms, by its own probes",
                planned.workload,
                planned.container,
                took.as_secs_f64() * 1000.0
            );
        }
        Ok(())
    }

    /// The kubelet's order: the startup probe until it passes, then the readiness probe.
    fn wait_ready(&self, planned: &Planned, name: &str, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        for (kind, probe) in [("startup", &planned.startup), ("readiness", &planned.readiness)] {
            let Some(probe) = probe else { continue };
            let deadline = within.min(probe.period * probe.failure_threshold.max(1) + Duration::from_secs(5));
            loop {
                let last = match self.probe(name, &probe.check) {
                    Ok(()) => break,
                    Err(e) => format!("{e:#}"),
                };
                let state = self.state(name)?;
                if state["Running"] != true {
                    bail!(
                        "{}: container {} exited with code {} before its {kind} probe passed; its last lines:\n{}",
                        planned.workload,
                        planned.container,
                        state["ExitCode"],
                        self.logs(name)
                    );
                }
                if started.elapsed() > deadline {
                    bail!(
                        "{}: container {} was not ready within {deadline:?}: its {kind} probe ({}) last answered: {last}",
                        planned.workload,
                        planned.container,
                        describe(&probe.check)
                    );
                }
                // The probes' own period would only slow the rehearsal; poll faster.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(started.elapsed())
    }

    fn probe(&self, name: &str, check: &Check) -> anyhow::Result<()> {
        match check {
            Check::Http { port, path } => {
                let url = format!("{}{path}", self.published(name, *port)?);
                let agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(2)))
                    .http_status_as_error(false)
                    .build()
                    .new_agent();
                let status = agent
                    .get(&url)
                    .call()
                    .map(|r| r.status().as_u16())
                    .context("no answer")?;
                // The kubelet counts 200-399 as success.
                ensure!((200..400).contains(&status), "HTTP {status}");
                Ok(())
            }
            Check::Exec(command) => {
                let mut args = vec!["exec".to_string(), name.to_string()];
                args.extend(command.iter().cloned());
                let output = self.docker.command(args).output()?;
                ensure!(output.success(), "{}: {}", output.exit(), output.last_error_line());
                Ok(())
            }
            Check::Tcp { port } => {
                let address = self.published(name, *port)?;
                let address = address.trim_start_matches("http://");
                std::net::TcpStream::connect(address).context("connection refused")?;
                Ok(())
            }
        }
    }

    /// `http://127.0.0.1:PORT` where docker published a container's port.
    fn published(&self, name: &str, port: i64) -> anyhow::Result<String> {
        let text = self.docker.command(["port", name, &format!("{port}/tcp")]).read()?;
        let address = text
            .lines()
            .find(|l| l.starts_with("127.0.0.1:"))
            .with_context(|| format!("port {port} of {name} is not published"))?;
        Ok(format!("http://{}", address.trim()))
    }

    /// The published URL of the container that a workload's name ends with ("frontend").
    pub fn url_of(&self, workload_suffix: &str) -> anyhow::Result<String> {
        let (planned, name) = self
            .started
            .iter()
            .find(|(p, _)| p.workload.ends_with(&format!("-{workload_suffix}")))
            .with_context(|| format!("no workload named *-{workload_suffix} was rehearsed"))?;
        let port = planned
            .ports
            .first()
            .with_context(|| format!("{} exposes no port", planned.workload))?;
        self.published(name, *port)
    }

    fn state(&self, name: &str) -> anyhow::Result<Value> {
        let text = self
            .docker
            .command(["inspect", "--format", "{{json .State}}", name])
            .read()?;
        serde_json::from_str(text.trim()).context("docker inspect: not JSON")
    }

    fn logs(&self, name: &str) -> String {
        self.docker
            .command(["logs", "--tail", "15", name])
            .output()
            .map(|o| format!("{}{}", o.stdout, o.stderr))
            .unwrap_or_default()
    }

    pub fn print_logs(&self) {
        for (planned, name) in &self.started {
            eprintln!(
                "\n--- last lines of {} ({}) ---\n{}",
                planned.workload,
                planned.container,
                self.logs(name)
            );
        }
    }

    /// Runs the `helm test` pod's container to its end on the rehearsal's network; its output,
    /// or an error with it when it exits non-zero.
    fn run_test(&self, planned: &Planned) -> anyhow::Result<String> {
        let command = self.docker_run(planned, false);
        eprintln!("$ {command}");
        let output = command.output()?;
        let printed = format!("{}{}", output.stdout, output.stderr);
        ensure!(
            output.success(),
            "{} (helm test): container {} failed ({}):\n{printed}",
            planned.workload,
            planned.container,
            output.exit()
        );
        Ok(printed)
    }

    /// `docker stop` (SIGTERM, then SIGKILL after the grace period) on the container of the
    /// workload whose name ends with `suffix`: its exit code and how long it took.
    pub fn stop(&self, suffix: &str) -> anyhow::Result<(i64, Duration)> {
        let (planned, name) = self
            .started
            .iter()
            .find(|(p, _)| p.workload.ends_with(&format!("-{suffix}")))
            .with_context(|| format!("no workload named *-{suffix}"))?;
        let started = Instant::now();
        self.docker
            .command(["stop", "--time", &planned.grace.to_string(), name])
            .read()?;
        let took = started.elapsed();
        let code = self.state(name)?["ExitCode"]
            .as_i64()
            .context("docker inspect: no exit code")?;
        Ok((code, took))
    }

    /// `docker start` again, and waits on its probes.
    pub fn restart(&self, suffix: &str, within: Duration) -> anyhow::Result<()> {
        let (planned, name) = self
            .started
            .iter()
            .find(|(p, _)| p.workload.ends_with(&format!("-{suffix}")))
            .with_context(|| format!("no workload named *-{suffix}"))?;
        self.docker.command(["start", name]).read()?;
        self.wait_ready(planned, name, within)?;
        Ok(())
    }

    pub fn workloads(&self) -> Vec<String> {
        self.started.iter().map(|(p, _)| p.workload.clone()).collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for (_, name) in &self.started {
            let _ = self.docker.command(["rm", "--force", "--volumes", name]).output();
        }
        if self.network {
            let _ = self.docker.command(["network", "rm", &self.run]).output();
        }
    }
}

/// The whole rehearsal of one rendering: start, smoke suite through the frontend (and the MCP
/// tool list), the `helm test` container, a restart of the backend that keeps its tasks, and
/// every container stopping with exit 0 within its grace period.
pub fn rehearse(docker: &Docker, manifests: &Manifests, namespace: &str) -> anyhow::Result<()> {
    let plan = plan(manifests, namespace)?;
    let mut running = Running::new(docker);
    let outcome = exercise(&mut running, &plan, manifests);
    if outcome.is_err() {
        running.print_logs();
    }
    outcome
}

fn exercise(running: &mut Running, plan: &Plan, manifests: &Manifests) -> anyhow::Result<()> {
    running.start(plan, Duration::from_secs(60))?;
    let url = running.url_of("frontend")?;
    let mcp = format!("{}/mcp", running.url_of("mcp")?);
    let secret = manifests
        .of_kind("Secret")
        .find_map(|s| manifests.secret_value(s["metadata"]["name"].as_str()?, "BETTER_AUTH_SECRET"));
    crate::cluster::verify::run_with_secret(
        &crate::flags::VerifyArgs {
            url: Some(url.clone()),
            service: Vec::new(),
            mcp: Some(mcp),
            json: false,
            release: Default::default(),
            quiet_stdout: false,
        },
        secret.as_deref(),
    )?;
    ensure!(!plan.tests.is_empty(), "the chart renders no helm test pod");
    for test in &plan.tests {
        let printed = running.run_test(test)?;
        println!("{} (helm test) passed in the rehearsal:\n{printed}", test.workload);
    }

    // Tasks stored before the backend restarts are there after it.
    let (token, user) = crate::local::api::sign_up(&url, "chart-rehearsal")?;
    let client = crate::local::api::Client::new();
    client.post(
        &format!("{url}/api/{user}/tasks"),
        Some(&token),
        &json!({"title": "rehearse the chart"}),
    )?;
    let (code, _) = running.stop("backend")?;
    ensure!(
        code == 0,
        "Deployment/*-backend exited with {code} on SIGTERM, expected 0"
    );
    running.restart("backend", Duration::from_secs(60))?;
    let listed = crate::local::api::get_json(&format!("{url}/api/{user}/tasks"), &token)?;
    ensure!(
        listed
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["title"] == "rehearse the chart")),
        "after the backend's restart its tasks are {listed}"
    );
    println!("the backend restarted and still lists the tasks it stored");

    for workload in running.workloads() {
        let suffix = workload.rsplit('-').next().unwrap_or("").to_string();
        let (code, took) = running.stop(&suffix)?;
        ensure!(
            code == 0,
            "{workload} exited with {code} on docker stop (SIGTERM), expected 0"
        );
        println!(
            "{workload}: stopped with exit 0 in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// The four ways a chart can render fine and still not run, each broken once on purpose: the
/// rehearsal must fail, naming the manifest. (what, the break, the manifest the failure names)
pub fn broken_variants(manifests: &Manifests) -> Vec<(&'static str, Manifests, &'static str)> {
    let variant = |edit: &dyn Fn(&mut Vec<Value>)| {
        let mut objects = manifests.objects.clone();
        edit(&mut objects);
        Manifests { objects }
    };
    let find = |objects: &mut Vec<Value>, kind: &str, suffix: &str| -> Option<usize> {
        objects
            .iter()
            .position(|o| o["kind"] == kind && o["metadata"]["name"].as_str().is_some_and(|n| n.ends_with(suffix)))
    };
    vec![
        (
            "a wrong container port",
            variant(&|objects| {
                if let Some(i) = find(objects, "Deployment", "-backend") {
                    objects[i]["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(8080);
                }
            }),
            "Deployment/todo-chatbot-backend",
        ),
        (
            "a missing environment variable",
            variant(&|objects| {
                if let Some(i) = find(objects, "Deployment", "-backend") {
                    let env = &mut objects[i]["spec"]["template"]["spec"]["containers"][0]["env"];
                    if let Some(list) = env.as_array_mut() {
                        list.retain(|v| v["name"] != "BETTER_AUTH_SECRET");
                    }
                }
            }),
            "Deployment/todo-chatbot-backend",
        ),
        (
            "a Service that selects nothing",
            variant(&|objects| {
                if let Some(i) = find(objects, "Service", "-agent") {
                    objects[i]["spec"]["selector"]["app.kubernetes.io/name"] = json!("agnet");
                }
            }),
            "Service/todo-chatbot-agent",
        ),
        (
            "a readiness probe on a wrong path",
            variant(&|objects| {
                if let Some(i) = find(objects, "Deployment", "-mcp") {
                    let container = &mut objects[i]["spec"]["template"]["spec"]["containers"][0];
                    container["readinessProbe"]["httpGet"]["path"] = json!("/ready");
                    container["startupProbe"]["httpGet"]["path"] = json!("/ready");
                }
            }),
            "Deployment/todo-chatbot-mcp",
        ),
    ]
}

/// Starts a broken variant: it must fail, and the failure must name `names`.
pub fn expect_failure(
    docker: &Docker,
    what: &str,
    manifests: &Manifests,
    namespace: &str,
    names: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let outcome = plan(manifests, namespace).and_then(|plan| {
        let mut running = Running::new(docker);
        running.start(&plan, Duration::from_secs(8))
    });
    match outcome {
        Ok(()) => bail!("the rehearsal of a chart with {what} passed: it must fail"),
        Err(e) => {
            let message = format!("{e:#}");
            ensure!(
                message.contains(names),
                "the rehearsal of a chart with {what} failed without naming {names}: {message}"
            );
            let first = message.lines().next().unwrap_or("");
            println!(
                "broken on purpose, {what}: failed in {:.1} s: {first}",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::rehearsal::pod_plan::Probe;
    use crate::checks::rehearsal::pod_plan::tests::FIXTURE;

    #[test]
    fn a_pod_spec_becomes_the_docker_run_it_describes() {
        let plan = plan(&Manifests::parse(FIXTURE).unwrap(), "ns").unwrap();
        let api = &plan.services[0];
        assert_eq!(api.workload, "Deployment/rel-api");
        assert_eq!(
            api.env,
            [("PORT", "8000"), ("TOKEN", "secret"), ("NS", "ns")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(api.user.as_deref(), Some("65532:65532"));
        assert!(api.read_only && api.drop_all && api.no_new_privileges);
        assert_eq!(api.tmpfs, ["/tmp:mode=1777,size=16m"]);
        assert_eq!(api.aliases[..2], ["rel-api".to_string(), "rel-api.ns".to_string()]);
        assert!(
            matches!(&api.readiness, Some(Probe { check: Check::Http { port: 8000, path }, .. }) if path == "/readyz")
        );
        let run = Running::new(&Docker::default()).docker_run(api, true).to_string();
        assert!(
            run.contains("--read-only --cap-drop ALL --security-opt no-new-privileges"),
            "{run}"
        );
        assert!(
            run.contains("TOKEN=…") && !run.contains("secret"),
            "a secret on the command line: {run}"
        );
        assert!(run.ends_with("api:1 --verbose"), "{run}");
    }
}
