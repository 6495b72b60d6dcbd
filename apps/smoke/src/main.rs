//! `todo-smoke`: the smoke suite as a program, for `helm test` (the chart runs it in a pod
//! against the Services' DNS names) or any machine that reaches a deployment.
//!
//! `FRONTEND_URL` (required): the deployment's public URL. `MCP_URL`: the MCP endpoint, whose
//! tool list is checked too. `SMOKE_SERVICES`: more services to probe, as `name=url,...`.
//! Prints one line per check; exit code 1 when any failed, 2 on bad configuration.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(url) = std::env::var("FRONTEND_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!(
            "todo-smoke: set FRONTEND_URL to the deployment's public URL, e.g. http://todo-chatbot-frontend:3000"
        );
        return ExitCode::from(2);
    };
    let services = std::env::var("SMOKE_SERVICES")
        .unwrap_or_default()
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, url)| (name.trim().to_string(), url.trim().to_string()))
        .collect();
    let target = todo_smoke::Target {
        url,
        services,
        mcp: std::env::var("MCP_URL").ok().filter(|u| !u.is_empty()),
        secret: None,
    };
    println!("todo-smoke: checking {}", target.url);
    let report = todo_smoke::run(&target);
    report.print();
    if report.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
