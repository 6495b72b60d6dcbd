//! `cargo xtask bench api`: the backend (release build) on PostgreSQL under concurrent load.
//!
//! A user with 1,000 tasks; three scenarios (list all 1,000, get one, create), each at N
//! connections for S seconds after a one-second warm-up. Then a user with 10,000 tasks (mixed
//! priorities, tags and due dates) lists filtered, sorted pages of 50, on SQLite and on
//! PostgreSQL, held to p99 ≤ 10 ms one request at a time and reported at four connections. The
//! load generator runs on the same machine (one async thread), so the figures include its cost.

use std::thread;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::json;
use xshell::Shell;

use super::instructions;
use super::load::{Request, latency_header, load};
use super::report::{Figure, Row};
use super::stack::{none_failed, on_both_databases, postgres, release_service};
use crate::flags::BenchArgs;
use crate::local::api::{Client, free_port, sign_up};
use crate::local::scratch_schema::ScratchSchema;
use crate::local::supervisor::Supervisor;
use crate::project::{Profile, build_services, random_hex};

const SEED_TASKS: usize = 1000;
/// The tasks of the user whose requests `--instructions` counts, and its filtered page.
pub const API_SEED_TASKS: usize = 1000;
pub const API_PAGE_QUERY: &str = "tag=work&sort=due&limit=50";
/// The organised user's task count.
const ORGANISED_TASKS: usize = 10_000;
/// The connections that list their pages. The target holds for one request at a time, the way one
/// person pages through their tasks, so that p99 measures the request rather than a queue behind
/// it on a two-core machine shared with the load generator; four (their browser tabs and phone
/// at once) are reported beside it.
const PAGE_CONNECTIONS: [usize; 2] = [1, 4];
const PAGE_P99_TARGET_MS: f64 = 10.0;
/// Filtered, sorted first pages, as the task panel and the MCP list_tasks tool ask for them.
const PAGE_QUERIES: [&str; 5] = [
    "tag=work&sort=due&limit=50",
    "priority=high&status=pending&sort=due&limit=50",
    "q=report&sort=title&limit=50",
    "overdue=true&sort=due&limit=50",
    "due_before=2031-01-01T00:00:00Z&sort=priority&limit=50",
];

pub fn run(sh: &Shell, args: &BenchArgs) -> anyhow::Result<Vec<Row>> {
    if args.instructions {
        instructions::check_valgrind()?;
        build_services(sh, Profile::Release)?;
        println!(
            "\nbench api --instructions: todo-backend under callgrind, a user with {API_SEED_TASKS} tasks, {} calls per scenario (a tenth for the whole list), one at a time\n",
            args.calls
        );
        return on_both_databases(sh, args, &instructions::header(), |url, database| {
            let counts = instructions::api_on(url, database, args.calls)?;
            Ok(counts
                .into_iter()
                .map(|(name, per_call)| {
                    Row::new("api", &format!("{name}, instructions ({database})")).with(vec![Figure::new(
                        "instructions",
                        per_call as f64,
                        "",
                    )])
                })
                .collect())
        });
    }
    let connections = args.connections.unwrap_or(64);
    let seconds = args.seconds.unwrap_or(10);
    build_services(sh, Profile::Release)?;
    let schema = ScratchSchema::create(sh, &postgres(args))?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let backend = release_service("backend", "todo-backend", port, &schema.url, &random_hex(32));
    let mut supervisor = Supervisor::start(vec![backend])?;
    supervisor.wait_ready(&format!("{base}/readyz"), Duration::from_secs(60))?;
    let pid = supervisor.pid("backend").context("backend is not running")?;

    let (token, user) = sign_up(&base, "bench")?;
    let tasks_url = format!("{base}/api/{user}/tasks");
    let ids = seed(&tasks_url, &token)?;
    println!(
        "\nbench api: backend on PostgreSQL, {SEED_TASKS} tasks, {} connections, {}s per scenario\n",
        connections, seconds
    );
    println!(
        "{:<16} {:>10} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "scenario", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "max RSS"
    );

    let scenarios: [(&str, Request); 3] = [
        ("list 1000 tasks", Request::Get(vec![tasks_url.clone()])),
        (
            "get one task",
            Request::Get(ids.iter().map(|id| format!("{tasks_url}/{id}")).collect()),
        ),
        ("create task", Request::create_task(&tasks_url)),
    ];
    let mut rows = Vec::new();
    for (name, request) in scenarios {
        let result = load(&request, &token, connections, Duration::from_secs(seconds), pid)?;
        result.print(name, 16);
        rows.push(result.row(
            "api",
            &format!("{name} (PostgreSQL, {connections} connections)"),
            "req/s",
            "backend",
        ));
    }
    drop(supervisor);
    schema.drop(sh);
    let rows = none_failed(rows)?;
    println!(
        "\nbench api: filtered, sorted pages of {ORGANISED_TASKS} tasks, {PAGE_CONNECTIONS:?} connections, {seconds}s"
    );
    let pages = on_both_databases(sh, args, &latency_header("req/s"), |url, database| {
        pages_on(url, database, Duration::from_secs(seconds))
    })?;
    Ok(rows.into_iter().chain(pages).collect())
}

/// One user with `ORGANISED_TASKS` tasks lists the `PAGE_QUERIES` pages in turn.
fn pages_on(database_url: &str, database: &str, duration: Duration) -> anyhow::Result<Vec<Row>> {
    let secret = random_hex(32);
    let backend = || -> anyhow::Result<(Supervisor, String)> {
        let port = free_port()?;
        let mut supervisor = Supervisor::start(vec![release_service(
            "backend",
            "todo-backend",
            port,
            database_url,
            &secret,
        )])?;
        let base = format!("http://127.0.0.1:{port}");
        supervisor.wait_ready(&format!("{base}/readyz"), Duration::from_secs(60))?;
        Ok((supervisor, base))
    };
    let (seeding, base) = backend()?;
    let (token, user) = sign_up(&base, "organised")?;
    seed_organised(&format!("{base}/api/{user}/tasks"), &token, ORGANISED_TASKS)?;
    drop(seeding);
    // Freshly loaded tables have no planner statistics yet. PostgreSQL's autovacuum vacuums and
    // analyses them within a minute or two, and the backend refreshes SQLite's every minute;
    // rather than wait, the benchmark runs VACUUM ANALYZE on PostgreSQL and restarts the backend,
    // which refreshes SQLite's as it starts.
    ScratchSchema::vacuum_analyze(&Shell::new()?, database_url, &["tasks", "task_tags"])?;
    let (supervisor, base) = backend()?;
    let pid = supervisor.pid("backend").context("backend is not running")?;
    let tasks_url = format!("{base}/api/{user}/tasks");
    let urls: Vec<String> = PAGE_QUERIES.iter().map(|q| format!("{tasks_url}?{q}")).collect();
    let mut rows = Vec::new();
    for connections in PAGE_CONNECTIONS {
        let result = load(&Request::Get(urls.clone()), &token, connections, duration, pid)?;
        let label = format!("page ({database}, {connections})");
        result.print(&label, 24);
        let mut row = result.row(
            "api",
            &format!("filtered, sorted page of {ORGANISED_TASKS} tasks ({database}, {connections} connections)"),
            "req/s",
            "backend",
        );
        if connections == 1 {
            for figure in &mut row.figures {
                if figure.name == "p99" {
                    *figure = Figure::new("p99", result.p99_ms, "ms").target(
                        &format!("≤ {PAGE_P99_TARGET_MS} ms"),
                        result.p99_ms <= PAGE_P99_TARGET_MS,
                    );
                }
            }
        }
        rows.push(row);
    }
    // Which query makes the tail: each alone, one request at a time (printed, not recorded).
    for (query, url) in PAGE_QUERIES.iter().zip(&urls) {
        let alone = load(&Request::Get(vec![url.clone()]), &token, 1, duration, pid)?;
        println!(
            "  alone, {query}: p50 {:.2} ms, p99 {:.2} ms",
            alone.p50_ms, alone.p99_ms
        );
    }
    Ok(rows)
}

/// `ORGANISED_TASKS` tasks with every priority, a tag or two of five, and due dates from five
/// years back to five years ahead (some done), over eight connections.
pub fn seed_organised(tasks_url: &str, token: &str, count: usize) -> anyhow::Result<()> {
    const TAGS: [&str; 5] = ["work", "home", "errands", "health", "money"];
    let workers = 8;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (url, token) = (tasks_url.to_string(), token.to_string());
            thread::spawn(move || -> anyhow::Result<()> {
                let client = Client::new();
                for i in 0..count / workers {
                    let n = i * workers + w;
                    let noun = ["report", "call", "invoice", "groceries", "plan"][n % 5];
                    let year = 2022 + n % 10;
                    let priority = ["high", "medium", "low"][n % 3];
                    let body = json!({
                        "title": format!("{noun} {n}"),
                        "priority": priority,
                        "tags": [TAGS[n % 5], TAGS[(n / 5) % 5]],
                        "due_at": format!("{year}-{:02}-{:02}T17:00:00Z", 1 + n % 12, 1 + n % 28),
                    });
                    let task = client.post(&url, Some(&token), &body)?;
                    if n % 4 == 0 {
                        let id = task["id"].as_i64().context("no id")?;
                        client.patch(&format!("{url}/{id}/complete"), &token)?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("seeding thread panicked"))??;
    }
    Ok(())
}

fn seed(tasks_url: &str, token: &str) -> anyhow::Result<Vec<i64>> {
    let workers = 8;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (url, token) = (tasks_url.to_string(), token.to_string());
            thread::spawn(move || -> anyhow::Result<Vec<i64>> {
                let client = Client::new();
                (0..SEED_TASKS / workers)
                    .map(|i| {
                        let task = client.post(&url, Some(&token), &json!({"title": format!("seed task {w}-{i}")}))?;
                        task["id"].as_i64().context("no id")
                    })
                    .collect()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for handle in handles {
        ids.extend(
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("seeding thread panicked"))??,
        );
    }
    Ok(ids)
}
