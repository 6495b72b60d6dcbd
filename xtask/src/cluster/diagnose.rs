//! `cargo xtask diagnose`: what is wrong with the release, built in and always first: every
//! pod of the release and its events turned into problems a person can act on (`status_check`),
//! with the last log lines of a container that crashes. Then, when they are installed, the
//! same findings put to kubectl-ai (read-only unless `--allow-changes`) and to kagent's
//! k8s-agent; for Docker's Gordon, which is interactive only, the command to try is printed.
//! A missing assistant is one line, never a failure. Exit 1 when a problem was found.

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use crate::cluster::status_check::{self, Kind, Problem};
use crate::flags::DiagnoseArgs;
use crate::tools::ai;
use crate::tools::kubectl::Kubectl;

const ASSISTANT_TIMEOUT: Duration = Duration::from_secs(120);
const LOG_LINES: u32 = 20;

/// The built-in findings: each problem, and for a crash loop what the container last printed.
pub struct Findings {
    pub pods: usize,
    pub problems: Vec<(Problem, Option<String>)>,
}

/// Reads the release's pods and the namespace's events, and examines them.
pub fn examine(kubectl: &Kubectl, release: &str, profile: &str) -> anyhow::Result<Findings> {
    let selector = format!("app.kubernetes.io/instance={release}");
    let pods = kubectl.list("pods", Some(&selector))?;
    let events = kubectl.list("events", None).unwrap_or_else(|_| json!({"items": []}));
    let problems = status_check::examine(&pods, &events, profile)
        .into_iter()
        .map(|problem| {
            let logs = match (&problem.kind, &problem.container) {
                (Kind::CrashLoop, Some(container)) => kubectl.logs(&problem.pod, container, LOG_LINES, true).ok(),
                (Kind::Failed | Kind::Unready, Some(container)) => {
                    kubectl.logs(&problem.pod, container, LOG_LINES, false).ok()
                }
                _ => None,
            };
            (problem, logs)
        })
        .collect();
    Ok(Findings {
        pods: pods["items"].as_array().map_or(0, Vec::len),
        problems,
    })
}

pub fn print(findings: &Findings) {
    if findings.problems.is_empty() {
        println!("{} pods, no problem found", findings.pods);
        return;
    }
    let count = findings.problems.len();
    println!(
        "{} pods, {count} {}:",
        findings.pods,
        if count == 1 { "problem" } else { "problems" }
    );
    for (problem, logs) in &findings.problems {
        println!("\n- {problem}");
        if let Some(logs) = logs.as_deref().filter(|l| !l.trim().is_empty()) {
            println!("  its last lines:");
            for line in logs.lines() {
                println!("    | {line}");
            }
        }
    }
}

/// The question the assistants get: the findings, and where to look.
fn question(findings: &Findings, release: &str, namespace: &str, context: Option<&str>) -> String {
    let mut question = format!(
        "The Helm release {release} in namespace {namespace}{} is unhealthy. ",
        context.map(|c| format!(" (kube context {c})")).unwrap_or_default()
    );
    if findings.problems.is_empty() {
        question.push_str("Its pods look healthy; find what else is wrong.");
    } else {
        question.push_str("Found so far: ");
        let found: Vec<String> = findings
            .problems
            .iter()
            .map(|(p, _)| format!("pod {}: {}", p.pod, p.message))
            .collect();
        question.push_str(&found.join("; "));
        question.push_str(". Explain the cause and the fix.");
    }
    question
}

pub fn run(args: &DiagnoseArgs) -> anyhow::Result<()> {
    let kubectl = Kubectl::new(args.context.as_deref(), &args.namespace);
    let profile = args.context.as_deref().unwrap_or("minikube");
    let findings = examine(&kubectl, &args.release, profile)?;
    let query = question(&findings, &args.release, &args.namespace, args.context.as_deref());
    if !args.json {
        // The built-in analysis first: it is complete, and the assistants can take minutes.
        println!("==> built-in analysis: the release's pods and events");
        print(&findings);
    }
    // Both assistants at once; each bounded by its own timeout.
    let assistants: Vec<(&str, Result<ai::Answer, String>)> = if args.no_ai {
        Vec::new()
    } else {
        std::thread::scope(|scope| {
            let asked: Vec<_> = ["kubectl-ai", "kagent"]
                .into_iter()
                .map(|tool| (tool, scope.spawn(|| ask(tool, &query, args.allow_changes))))
                .collect();
            asked
                .into_iter()
                .map(|(tool, handle)| (tool, handle.join().unwrap_or_else(|_| Err("the call panicked".into()))))
                .collect()
        })
    };
    let gordon = ai::gordon_available().then(|| format!("docker ai {query:?}"));
    if args.json {
        let report = json!({
            "pods": findings.pods,
            "problems": findings.problems.iter().map(|(p, logs)| json!({
                "pod": p.pod, "container": p.container, "kind": format!("{:?}", p.kind),
                "fatal": p.hopeless, "message": p.message, "fix": p.fix, "logs": logs,
            })).collect::<Vec<Value>>(),
            "assistants": assistants.iter().map(|(name, answer)| json!({
                "name": name,
                "answer": answer.as_ref().ok().and_then(|a| a.as_ref().ok()),
                "note": match answer { Err(why) => Some(why.clone()), Ok(Err(e)) => Some(format!("{e:#}")), Ok(Ok(_)) => None },
            })).collect::<Vec<Value>>(),
            "gordon": gordon,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for (name, answer) in &assistants {
            match answer {
                Err(why) => println!("\n==> {name}: {why}"),
                Ok(Err(e)) => println!("\n==> {name}: {e:#}"),
                Ok(Ok(text)) => println!("\n==> {name} says:\n{text}"),
            }
        }
        match &gordon {
            Some(command) => println!("\n==> Docker's Gordon is interactive only; to ask it, run:\n{command}"),
            None => println!("\n==> Docker's Gordon: not available (Docker Desktop only)"),
        }
    }
    if !findings.problems.is_empty() {
        bail!(
            "{} problem(s) in release {} (namespace {})",
            findings.problems.len(),
            args.release,
            args.namespace
        );
    }
    Ok(())
}

/// `Err(why)` when the assistant is not installed (one line, not a failure); else its answer.
fn ask(tool: &str, query: &str, allow_changes: bool) -> Result<ai::Answer, String> {
    if which::which(tool).is_err() {
        return Err("not installed (optional; the built-in analysis above is complete without it)".into());
    }
    Ok(match tool {
        "kubectl-ai" => ai::ask_kubectl_ai(query, allow_changes, ASSISTANT_TIMEOUT),
        _ => ai::ask_kagent(query, ASSISTANT_TIMEOUT),
    })
}
