//! MCP clients nobody here wrote, against the real `todo-mcp` binary: the official conformance
//! suite (app-agnostic scenarios, both protocol generations) and the MCP Inspector CLI (tools,
//! resources and prompts).
//!
//! The services run on a throwaway SQLite database with a freshly signed-up user. The conformance
//! suite cannot send an `Authorization` header, so it goes through a [`TokenProxy`]; the Inspector
//! sends the user's token itself.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::checks::pinned_node::NodeTools;
use crate::local::api::{free_port, sign_up};
use crate::local::supervisor::{Spec, Supervisor};
use crate::local::token_proxy::TokenProxy;
use crate::project::{Profile, build_services, random_hex, root, target_dir};

/// The scenarios that judge any MCP server, per protocol generation. The rest of the suite calls
/// fixture tools (`test_simple_text`, …) that only its reference server has.
const SCENARIOS: &[(&str, &[&str])] = &[
    (
        "2025-11-25",
        &[
            "server-initialize",
            "server-session-lifecycle",
            "tools-list",
            "resources-list",
            "resources-subscribe",
            "resources-unsubscribe",
            "prompts-list",
            "dns-rebinding-protection",
        ],
    ),
    (
        "2026-07-28",
        &[
            "server-stateless",
            "tools-list",
            "resources-list",
            "prompts-list",
            "sep-2164-resource-not-found",
            "dns-rebinding-protection",
            "http-header-validation",
            "caching",
        ],
    ),
];

const TOOLS: [&str; 5] = ["add_task", "complete_task", "delete_task", "list_tasks", "update_task"];

pub fn run(sh: &Shell) -> anyhow::Result<()> {
    let Some(tools) = NodeTools::ensure(sh)? else {
        return Ok(());
    };
    let bin_dir = build_services(sh, Profile::Debug)?;
    let data = tempfile::tempdir().context("cannot create a temporary folder")?;
    let (backend, mcp) = (free_port()?, free_port()?);
    let _services = start_services(&bin_dir, data.path(), backend, mcp)?;
    let (token, user) = sign_up(&format!("http://127.0.0.1:{backend}"), "mcp-clients")?;
    let mcp_addr = SocketAddr::from(([127, 0, 0, 1], mcp));

    let proxy = TokenProxy::start(mcp_addr, &token)?;
    conformance(sh, &tools, proxy.addr)?;
    drop(proxy);
    inspector(sh, &tools, &format!("http://127.0.0.1:{mcp}/mcp"), &token, &user)?;
    println!("\nMCP clients: conformance suite and Inspector CLI passed");
    Ok(())
}

fn start_services(bin_dir: &Path, data: &Path, backend: u16, mcp: u16) -> anyhow::Result<Supervisor> {
    let database = format!("sqlite:{}", data.join("todo.db").display());
    let secret = random_hex(32);
    let service = |name: &'static str, binary: &str, port: u16| {
        Spec::new(name, bin_dir.join(binary))
            .env("PORT", &port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("DATABASE_URL", &database)
            .env("BETTER_AUTH_SECRET", &secret)
            // The suites probe protocol errors on purpose; rmcp logs each one as a warning.
            .env("RUST_LOG", "warn,rmcp=error")
    };
    let mut supervisor = Supervisor::start(vec![
        service("backend", "todo-backend", backend),
        service("mcp", "todo-mcp", mcp),
    ])?;
    for port in [backend, mcp] {
        supervisor.wait_ready(&format!("http://127.0.0.1:{port}/readyz"), Duration::from_secs(60))?;
    }
    Ok(supervisor)
}

/// Runs each scenario through the suite's CLI, which exits non-zero on a failed check that the
/// baseline does not excuse, and on a baselined check that now passes.
fn conformance(sh: &Shell, tools: &NodeTools, proxy: SocketAddr) -> anyhow::Result<()> {
    let conformance = tools.bin("conformance");
    let baseline = root().join("xtask/node-tools/conformance-baseline.yml");
    let url = format!("http://{proxy}/mcp");
    let _path = sh.push_env("PATH", tools.path_env());
    for (version, scenarios) in SCENARIOS {
        for scenario in *scenarios {
            let results = target_dir().join("mcp-conformance").join(version).join(scenario);
            println!("\n==> MCP conformance: {scenario} (spec {version})");
            cmd!(
                sh,
                "{conformance} server --url {url} --scenario {scenario} --spec-version {version} --expected-failures {baseline} -o {results}"
            )
            .run()
            .with_context(|| format!("conformance scenario {scenario} (spec {version}) failed; details in {}", results.display()))?;
        }
    }
    Ok(())
}

/// `tools/list` (with the Inspector's schema portability checks), `tools/call`, `resources/read`
/// and `prompts/get` through the Inspector CLI, checking what a user of it would see.
fn inspector(sh: &Shell, tools: &NodeTools, url: &str, token: &str, user: &str) -> anyhow::Result<()> {
    println!("\n==> MCP Inspector CLI against {url}");
    let catalog = tempfile::NamedTempFile::new()?;
    let _path = sh.push_env("PATH", tools.path_env());
    let _catalog = sh.push_env("MCP_CATALOG_PATH", catalog.path());
    let inspector = tools.bin("mcp-inspector");
    let header = format!("Authorization: Bearer {token}");
    let base = [url, "--transport", "http", "--header", header.as_str()];

    let listed = json_output(cmd!(sh, "{inspector} --cli {base...} --method tools/list --strict"))?;
    let mut names: Vec<&str> = listed["tools"]
        .as_array()
        .context("tools/list answered no tools array")?
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    names.sort_unstable();
    ensure!(names == TOOLS, "tools/list answered {names:?}, expected {TOOLS:?}");

    let title = format!("Inspector task {}", random_hex(3));
    let user_arg = format!("user_id={user}");
    let title_arg = format!("title={title}");
    let added = json_output(cmd!(
        sh,
        "{inspector} --cli {base...} --method tools/call --tool-name add_task --tool-arg {user_arg} {title_arg}"
    ))?;
    ensure!(
        added["structuredContent"]["status"] == "created" && added["structuredContent"]["title"] == title.as_str(),
        "add_task through the Inspector answered {added}"
    );

    let listed = json_output(cmd!(
        sh,
        "{inspector} --cli {base...} --method tools/call --tool-name list_tasks --tool-arg {user_arg} status=pending"
    ))?;
    let titles: Vec<&str> = listed["structuredContent"]["tasks"]
        .as_array()
        .context("list_tasks answered no tasks")?
        .iter()
        .filter_map(|t| t["title"].as_str())
        .collect();
    ensure!(
        titles == [title.as_str()],
        "list_tasks through the Inspector answered {titles:?}"
    );

    // The same task, read as a resource and embedded in a prompt.
    let read = json_output(cmd!(
        sh,
        "{inspector} --cli {base...} --method resources/read --uri todo://tasks/pending"
    ))?;
    let text = read["contents"][0]["text"].as_str().unwrap_or_default();
    ensure!(
        read["contents"][0]["uri"] == "todo://tasks/pending" && text.contains(&title),
        "resources/read todo://tasks/pending through the Inspector answered {read}"
    );
    let plan = json_output(cmd!(
        sh,
        "{inspector} --cli {base...} --method prompts/get --prompt-name plan_my_day"
    ))?;
    let embedded = plan["messages"][0]["content"]["resource"]["text"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        embedded.contains(&title),
        "prompts/get plan_my_day through the Inspector answered {plan}"
    );

    // A tool error is a result with isError, which the Inspector reports with exit code 5.
    let missing = cmd!(
        sh,
        "{inspector} --cli {base...} --method tools/call --tool-name complete_task --tool-arg {user_arg} task_id=999999"
    )
    .ignore_status()
    .output()?;
    let stdout = String::from_utf8_lossy(&missing.stdout);
    if missing.status.code() != Some(5) || !stdout.contains("not found") {
        bail!(
            "complete_task of a missing task through the Inspector: exit {:?}, output {stdout}",
            missing.status.code()
        );
    }
    Ok(())
}

fn json_output(command: xshell::Cmd<'_>) -> anyhow::Result<Value> {
    let output = command.output()?;
    serde_json::from_slice(&output.stdout).with_context(|| {
        format!(
            "the Inspector printed no JSON: {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
