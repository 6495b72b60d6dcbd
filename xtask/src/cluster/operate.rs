//! Operating a deployed release: `rollback`, `status`, `logs` and `teardown`. Each is a few
//! calls of the typed wrappers; what they print is read from the tools' JSON, never scraped.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::flags::{LogsArgs, ReleaseArgs, RollbackArgs, ScaleArgs, StatusArgs, TeardownArgs};
use crate::tools::helm::{self, Helm};
use crate::tools::kubectl::Kubectl;
use crate::tools::minikube::Minikube;

/// Helm, talking to the release's cluster in every command.
fn helm(release: &ReleaseArgs) -> anyhow::Result<Helm> {
    Ok(
        Helm::at(&which::which("helm").context("helm is not installed: run cargo xtask doctor")?)?
            .in_context(release.context.as_deref()),
    )
}

fn kubectl(release: &ReleaseArgs) -> Kubectl {
    Kubectl::new(release.context.as_deref(), &release.namespace)
}

fn selector(release: &ReleaseArgs) -> String {
    format!("app.kubernetes.io/instance={}", release.release)
}

/// `rollback [--to REV]`: back to REV (default: the last good revision before the current one),
/// waiting until it is ready, then `helm test`.
pub fn rollback(args: &RollbackArgs) -> anyhow::Result<()> {
    let r = &args.release;
    let helm = helm(r)?;
    let history = helm.history(&r.release, &r.namespace)?;
    let Some(current) = history.last() else {
        bail!(
            "release {} does not exist in namespace {}: nothing to roll back",
            r.release,
            r.namespace
        );
    };
    let to = match args.to {
        Some(to) if history.iter().any(|h| h.revision == to) && to != current.revision => to,
        Some(to) => bail!(
            "revision {to} is not an earlier revision of {} (its revisions: {})",
            r.release,
            history
                .iter()
                .map(|h| h.revision.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => helm::last_good(&history, current.revision).with_context(|| {
            format!(
                "release {} has no earlier revision that was deployed: nothing to roll back to",
                r.release
            )
        })?,
    };
    let rollback = helm.rollback(&r.release, to, &r.namespace, &args.timeout);
    let test = helm.test(&r.release, &r.namespace);
    if args.dry_run {
        println!(
            "# from revision {} ({}) to {to}:\n$ {rollback}\n$ {test}",
            current.revision, current.status
        );
        return Ok(());
    }
    eprintln!(
        "rolling {} back from revision {} ({}) to {to}",
        r.release, current.revision, current.status
    );
    rollback.run()?;
    test.run().context("the rolled-back release does not pass helm test")?;
    result(
        args.json,
        format!("release {} is at revision {to} again, and passes helm test", r.release),
        json!({"release": r.release, "namespace": r.namespace, "from": current.revision, "to": to, "helm_test": "passed"}),
    )
}

/// A command's result: a line for a person, or with `--json` the same as JSON. Progress went
/// to stderr, so stdout holds only this.
fn result(as_json: bool, text: String, value: Value) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{text}");
    }
    Ok(())
}

/// `status`: the release's revisions, pods, Services and how to reach it; `kubectl top` when
/// metrics are served. `--json` prints the same as one object.
pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let r = &args.release;
    let helm = helm(r)?;
    let history = helm.history(&r.release, &r.namespace)?;
    if history.is_empty() {
        bail!(
            "release {} does not exist in namespace {}: deploy it with cargo xtask deploy",
            r.release,
            r.namespace
        );
    }
    let kubectl = kubectl(r);
    let pods: Vec<Value> = kubectl.list("pods", Some(&selector(r)))?["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pod| {
            let statuses: Vec<&Value> = pod["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let ready = statuses.iter().filter(|s| s["ready"] == true).count();
            json!({
                "name": pod["metadata"]["name"],
                "phase": pod["status"]["phase"],
                "ready": ready,
                "containers": statuses.len(),
                "restarts": statuses.iter().filter_map(|s| s["restartCount"].as_u64()).sum::<u64>(),
                "images": pod["spec"]["containers"].as_array().into_iter().flatten()
                    .filter_map(|c| c["image"].as_str())
                    .collect::<Vec<_>>(),
                // Still Running while it shuts down after a rollout replaced it.
                "terminating": !pod["metadata"]["deletionTimestamp"].is_null(),
            })
        })
        .collect();
    let serving = serving_tags(&pods);
    let services: Vec<Value> = kubectl.list("services", Some(&selector(r)))?["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            json!({
                "name": s["metadata"]["name"],
                "type": s["spec"]["type"],
                "ports": s["spec"]["ports"].as_array().into_iter().flatten()
                    .map(|p| json!({"port": p["port"], "nodePort": p["nodePort"]}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    let top = kubectl
        .command(["top", "pods", "--selector", &selector(r)])
        .output()
        .ok()
        .filter(|o| o.success())
        .map(|o| o.stdout.trim_end().to_string());
    let exposed = services
        .iter()
        .find(|s| {
            s["ports"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["nodePort"].is_u64()))
        })
        .and_then(|s| s["name"].as_str().map(str::to_string));
    let open = exposed.map(|service| {
        format!(
            "minikube service {service} -n {ns} --url, or kubectl -n {ns} port-forward service/{service} 3000:3000",
            ns = r.namespace
        )
    });
    if args.json {
        let report = json!({
            "release": r.release,
            "namespace": r.namespace,
            "revisions": history.iter().map(|h| json!({"revision": h.revision, "status": h.status, "description": h.description})).collect::<Vec<_>>(),
            "serving": serving,
            "pods": pods,
            "services": services,
            "open": open,
            "top": top,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("release {} in namespace {}", r.release, r.namespace);
    for revision in history.iter().rev().take(5) {
        println!(
            "  revision {:>3}  {:<16} {}",
            revision.revision, revision.status, revision.description
        );
    }
    match serving.as_slice() {
        [] => println!("\nserving: no todo-chatbot pod is ready"),
        [tag] => println!("\nserving: images {tag}"),
        tags => println!("\nserving: images {} (a rollout is in progress)", tags.join(" and ")),
    }
    println!("\npods");
    for pod in &pods {
        println!(
            "  {:<48} {:<10} ready {}/{}  restarts {}",
            pod["name"].as_str().unwrap_or("?"),
            pod["phase"].as_str().unwrap_or("?"),
            pod["ready"],
            pod["containers"],
            pod["restarts"]
        );
    }
    println!("\nservices");
    for service in &services {
        let ports: Vec<String> = service["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p["nodePort"].as_u64() {
                Some(node) => format!("{}→{node}", p["port"]),
                None => p["port"].to_string(),
            })
            .collect();
        println!(
            "  {:<32} {:<10} {}",
            service["name"].as_str().unwrap_or("?"),
            service["type"].as_str().unwrap_or("?"),
            ports.join(", ")
        );
    }
    if let Some(open) = &open {
        println!("\nopen it: {open}");
    }
    match &top {
        Some(top) => println!("\nresources (kubectl top)\n{top}"),
        None => {
            println!("\nresources: kubectl top needs the metrics-server addon (minikube addons enable metrics-server)")
        }
    }
    Ok(())
}

/// The image tags of the project's images (`todo-<service>`) in the pods that serve: running,
/// every container ready, not shutting down. One tag once a rollout is done; the chart's other
/// images (PostgreSQL) and finished `helm test` pods do not count.
fn serving_tags(pods: &[Value]) -> Vec<String> {
    let ours: Vec<String> = crate::cluster::images::servers()
        .iter()
        .map(|s| format!("todo-{}", s.name))
        .collect();
    let mut tags: Vec<String> = pods
        .iter()
        .filter(|p| p["phase"] == "Running" && p["terminating"] == false && p["ready"] == p["containers"])
        .flat_map(|p| p["images"].as_array().cloned().unwrap_or_default())
        .filter_map(|image| {
            let image = image.as_str()?.split('@').next()?.to_string();
            let (repository, tag) = image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/'))?;
            let name = repository.rsplit('/').next()?;
            ours.iter().any(|o| o == name).then(|| tag.to_string())
        })
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// `logs [SERVICE] [-f]`: the release's containers (or one component's), each line prefixed
/// with its pod; `-f` follows until Ctrl-C.
pub fn logs(args: &LogsArgs) -> anyhow::Result<()> {
    let mut selector = selector(&args.release);
    if let Some(service) = &args.service {
        selector.push_str(&format!(",app.kubernetes.io/name={service}"));
    }
    let mut command = kubectl(&args.release).command([
        "logs".to_string(),
        "--selector".to_string(),
        selector,
        "--all-containers".to_string(),
        "--prefix".to_string(),
        format!("--tail={}", args.tail),
        "--max-log-requests=10".to_string(),
    ]);
    if args.follow {
        command = command.arg("--follow");
    }
    // kubectl's stdout is the logs: straight to ours, as they come. With --follow kubectl never
    // exits while the pods run (`kubectl logs -f` streams `GET …/log?follow=true`), so nothing
    // may wait for it to finish before printing.
    command.stream()
}

/// `teardown [--cluster]`: the release and its namespace (its volumes and Secrets with it);
/// with `--cluster`, the Minikube profile too.
pub fn teardown(args: &TeardownArgs) -> anyhow::Result<()> {
    let r = &args.release;
    let helm = helm(r)?;
    let installed = !helm.history(&r.release, &r.namespace)?.is_empty();
    let mut plan = Vec::new();
    if installed {
        plan.push(helm.uninstall(&r.release, &r.namespace));
    } else {
        eprintln!("release {} is not installed in namespace {}", r.release, r.namespace);
    }
    // Deleting the namespace takes what the release kept on purpose (the database's Secret) and
    // its volume claims.
    plan.push(kubectl(r).command(["delete", "namespace", &r.namespace, "--ignore-not-found", "--wait=true"]));
    if args.cluster {
        plan.push(Minikube::new(r.context.as_deref().unwrap_or("minikube")).delete_command());
    }
    for command in &plan {
        if args.dry_run {
            println!("$ {command}");
        } else {
            command.run()?;
        }
    }
    if args.dry_run {
        return Ok(());
    }
    result(
        args.json,
        format!(
            "torn down: release {}, namespace {}{}",
            r.release,
            r.namespace,
            if args.cluster { ", the Minikube cluster" } else { "" }
        ),
        json!({"release": r.release, "namespace": r.namespace, "uninstalled": installed, "namespace_deleted": true, "cluster_deleted": args.cluster}),
    )
}

/// `scale SERVICE N`: through the release's values (`--reset-then-reuse-values --set SERVICE.replicaCount=N`),
/// so the next deploy, which reuses them, keeps the count; refused while an autoscaler owns it.
pub fn scale(args: &ScaleArgs) -> anyhow::Result<()> {
    let r = &args.release;
    let helm = helm(r)?;
    if helm.history(&r.release, &r.namespace)?.is_empty() {
        bail!(
            "release {} does not exist in namespace {}: deploy it first",
            r.release,
            r.namespace
        );
    }
    let get = helm.command([
        "get",
        "values",
        &r.release,
        "--namespace",
        &r.namespace,
        "--all",
        "--output",
        "json",
    ]);
    let values: Value = serde_json::from_str(&get.read()?).context("`helm get values -o json` printed no JSON")?;
    let service = &args.service;
    if values[service]["autoscaling"]["enabled"] == true {
        bail!(
            "an autoscaler owns {service}'s replica count ({service}.autoscaling.enabled=true): change {service}.autoscaling.minReplicas and maxReplicas instead (cargo xtask deploy --set ...)"
        );
    }
    let chart = crate::chart::chart_dir();
    let upgrade = helm.command([
        "upgrade".to_string(),
        r.release.clone(),
        chart.to_string_lossy().into_owned(),
        "--namespace".to_string(),
        r.namespace.clone(),
        "--reset-then-reuse-values".to_string(),
        "--set".to_string(),
        format!("{service}.replicaCount={}", args.replicas),
    ]);
    if args.dry_run {
        println!("$ {upgrade}");
        return Ok(());
    }
    upgrade.run()?;
    let profile = r.context.as_deref().unwrap_or("minikube");
    crate::cluster::rollout::watch(
        &kubectl(r),
        &r.release,
        profile,
        std::time::Duration::from_secs(300),
        &std::sync::atomic::AtomicBool::new(false),
    )?;
    result(
        args.json,
        format!(
            "{service}: {} replicas, rolled out; the release's values keep the count for the next deploy",
            args.replicas
        ),
        json!({"release": r.release, "service": service, "replicas": args.replicas, "rolled_out": true}),
    )
}
