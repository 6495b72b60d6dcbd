//! `cargo xtask verify --url URL`: the smoke suite (the `todo-smoke` crate, which `helm test`
//! also runs inside the cluster) against a running deployment, through its public URL (the
//! frontend), the way a user's browser reaches it: against `cargo xtask dev`, containers and
//! clusters alike. Prints a table (or JSON) and fails on any failed check.
//!
//! Without `--url` it verifies the release in its cluster: every Deployment and StatefulSet
//! rolled out, every pod Running and Ready with no restart, then the smoke suite through
//! `kubectl port-forward` to the frontend (and the MCP tool list through one to the MCP server),
//! and `helm test`. The port-forwards are children that are stopped on every way out.

use anyhow::{Context as _, bail, ensure};

use crate::cluster::status_check;
use crate::flags::VerifyArgs;
use crate::tools::helm::Helm;
use crate::tools::kubectl::Kubectl;

pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    if args.url.is_none() {
        return in_cluster(args);
    }
    run_with_secret(args, std::env::var("BETTER_AUTH_SECRET").ok().as_deref())
}

/// The release in its cluster: rolled out, healthy, the smoke suite through port-forwards, then
/// `helm test`.
pub fn in_cluster(args: &VerifyArgs) -> anyhow::Result<()> {
    // Progress goes to stderr when another command (deploy) keeps stdout for its result.
    let say = |line: String| {
        if args.quiet_stdout {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let r = &args.release;
    let kubectl = Kubectl::new(r.context.as_deref(), &r.namespace);
    let selector = format!("app.kubernetes.io/instance={}", r.release);
    let workloads = kubectl.list("deployments,statefulsets", Some(&selector))?;
    let rollouts = status_check::rollouts(&workloads);
    ensure!(
        !rollouts.is_empty(),
        "release {} has no workload in namespace {}: deploy it with cargo xtask deploy",
        r.release,
        r.namespace
    );
    let unfinished: Vec<String> = rollouts
        .iter()
        .filter(|w| !w.done)
        .map(|w| format!("{}: {}", w.workload, w.detail))
        .collect();
    ensure!(unfinished.is_empty(), "not rolled out:\n  {}", unfinished.join("\n  "));
    say(format!(
        "rolled out: {}",
        rollouts
            .iter()
            .map(|w| w.workload.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let pods = kubectl.list("pods", Some(&selector))?;
    let events = kubectl
        .list("events", None)
        .unwrap_or_else(|_| serde_json::json!({"items": []}));
    let mut wrong: Vec<String> = status_check::examine(&pods, &events, r.context.as_deref().unwrap_or("minikube"))
        .iter()
        .map(ToString::to_string)
        .collect();
    let serving: Vec<&serde_json::Value> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| status_check::is_serving(p))
        .collect();
    let mut restarted = Vec::new();
    for pod in &serving {
        let name = pod["metadata"]["name"].as_str().unwrap_or("?");
        // A restart is not a failure in itself: a service that started before its database
        // (or every pod after `minikube stop` and `start`) restarts once and then serves. One
        // that is crashing now is caught above (CrashLoopBackOff) or below (not Running), and
        // `cargo xtask status` and `diagnose` show the history.
        for status in pod["status"]["containerStatuses"].as_array().into_iter().flatten() {
            let restarts = status["restartCount"].as_u64().unwrap_or(0);
            if restarts > 0 {
                let last = &status["lastState"]["terminated"];
                restarted.push(format!(
                    "pod {name} (container {}): restarted {restarts} times, last exit {} ({}); running and ready now (kubectl logs {name} -c {} --previous)",
                    status["name"].as_str().unwrap_or("?"),
                    last["exitCode"].as_i64().map_or_else(|| "unknown".to_string(), |c| c.to_string()),
                    last["reason"].as_str().unwrap_or("no reason given"),
                    status["name"].as_str().unwrap_or("?"),
                ));
            }
        }
        if pod["status"]["phase"] != "Running" {
            wrong.push(format!(
                "pod {name}: {}",
                pod["status"]["phase"].as_str().unwrap_or("no phase")
            ));
        }
    }
    wrong.dedup();
    ensure!(wrong.is_empty(), "pods not healthy:\n  {}", wrong.join("\n  "));
    if restarted.is_empty() {
        say(format!("{} pods Running and Ready, none restarted", serving.len()));
    } else {
        say(format!(
            "{} pods Running and Ready; restarted before:\n  {}",
            serving.len(),
            restarted.join("\n  ")
        ));
    }

    let frontend = kubectl.port_forward(&format!("{}-frontend", r.release), 3000)?;
    let mcp = kubectl.port_forward(&format!("{}-mcp", r.release), 8001)?;
    let through = VerifyArgs {
        url: Some(frontend.url()),
        mcp: Some(format!("{}/mcp", mcp.url())),
        ..args.clone()
    };
    let smoke = run_with_secret(&through, None);
    drop(frontend);
    drop(mcp);
    smoke?;

    let helm = Helm::at(&which::which("helm").context("helm is not installed: run cargo xtask doctor")?)?
        .in_context(r.context.as_deref());
    helm.test(&r.release, &r.namespace).run().context("helm test failed")?;
    say(format!(
        "release {} verified: rolled out, healthy, the smoke suite through port-forwards, helm test",
        r.release
    ));
    Ok(())
}

/// `secret`: the deployment's token secret, when known, so the expired token it sends is refused
/// for its expiry alone.
pub fn run_with_secret(args: &VerifyArgs, secret: Option<&str>) -> anyhow::Result<()> {
    let url = args.url.clone().unwrap_or_default();
    let target = todo_smoke::Target {
        url: url.clone(),
        services: args
            .service
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(name, url)| (name.to_string(), url.to_string()))
            .collect(),
        mcp: args.mcp.clone(),
        secret: secret.map(str::to_string),
    };
    let report = todo_smoke::run(&target);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else if args.quiet_stdout {
        // Inside another command (deploy) whose stdout is its own result.
        eprint!("{}", report.table());
    } else {
        report.print();
    }
    let failed = report.failed();
    if failed > 0 {
        bail!("{failed} of {} checks failed against {url}", report.checks.len());
    }
    Ok(())
}
