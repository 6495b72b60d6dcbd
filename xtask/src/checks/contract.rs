//! The backend's API contract, checked by a tool nobody here wrote: schemathesis, against the
//! backend's own `/openapi.json`, with every check on (`--checks all`) and every phase
//! (examples, coverage, fuzzing, stateful), as a signed-in user, over the real binaries (backend,
//! the MCP server and the agent on its offline engine, so the chat routes answer for real), on
//! SQLite and on PostgreSQL. Any failure fails: the document must say what the routes answer and
//! which inputs they refuse.
//!
//! Closing the account (`DELETE /api/auth/me`) and signing out would end the session the rest
//! runs as, so they have a run of their own, as another user. Each run is bounded in time; CI uses a fixed seed
//! (`SCHEMATHESIS_SEED`, default 1), a developer's run a new one each time (printed, to replay).

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use xshell::Shell;

use crate::exec::Command;
use crate::local::api::{free_port, sign_up};
use crate::local::scratch_schema::ScratchSchema;
use crate::local::supervisor::{Spec, Supervisor};
use crate::project::{Profile, build_services, in_ci, random_hex, skip_or_fail, target_dir};

/// Seconds of generated requests per run (the examples and coverage phases take a few more):
/// every operation but those that end the session, then those alone.
const BUDGET_SECONDS: &str = "20";
const DELETE_ME_BUDGET_SECONDS: &str = "5";
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The path parameter and the token schemathesis runs with, from its environment.
const CONFIG: &str = r#"[parameters]
"path.user_id" = "${CONTRACT_USER_ID}"

[auth.openapi.bearer]
bearer = "${CONTRACT_TOKEN}"

# A schema-valid password may still be guessable ("aaaaaaaa"), which no JSON Schema can say:
# sign-up refuses it with 422 naming the field, as the document declares.
[[operations]]
include-operation-id = "sign_up"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"#;

pub fn run(sh: &Shell) -> anyhow::Result<()> {
    if which::which("st").is_err() {
        return skip_or_fail(
            "the API contract check",
            "schemathesis is not installed (pip install schemathesis)",
        );
    }
    let bin_dir = build_services(sh, Profile::Debug)?;
    let seed = match std::env::var("SCHEMATHESIS_SEED") {
        Ok(seed) => seed,
        Err(_) if in_ci() => "1".to_string(),
        Err(_) => (rand::random::<u32>() % 1_000_000).to_string(),
    };
    let data = tempfile::tempdir().context("cannot create a temporary folder")?;
    let sqlite = format!("sqlite:{}", data.path().join("contract.db").display());
    check(&bin_dir, "sqlite", &sqlite, &seed)?;
    let admin = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_string());
    let schema = match ScratchSchema::create(sh, &admin) {
        Ok(schema) => schema,
        Err(e) => return skip_or_fail("the API contract check on PostgreSQL", &format!("{e:#}")),
    };
    let outcome = check(&bin_dir, "postgresql", &schema.url, &seed);
    schema.drop(sh);
    outcome?;
    println!("\nAPI contract: schemathesis found nothing on SQLite or PostgreSQL (seed {seed})");
    Ok(())
}

/// The backend, agent and MCP server on `database`, and schemathesis against them.
fn check(bin_dir: &Path, engine: &str, database: &str, seed: &str) -> anyhow::Result<()> {
    println!("\n==> the API contract on {engine}: schemathesis against /openapi.json (seed {seed})");
    let [backend, agent, mcp] = [free_port()?, free_port()?, free_port()?];
    let secret = random_hex(32);
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let service = |name: &'static str, binary: &str, port: u16| {
        Spec::new(name, bin_dir.join(binary))
            .env("PORT", &port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("BETTER_AUTH_SECRET", &secret)
            // Refused input is logged as a warning per request, thousands of them here.
            .env("RUST_LOG", "error")
    };
    let mut supervisor = Supervisor::start(vec![
        service("mcp", "todo-mcp", mcp).env("DATABASE_URL", database),
        service("agent", "todo-agent", agent)
            .env("MCP_URL", &format!("{}/mcp", url(mcp)))
            .env("LLM_PROVIDER", "offline"),
        service("backend", "todo-backend", backend)
            .env("DATABASE_URL", database)
            .env("AGENT_URL", &url(agent))
            // Thousands of generated sign-ins from one address would be answered 429 (declared,
            // so allowed) and test nothing else; the limits have their own tests.
            .env("AUTH_SIGN_IN_PER_MINUTE", "0")
            .env("AUTH_SIGN_UP_PER_HOUR", "0")
            .env("WRITES_PER_MINUTE", "0")
            .env("CHATS_PER_MINUTE", "0"),
    ])?;
    for port in [mcp, agent, backend] {
        supervisor.wait_ready(&format!("{}/readyz", url(port)), Duration::from_secs(60))?;
    }
    let config = tempfile::tempdir().context("cannot create a temporary folder")?;
    std::fs::write(config.path().join("schemathesis.toml"), CONFIG)?;
    let reports = target_dir().join("contract").join(engine);
    let base = url(backend);
    for (label, selection, report, budget) in [
        (
            "every operation but those that end the session",
            ["--exclude-operation-id=delete_me", "--exclude-operation-id=sign_out"],
            "api",
            BUDGET_SECONDS,
        ),
        (
            "signing out and closing the account",
            ["--include-operation-id=delete_me", "--include-operation-id=sign_out"],
            "delete-me",
            DELETE_ME_BUDGET_SECONDS,
        ),
    ] {
        let reports = reports.join(report);
        let (token, user) = sign_up(&base, &format!("contract-{engine}"))?;
        println!("\n--- {label}");
        Command::new("st")
            .args(["run", &format!("{base}/openapi.json"), "--checks", "all"])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(selection)
            // One worker: CPython before 3.11.8 can fail hypothesis's code inspection from two
            // threads at once ("AST constructor recursion depth mismatch", seen here).
            .args(["--seed", seed, "--max-time", budget, "--workers", "1"])
            .args(["--report", "junit", "--report-dir", &reports.to_string_lossy()])
            .env("CONTRACT_USER_ID", &user)
            .secret_env("CONTRACT_TOKEN", &token)
            .in_dir(config.path())
            .run()
            .with_context(|| {
                format!(
                    "schemathesis found the backend on {engine} breaking its own OpenAPI document ({label}; above, and in {}); replay with SCHEMATHESIS_SEED={seed}",
                    reports.display()
                )
            })?;
    }
    drop(supervisor);
    Ok(())
}
