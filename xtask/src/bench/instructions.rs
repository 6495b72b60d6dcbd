//! `cargo xtask bench mcp --instructions` and `bench api --instructions`: what one MCP tool call
//! or one API request costs the server, counted in CPU instructions rather than timed.
//!
//! Latency at a fixed concurrency follows the machine's speed, and the 2-core machines this project
//! is benchmarked on differ about threefold, so timed figures compare only within one machine.
//! Valgrind's callgrind counts the instructions `todo-mcp` executes, which stay the same from one
//! run and one machine to the next for the same binary and requests, so a change can be judged
//! anywhere. What it leaves out is as important: time in the kernel (loopback TCP, futex waits)
//! and in the database server, and thread switches, which only the timed benchmark shows.
//!
//! The server runs under callgrind with counting off, so its start-up is not counted; each
//! scenario gets warm-up calls (prepared statements, pool) before counting runs for `--calls`
//! calls and callgrind writes that period's total to a file of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use serde_json::json;

use super::api::{API_PAGE_QUERY, API_SEED_TASKS, seed_organised};
use super::stack::{MCP_SEED_TASKS, MCP_TOOLS, release_service, seed_tasks, tool_call_body};
use crate::local::api::{Client, free_port, get_json, sign_up};
use crate::local::supervisor::{Spec, Supervisor};
use crate::project::random_hex;

const WARM_UP_CALLS: usize = 20;

pub fn check_valgrind() -> anyhow::Result<()> {
    for tool in ["valgrind", "callgrind_control"] {
        which::which(tool)
            .with_context(|| format!("`--instructions` needs {tool} (Debian/Ubuntu: apt-get install valgrind)"))?;
    }
    Ok(())
}

pub fn header() -> String {
    format!("{:<24} {:>18}", "scenario", "instructions/call")
}

/// A service under callgrind with counting off (its start-up is not counted), beside others
/// that run as they are; each [`Counted::per_call`] counts one period of its own.
struct Counted {
    supervisor: Supervisor,
    pid: String,
    out_file: PathBuf,
    dumps: usize,
    _dir: tempfile::TempDir,
}

impl Counted {
    /// Starts `others` and `counted` (its name and readiness URL), and waits until all answer.
    fn start(counted: Spec, ready: &str, others: Vec<(Spec, String)>) -> anyhow::Result<Counted> {
        let dir = tempfile::tempdir()?;
        let out_file = dir.path().join("callgrind.out");
        let name = counted.name;
        let under_callgrind = Spec {
            program: PathBuf::from("valgrind"),
            args: vec![
                "--quiet".into(),
                "--tool=callgrind".into(),
                "--instr-atstart=no".into(),
                format!("--callgrind-out-file={}", out_file.display()),
                counted.program.display().to_string(),
            ],
            ..counted
        };
        let mut specs: Vec<Spec> = Vec::new();
        let mut urls = Vec::new();
        for (spec, url) in others {
            specs.push(spec);
            urls.push(url);
        }
        specs.push(under_callgrind);
        let mut supervisor = Supervisor::start(specs)?;
        for url in urls {
            supervisor.wait_ready(&url, Duration::from_secs(60))?;
        }
        // Under valgrind the server starts some fifty times slower.
        supervisor.wait_ready(ready, Duration::from_secs(180))?;
        let pid = supervisor
            .pid(name)
            .with_context(|| format!("{name} is not running"))?
            .to_string();
        Ok(Counted {
            supervisor,
            pid,
            out_file,
            dumps: 0,
            _dir: dir,
        })
    }

    /// The instructions per call of `call`, averaged over `calls` calls after `WARM_UP_CALLS`
    /// uncounted ones (prepared statements, pools, caches).
    fn per_call(&mut self, calls: usize, mut call: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<u64> {
        for i in 0..WARM_UP_CALLS {
            call(i)?;
        }
        callgrind_control(&self.pid, &["--zero"])?;
        callgrind_control(&self.pid, &["--instr=on"])?;
        for i in 0..calls {
            call(WARM_UP_CALLS + i)?;
        }
        callgrind_control(&self.pid, &["--instr=off"])?;
        self.dumps += 1;
        callgrind_control(&self.pid, &[&format!("--dump=period{}", self.dumps)])?;
        // Callgrind numbers its dumps from 1.
        let total = dumped_total(&dump_path(&self.out_file, self.dumps))?;
        Ok(total / calls.max(1) as u64)
    }

    fn stop(self) {
        drop(self.supervisor);
    }
}

/// Counts `todo-mcp`'s instructions per tool call on `database_url` and prints one line per tool.
pub fn mcp_on(database_url: &str, database: &str, calls: usize) -> anyhow::Result<bool> {
    let (backend_port, mcp_port) = (free_port()?, free_port()?);
    let secret = random_hex(32);
    let service = |name, binary, port| release_service(name, binary, port, database_url, &secret);
    let base = format!("http://127.0.0.1:{backend_port}");
    let mut counted = Counted::start(
        service("mcp", "todo-mcp", mcp_port),
        &format!("http://127.0.0.1:{mcp_port}/readyz"),
        vec![(
            service("backend", "todo-backend", backend_port),
            format!("{base}/readyz"),
        )],
    )?;
    let (token, user) = sign_up(&base, "instructions")?;
    seed_tasks(&base, &token, &user, MCP_SEED_TASKS)?;
    let mcp = McpCaller::new(format!("http://127.0.0.1:{mcp_port}/mcp"), &token, &user);
    for tool in MCP_TOOLS {
        let per_call = counted.per_call(calls, |i| mcp.call(tool, i))?;
        println!("{:<24} {:>18}", format!("{tool} ({database})"), thousands(per_call));
    }
    counted.stop();
    Ok(false)
}

/// The API's scenarios, on a user with 1,000 tasks (mixed priorities, tags and due dates):
/// light ones counted over `calls` calls, the list of all 1,000 over a tenth as many.
pub fn api_on(database_url: &str, database: &str, calls: usize) -> anyhow::Result<Vec<(String, u64)>> {
    let port = free_port()?;
    let secret = random_hex(32);
    let base = format!("http://127.0.0.1:{port}");
    // Seeded at full speed, then counted under callgrind.
    let seeding = Supervisor::start(vec![release_service(
        "backend",
        "todo-backend",
        port,
        database_url,
        &secret,
    )]);
    let mut seeding = seeding?;
    seeding.wait_ready(&format!("{base}/readyz"), Duration::from_secs(60))?;
    let (token, user) = sign_up(&base, "instructions")?;
    let tasks_url = format!("{base}/api/{user}/tasks");
    seed_organised(&tasks_url, &token, API_SEED_TASKS)?;
    drop(seeding);
    let mut counted = Counted::start(
        release_service("backend", "todo-backend", port, database_url, &secret),
        &format!("{base}/readyz"),
        Vec::new(),
    )?;
    let client = Client::new();
    let all = get_json(&tasks_url, &token)?;
    let ids: Vec<i64> = all
        .as_array()
        .context("the list is not an array")?
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    if ids.len() != API_SEED_TASKS {
        bail!("the user holds {} tasks, not {API_SEED_TASKS}", ids.len());
    }
    let mut counts = Vec::new();
    let mut count =
        |name: &str, calls: usize, call: &mut dyn FnMut(usize) -> anyhow::Result<()>| -> anyhow::Result<()> {
            let per_call = counted.per_call(calls, call)?;
            println!("{:<24} {:>18}", format!("{name} ({database})"), thousands(per_call));
            counts.push((name.to_string(), per_call));
            Ok(())
        };
    count("get one task", calls, &mut |i| {
        get_json(&format!("{tasks_url}/{}", ids[i % ids.len()]), &token).map(drop)
    })?;
    count("list 1000 tasks", (calls / 10).max(10), &mut |_| {
        get_json(&tasks_url, &token).map(drop)
    })?;
    count("filtered page", calls, &mut |_| {
        get_json(&format!("{tasks_url}?{API_PAGE_QUERY}"), &token).map(drop)
    })?;
    // Last: it adds tasks.
    count("create task", calls, &mut |i| {
        client
            .post(&tasks_url, Some(&token), &json!({"title": format!("counted {i}")}))
            .map(drop)
    })?;
    counted.stop();
    Ok(counts)
}

/// Sends `tools/call` requests as the timed benchmark does, one at a time.
struct McpCaller {
    agent: ureq::Agent,
    url: String,
    authorization: String,
    user: String,
}

impl McpCaller {
    fn new(url: String, token: &str, user: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        McpCaller {
            agent,
            url,
            authorization: format!("Bearer {token}"),
            user: user.to_string(),
        }
    }

    fn call(&self, tool: &str, i: usize) -> anyhow::Result<()> {
        let body = tool_call_body(tool, &self.user, &format!("counted {i}"), i);
        let reply = self
            .agent
            .post(&self.url)
            .header("authorization", &self.authorization)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .send_json(&body)
            .with_context(|| format!("tools/call {tool}"))?
            .body_mut()
            .read_to_string()
            .with_context(|| format!("tools/call {tool}: no body"))?;
        if !reply.contains("\"isError\":false") {
            bail!("tools/call {tool} failed: {reply}");
        }
        Ok(())
    }
}

fn callgrind_control(pid: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .args(args)
        .arg(pid)
        .output()
        .context("cannot run callgrind_control")?;
    if !output.status.success() {
        bail!(
            "callgrind_control {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

fn dump_path(out_file: &Path, number: usize) -> PathBuf {
    let mut path = out_file.as_os_str().to_owned();
    path.push(format!(".{number}"));
    PathBuf::from(path)
}

/// The `totals:` line of a callgrind dump, waiting briefly for the file to be complete.
fn dumped_total(path: &Path) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(total) = text.lines().find_map(|line| line.strip_prefix("totals:")) {
            return total
                .trim()
                .parse()
                .with_context(|| format!("unexpected totals line in {}", path.display()));
        }
        if Instant::now() > deadline {
            bail!("callgrind wrote no totals to {}", path.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_from_the_dump_and_print_grouped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dump_path(&dir.path().join("callgrind.out"), 2);
        assert!(path.ends_with("callgrind.out.2"));
        std::fs::write(&path, "events: Ir\nsummary: 0\n\ntotals: 215246268\n").unwrap();
        assert_eq!(dumped_total(&path).unwrap(), 215_246_268);
        assert_eq!(thousands(1_076_231), "1,076,231");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
    }
}
