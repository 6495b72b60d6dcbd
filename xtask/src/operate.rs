//! Operating a deployed release: `rollback`, `status`, `logs` and `teardown`. Each is a few
//! calls of the typed wrappers; what they print is read from the tools' JSON, never scraped.

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::flags::{LogsArgs, ReleaseArgs, RollbackArgs, ScaleArgs, TeardownArgs};
use crate::tools::helm::{self, Helm};
use crate::tools::kubectl::Kubectl;
use crate::tools::minikube::Minikube;

fn helm() -> anyhow::Result<Helm> {
    Helm::at(&which::which("helm").context("helm is not installed: run cargo xtask doctor")?)
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
    let helm = helm()?;
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
    println!(
        "rolling {} back from revision {} ({}) to {to}",
        r.release, current.revision, current.status
    );
    helm.rollback(&r.release, to, &r.namespace, r.context.as_deref(), &args.timeout)
        .run()?;
    helm.test(&r.release, &r.namespace, r.context.as_deref())
        .run()
        .context("the rolled-back release does not pass helm test")?;
    println!("release {} is at revision {to} again, and passes helm test", r.release);
    Ok(())
}

/// `status`: the release's revisions, pods, Services and how to reach it; `kubectl top` when
/// metrics are served.
pub fn status(args: &ReleaseArgs) -> anyhow::Result<()> {
    let helm = helm()?;
    let history = helm.history(&args.release, &args.namespace)?;
    if history.is_empty() {
        bail!(
            "release {} does not exist in namespace {}: deploy it with cargo xtask deploy",
            args.release,
            args.namespace
        );
    }
    println!("release {} in namespace {}", args.release, args.namespace);
    for revision in history.iter().rev().take(5) {
        println!(
            "  revision {:>3}  {:<16} {}",
            revision.revision, revision.status, revision.description
        );
    }
    let kubectl = kubectl(args);
    let pods = kubectl.list("pods", Some(&selector(args)))?;
    println!("\npods");
    for pod in pods["items"].as_array().into_iter().flatten() {
        let statuses: Vec<&Value> = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let ready = statuses.iter().filter(|s| s["ready"] == true).count();
        let restarts: u64 = statuses.iter().filter_map(|s| s["restartCount"].as_u64()).sum();
        println!(
            "  {:<48} {:<10} ready {ready}/{}  restarts {restarts}",
            pod["metadata"]["name"].as_str().unwrap_or("?"),
            pod["status"]["phase"].as_str().unwrap_or("?"),
            statuses.len()
        );
    }
    let services = kubectl.list("services", Some(&selector(args)))?;
    println!("\nservices");
    let mut node_port = None;
    for service in services["items"].as_array().into_iter().flatten() {
        let name = service["metadata"]["name"].as_str().unwrap_or("?");
        let ports: Vec<String> = service["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| match p["nodePort"].as_u64() {
                Some(node) => {
                    node_port = Some((name.to_string(), node));
                    format!("{}→{node}", p["port"])
                }
                None => p["port"].to_string(),
            })
            .collect();
        println!(
            "  {name:<32} {:<10} {}",
            service["spec"]["type"].as_str().unwrap_or("?"),
            ports.join(", ")
        );
    }
    if let Some((service, _)) = &node_port {
        println!(
            "\nopen it: minikube service {service} -n {} --url, or kubectl -n {} port-forward service/{service} 3000:3000",
            args.namespace, args.namespace
        );
    }
    match kubectl.command(["top", "pods", "--selector", &selector(args)]).output() {
        Ok(top) if top.success() => println!("\nresources (kubectl top)\n{}", top.stdout.trim_end()),
        _ => {
            println!("\nresources: kubectl top needs the metrics-server addon (minikube addons enable metrics-server)")
        }
    }
    Ok(())
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
    // kubectl's stdout is the logs: straight to ours.
    eprintln!("$ {command}");
    let output = command.output()?;
    if !output.success() {
        bail!("`{command}` failed ({}): {}", output.exit(), output.last_error_line());
    }
    print!("{}", output.stdout);
    Ok(())
}

/// `teardown [--cluster]`: the release and its namespace (its volumes and Secrets with it);
/// with `--cluster`, the Minikube profile too.
pub fn teardown(args: &TeardownArgs) -> anyhow::Result<()> {
    let r = &args.release;
    let helm = helm()?;
    if helm.history(&r.release, &r.namespace)?.is_empty() {
        println!("release {} is not installed in namespace {}", r.release, r.namespace);
    } else {
        helm.uninstall(&r.release, &r.namespace, r.context.as_deref()).run()?;
    }
    // Deleting the namespace takes what the release kept on purpose (the database's Secret) and
    // its volume claims.
    kubectl(r)
        .command(["delete", "namespace", &r.namespace, "--ignore-not-found", "--wait=true"])
        .run()?;
    if args.cluster {
        let profile = r.context.as_deref().unwrap_or("minikube");
        Minikube::new(profile).delete_command().run()?;
    }
    println!(
        "torn down: release {}, namespace {}{}",
        r.release,
        r.namespace,
        if args.cluster { ", the Minikube cluster" } else { "" }
    );
    Ok(())
}

/// `scale SERVICE N`: through the release's values (`--reset-then-reuse-values --set SERVICE.replicaCount=N`),
/// so the next deploy, which reuses them, keeps the count; refused while an autoscaler owns it.
pub fn scale(args: &ScaleArgs) -> anyhow::Result<()> {
    let r = &args.release;
    let helm = helm()?;
    if helm.history(&r.release, &r.namespace)?.is_empty() {
        bail!(
            "release {} does not exist in namespace {}: deploy it first",
            r.release,
            r.namespace
        );
    }
    let mut get = helm.command([
        "get",
        "values",
        &r.release,
        "--namespace",
        &r.namespace,
        "--all",
        "--output",
        "json",
    ]);
    if let Some(context) = &r.context {
        get = get.args(["--kube-context", context.as_str()]);
    }
    let values: Value = serde_json::from_str(&get.read()?).context("`helm get values -o json` printed no JSON")?;
    let service = &args.service;
    if values[service]["autoscaling"]["enabled"] == true {
        bail!(
            "an autoscaler owns {service}'s replica count ({service}.autoscaling.enabled=true): change {service}.autoscaling.minReplicas and maxReplicas instead (cargo xtask deploy --set ...)"
        );
    }
    let chart = crate::chart::chart_dir();
    let mut upgrade = helm.command([
        "upgrade".to_string(),
        r.release.clone(),
        chart.to_string_lossy().into_owned(),
        "--namespace".to_string(),
        r.namespace.clone(),
        "--reset-then-reuse-values".to_string(),
        "--set".to_string(),
        format!("{service}.replicaCount={}", args.replicas),
    ]);
    if let Some(context) = &r.context {
        upgrade = upgrade.args(["--kube-context", context.as_str()]);
    }
    if args.dry_run {
        println!("$ {upgrade}");
        return Ok(());
    }
    upgrade.run()?;
    println!(
        "{service}: {} replicas requested; the release's values keep the count for the next deploy",
        args.replicas
    );
    Ok(())
}
