//! `cargo xtask dev`: builds the services and runs them on this machine, on an embedded SQLite
//! database in `data/dev` (or PostgreSQL with `--postgres`), with logs prefixed per service.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use xshell::Shell;

use crate::flags::DevArgs;
use crate::local::supervisor::{Spec, Supervisor};
use crate::project::{Profile, build_services, random_hex, root};

pub fn run(sh: &Shell, args: &DevArgs) -> anyhow::Result<()> {
    ensure_port_free(args.port)?;
    let bin_dir = build_services(sh, if args.release { Profile::Release } else { Profile::Debug })?;

    let data_dir = root().join(&args.data_dir);
    fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let secret = dev_secret(&data_dir)?;
    let database_url = match &args.postgres {
        Some(url) => url.clone(),
        None => format!("sqlite:{}", data_dir.join("todo.db").display()),
    };

    // The frontend takes the public port; the others take their usual ports when free.
    let port = args.port.to_string();
    let backend_port = free_port_near(8000, args.port)?;
    let mcp_port = free_port_near(8001, args.port)?;
    let agent_port = free_port_near(8002, args.port)?;
    let backend_url = format!("http://127.0.0.1:{backend_port}");
    let mcp_url = format!("http://127.0.0.1:{mcp_port}");
    let agent_url = format!("http://127.0.0.1:{agent_port}");
    let service = |name: &'static str, binary: &str, port: &str| {
        Spec::new(name, bin_dir.join(binary))
            .env("PORT", port)
            .env("BIND_ADDR", "127.0.0.1")
            .env("DATABASE_URL", &database_url)
            .env("BETTER_AUTH_SECRET", &secret)
            .env("LOG_FORMAT", "pretty")
            .env("DATA_DIR", data_dir.to_string_lossy().as_ref())
    };
    // The agent uses OpenAI when OPENAI_API_KEY is set in this shell, else the offline engine.
    let provider = if std::env::var("OPENAI_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
        "an OpenAI-compatible model (OPENAI_API_KEY is set)"
    } else {
        "the offline engine (set OPENAI_API_KEY for a real model)"
    };
    let mut supervisor = Supervisor::start(vec![
        // The browser's requests come through the frontend (on this machine's loopback), which
        // tells the backend the browser's address in X-Forwarded-For: the one proxy the backend
        // believes for sign-in limits.
        service("backend", "todo-backend", &backend_port.to_string())
            .env("AGENT_URL", &agent_url)
            .env("TRUSTED_PROXIES", "127.0.0.1,::1"),
        service("mcp", "todo-mcp", &mcp_port.to_string()),
        service("agent", "todo-agent", &agent_port.to_string()).env("MCP_URL", &format!("{mcp_url}/mcp")),
        service("frontend", "todo-frontend", &port).env("BACKEND_URL", &backend_url),
    ])?;
    let url = format!("http://127.0.0.1:{port}");
    for base in [&backend_url, &mcp_url, &agent_url, &url] {
        supervisor.wait_ready(&format!("{base}/readyz"), Duration::from_secs(60))?;
    }
    let database = if args.postgres.is_some() {
        "PostgreSQL".to_string()
    } else {
        format!("SQLite ({})", data_dir.join("todo.db").display())
    };
    println!("\ntodo-chatbot is running on {database}. Open {url}\n");
    println!("  frontend {url}   (the web UI; /api goes to the backend)");
    println!("  backend  {backend_url}   API docs: {backend_url}/docs");
    println!("  mcp      {mcp_url}/mcp   (MCP streamable HTTP; send the user's token as a bearer token)");
    println!("  agent    {agent_url}   answering with {provider}");
    println!("Press Ctrl-C to stop.\n");
    supervisor.wait()
}

/// `preferred` if it is free and not the public port, else any free port.
fn free_port_near(preferred: u16, public: u16) -> anyhow::Result<u16> {
    if preferred != public && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn ensure_port_free(port: u16) -> anyhow::Result<()> {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .with_context(|| format!("port {port} is already in use: stop what uses it or pass --port"))
}

/// A secret generated once and kept in the data folder, so sign-ins survive restarts.
fn dev_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("auth-secret");
    if let Ok(secret) = fs::read_to_string(&path)
        && secret.trim().len() >= 32
    {
        return Ok(secret.trim().to_string());
    }
    let secret = random_hex(32);
    fs::write(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret)
}
