//! `cargo xtask bench soak`: the whole stack (frontend → backend → agent, offline → MCP →
//! PostgreSQL, release builds) under a steady mixed load, as its users make it: 100 people, each
//! from an address of their own, signing in, browsing, creating, completing and chatting.
//!
//! The load is open-loop: request k is due at k / rate seconds and its latency counts from then,
//! so a stalled server shows as latency (not as fewer requests sent, which a closed loop of
//! connections would hide). Any failed request fails the run, and so does the resident memory of
//! any service growing more than 10% from just after the warm-up to the end (with the data held
//! to the same size: past a few, what a person creates is deleted again).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use xshell::Shell;

use super::report::{Figure, Row};
use super::stack::release_service;
use crate::local::api::free_port;
use crate::local::scratch_schema::ScratchSchema;
use crate::local::supervisor::{Spec, Supervisor};
use crate::project::{Profile, bin_dir, build_services, random_hex};

const USERS: usize = 100;
const SEED_TASKS: usize = 20;
/// Memory may grow this much from the end of the warm-up to the end of the run.
const MEMORY_GROWTH_LIMIT: f64 = 0.10;
const SERVICES: [&str; 4] = ["frontend", "backend", "agent", "mcp"];

/// What one simulated request does, and how often (per 100 requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    SignIn,
    Browse,
    Create,
    Complete,
    Chat,
}

const MIX: [(Kind, usize); 5] = [
    (Kind::SignIn, 2),
    (Kind::Browse, 40),
    (Kind::Create, 20),
    (Kind::Complete, 18),
    (Kind::Chat, 20),
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::SignIn => "sign in",
            Kind::Browse => "browse (list tasks)",
            Kind::Create => "create/delete a task",
            Kind::Complete => "complete a task",
            Kind::Chat => "chat",
        }
    }

    /// The kind of the k-th request: the mix, interleaved.
    fn of(k: usize) -> Kind {
        let mut slot = (k * 37) % 100;
        for (kind, share) in MIX {
            if slot < share {
                return kind;
            }
            slot -= share;
        }
        Kind::Browse
    }
}

/// One simulated person: their address, credentials, session and what they know of their tasks.
struct Person {
    address: String,
    email: String,
    token: Mutex<String>,
    user: String,
    /// The seeded tasks, which stay (completing toggles them).
    tasks: Mutex<Vec<i64>>,
    /// Tasks this run created through the API, and through chat: past a few, the oldest is
    /// deleted instead, so the data stays the same size and memory growth would mean a leak.
    created: Mutex<std::collections::VecDeque<i64>>,
    chatted: Mutex<std::collections::VecDeque<String>>,
    conversation: Mutex<Option<i64>>,
}

/// How many created tasks a person keeps, of each kind, before deleting the oldest.
const KEEP_CREATED: usize = 10;

#[derive(Clone)]
struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: Arc<str>,
}

impl Http {
    /// `(status, JSON body)`; a transport failure is an error.
    async fn send(
        &self,
        method: &str,
        path: &str,
        person: &Person,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("x-forwarded-for", &person.address);
        let token = person.token.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.clone();
        if !token.is_empty() {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Bytes::from(body.to_string())
            }
            None => Bytes::new(),
        };
        let response = self.client.request(request.body(Full::new(body))?).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}

pub struct Options {
    pub seconds: u64,
    pub rate: u64,
    pub postgres: String,
}

pub fn run(sh: &Shell, options: &Options) -> anyhow::Result<Vec<Row>> {
    build_services(sh, Profile::Release)?;
    let schema = ScratchSchema::create(sh, &options.postgres)?;
    let result = soak(options, &schema.url);
    schema.drop(sh);
    result
}

fn soak(options: &Options, database_url: &str) -> anyhow::Result<Vec<Row>> {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect::<anyhow::Result<_>>()?;
    let [frontend, backend, agent, mcp] = [ports[0], ports[1], ports[2], ports[3]];
    let secret = random_hex(32);
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let service = |name, binary, port| release_service(name, binary, port, database_url, &secret);
    let mut supervisor = Supervisor::start(vec![
        Spec::new("frontend", bin_dir("release").join("todo-frontend"))
            .env("PORT", &frontend.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("BACKEND_URL", &url(backend))
            .env("RUST_LOG", "warn")
            // Each simulated person writes their own address into X-Forwarded-For, as an ingress
            // would before the frontend: the load generator on loopback is that trusted proxy,
            // and the sign-in limits apply per person at their defaults.
            .env("TRUSTED_PROXIES", "127.0.0.1"),
        service("backend", "todo-backend", backend)
            .env("AGENT_URL", &url(agent))
            .env("TRUSTED_PROXIES", "127.0.0.1"),
        service("agent", "todo-agent", agent)
            .env("MCP_URL", &format!("{}/mcp", url(mcp)))
            .env("LLM_PROVIDER", "offline"),
        service("mcp", "todo-mcp", mcp),
    ])?;
    for port in [mcp, agent, backend, frontend] {
        supervisor.wait_ready(&format!("{}/readyz", url(port)), Duration::from_secs(60))?;
    }
    let pids: Vec<u32> = SERVICES
        .iter()
        .map(|name| supervisor.pid(name).with_context(|| format!("{name} is not running")))
        .collect::<anyhow::Result<_>>()?;

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = Http {
        client: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(HttpConnector::new()),
        base: url(frontend).into(),
    };
    let people = runtime.block_on(sign_up_everyone(&http))?;
    println!(
        "\nbench soak: {USERS} people through the frontend, backend, agent (offline), MCP and PostgreSQL, \
         {} requests/s for {} s (warm-up: the first {} s)\n",
        options.rate,
        options.seconds,
        warm_up(options.seconds).as_secs()
    );
    let memory = MemoryTimeline::start(pids);
    let started = Instant::now();
    let outcome = runtime.block_on(drive(&http, &people, options));
    let memory = memory.stop(started + warm_up(options.seconds));
    drop(supervisor);
    let outcome = outcome?;
    report(&outcome, &memory, options)
}

/// The first fifth of the run, at most a minute: caches filled, pools opened, allocator settled.
fn warm_up(seconds: u64) -> Duration {
    Duration::from_secs((seconds / 5).min(60))
}

async fn sign_up_everyone(http: &Http) -> anyhow::Result<Arc<Vec<Person>>> {
    let mut people = Vec::with_capacity(USERS);
    for n in 0..USERS {
        let mut person = Person {
            address: format!("198.18.{}.{}", n / 200, n % 200 + 1),
            email: format!("soak-{n}-{}@example.com", random_hex(3)),
            token: Mutex::new(String::new()),
            user: String::new(),
            tasks: Mutex::new(Vec::new()),
            created: Mutex::new(std::collections::VecDeque::new()),
            chatted: Mutex::new(std::collections::VecDeque::new()),
            conversation: Mutex::new(None),
        };
        let body = json!({"email": person.email, "password": "a-long-enough-password", "name": format!("Person {n}")});
        let (status, session) = http.send("POST", "/api/auth/sign-up", &person, Some(body)).await?;
        if status != 201 {
            bail!("sign-up answered {status}: {session}");
        }
        *person.token.lock().map_err(|_| anyhow::anyhow!("poisoned"))? =
            session["token"].as_str().context("no token")?.to_string();
        person.user = session["user"]["id"].as_str().context("no user id")?.to_string();
        for i in 0..SEED_TASKS {
            let path = format!("/api/{}/tasks", person.user);
            let (status, task) = http
                .send("POST", &path, &person, Some(json!({"title": format!("seed {i}")})))
                .await?;
            if status != 201 {
                bail!("seeding answered {status}: {task}");
            }
            lock(&person.tasks).push(task["id"].as_i64().context("no task id")?);
        }
        people.push(person);
    }
    Ok(Arc::new(people))
}

/// The oldest of what a person created, once they hold `KEEP_CREATED`: it is deleted next.
fn over_the_keep<T>(created: &Mutex<std::collections::VecDeque<T>>) -> Option<T> {
    let mut created = lock(created);
    if created.len() >= KEEP_CREATED {
        created.pop_front()
    } else {
        None
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
struct Outcome {
    latencies: BTreeMap<Kind, Vec<Duration>>,
    errors: BTreeMap<Kind, usize>,
    examples: Vec<String>,
    sent: usize,
    late: Duration,
}

async fn drive(http: &Http, people: &Arc<Vec<Person>>, options: &Options) -> anyhow::Result<Outcome> {
    let interval = Duration::from_secs_f64(1.0 / options.rate.max(1) as f64);
    let total = usize::try_from(options.seconds * options.rate)?;
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..total {
        let due = start + interval * u32::try_from(k)?;
        tokio::time::sleep_until(due).await;
        let late = tokio::time::Instant::now().saturating_duration_since(due);
        let (http, people, outcome, in_flight) = (http.clone(), people.clone(), outcome.clone(), in_flight.clone());
        in_flight.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(async move {
            let kind = Kind::of(k);
            // Spread over people independently of the kind (a multiplicative hash of k).
            let person = &people[(k.wrapping_mul(2_654_435_761) >> 8) % people.len()];
            let result = one(&http, person, kind, k).await;
            let took = due.elapsed();
            let mut outcome = lock(&outcome);
            outcome.sent += 1;
            outcome.late = outcome.late.max(late);
            outcome.latencies.entry(kind).or_default().push(took);
            if let Err(e) = result {
                *outcome.errors.entry(kind).or_default() += 1;
                if outcome.examples.len() < 5 {
                    outcome.examples.push(format!("{}: {e:#}", kind.name()));
                }
            }
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
        // Reap finished requests as we go, so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let outcome = Arc::try_unwrap(outcome).map_err(|_| anyhow::anyhow!("requests still running"))?;
    Ok(outcome.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// One request of `kind` by `person`; an error when the answer is not what that person expects.
async fn one(http: &Http, person: &Person, kind: Kind, k: usize) -> anyhow::Result<()> {
    let tasks = format!("/api/{}/tasks", person.user);
    let expect = |(status, body): (u16, Value), wanted: u16| -> anyhow::Result<Value> {
        if status == wanted {
            Ok(body)
        } else {
            bail!("{status} {body}")
        }
    };
    match kind {
        Kind::SignIn => {
            let body = json!({"email": person.email, "password": "a-long-enough-password"});
            let session = expect(http.send("POST", "/api/auth/sign-in", person, Some(body)).await?, 200)?;
            *lock(&person.token) = session["token"].as_str().context("no token")?.to_string();
        }
        Kind::Browse => {
            let list = expect(http.send("GET", &tasks, person, None).await?, 200)?;
            if list.as_array().is_none_or(Vec::is_empty) {
                bail!("an empty task list for a person with tasks");
            }
        }
        Kind::Create => {
            let oldest = over_the_keep(&person.created);
            match oldest {
                Some(id) => {
                    expect(http.send("DELETE", &format!("{tasks}/{id}"), person, None).await?, 204)?;
                }
                None => {
                    let body = json!({"title": format!("soak {k}")});
                    let task = expect(http.send("POST", &tasks, person, Some(body)).await?, 201)?;
                    lock(&person.created).push_back(task["id"].as_i64().context("no task id")?);
                }
            }
        }
        Kind::Complete => {
            let id = {
                let known = lock(&person.tasks);
                known[k % known.len()]
            };
            expect(
                http.send("PATCH", &format!("{tasks}/{id}/complete"), person, None)
                    .await?,
                200,
            )?;
        }
        Kind::Chat => {
            let conversation = *lock(&person.conversation);
            // Adds and deletes (by name, past a few) alternate with questions.
            let (message, added) = if k.is_multiple_of(2) {
                let oldest = over_the_keep(&person.chatted);
                match oldest {
                    Some(name) => (format!("delete {name}"), None),
                    None => {
                        let name = format!("soak chat {k:07}");
                        (format!("add {name}"), Some(name))
                    }
                }
            } else {
                ("what's still pending?".to_string(), None)
            };
            let mut body = json!({"message": message});
            if let Some(id) = conversation {
                body["conversation_id"] = json!(id);
            }
            let reply = expect(
                http.send("POST", &format!("/api/{}/chat", person.user), person, Some(body))
                    .await?,
                200,
            )?;
            let calls = reply["tool_calls"].as_array().context("no tool_calls")?;
            if calls.is_empty() || calls.iter().any(|c| c["is_error"] != false) {
                bail!("the reply made no successful tool call: {reply}");
            }
            *lock(&person.conversation) = reply["conversation_id"].as_i64();
            if let Some(name) = added {
                lock(&person.chatted).push_back(name);
            }
        }
    }
    Ok(())
}

/// Every service's resident memory, sampled once a second.
struct MemoryTimeline {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(Instant, Vec<u64>)>>,
    pids: Vec<u32>,
    cpu_at_start: (Instant, Vec<f64>),
}

/// Per service, in KiB: resident memory just after the warm-up, at the end and at most; and the
/// CPU it used over the run, in cores.
struct Memory {
    after_warm_up: Vec<u64>,
    at_end: Vec<u64>,
    peak: Vec<u64>,
    cpu_cores: Vec<f64>,
}

/// User + system CPU seconds a process has used, from /proc (in USER_HZ ticks, 100 a second on
/// Linux whatever the kernel's own tick rate).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

impl MemoryTimeline {
    fn start(pids: Vec<u32>) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampled = pids.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.push((
                    Instant::now(),
                    sampled
                        .iter()
                        .map(|pid| super::load::rss_kib(*pid).unwrap_or(0))
                        .collect(),
                ));
                std::thread::sleep(Duration::from_secs(1));
            }
            samples
        });
        let cpu_at_start = (Instant::now(), pids.iter().map(|pid| cpu_seconds(*pid)).collect());
        MemoryTimeline {
            stop,
            handle,
            pids,
            cpu_at_start,
        }
    }

    fn stop(self, warm_until: Instant) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        let (started, cpu_before) = &self.cpu_at_start;
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let cpu_cores = self
            .pids
            .iter()
            .zip(cpu_before)
            .map(|(pid, before)| (cpu_seconds(*pid) - before) / elapsed)
            .collect();
        let samples = self.handle.join().unwrap_or_default();
        // Medians of the half minute after the warm-up and of the last half minute: a trend, not
        // the moment-to-moment swing of requests in flight.
        let window = Duration::from_secs(30);
        let ended = samples.last().map_or(warm_until, |(at, _)| *at);
        let median = |from: Instant, to: Instant, i: usize| -> u64 {
            let mut values: Vec<u64> = samples
                .iter()
                .filter(|(at, _)| *at >= from && *at <= to)
                .map(|(_, rss)| rss[i])
                .collect();
            values.sort_unstable();
            values.get(values.len() / 2).copied().unwrap_or(0)
        };
        let at_warm_up = (0..SERVICES.len())
            .map(|i| median(warm_until, warm_until + window, i))
            .collect();
        let at_end = (0..SERVICES.len()).map(|i| median(ended - window, ended, i)).collect();
        let peak = (0..SERVICES.len())
            .map(|i| samples.iter().map(|(_, rss)| rss[i]).max().unwrap_or(0))
            .collect();
        Memory {
            after_warm_up: at_warm_up,
            at_end,
            peak,
            cpu_cores,
        }
    }
}

fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

fn report(outcome: &Outcome, memory: &Memory, options: &Options) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    println!(
        "{:<22} {:>8} {:>9} {:>9} {:>9} {:>7}",
        "request", "count", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let mut errors = 0;
    for (kind, latencies) in &outcome.latencies {
        let mut sorted = latencies.clone();
        sorted.sort_unstable();
        let failed = outcome.errors.get(kind).copied().unwrap_or(0);
        errors += failed;
        let (p50, p99, max) = (quantile(&sorted, 0.5), quantile(&sorted, 0.99), quantile(&sorted, 1.0));
        println!(
            "{:<22} {:>8} {p50:>9.2} {p99:>9.2} {max:>9.2} {failed:>7}",
            kind.name(),
            sorted.len()
        );
        rows.push(Row::new("soak", kind.name()).with(vec![
            Figure::new("count", sorted.len() as f64, ""),
            Figure::new("p50", p50, "ms"),
            Figure::new("p99", p99, "ms").target("≤ 500 ms (the original plan's API target)", p99 <= 500.0),
            Figure::new("max", max, "ms"),
            Figure::new("errors", failed as f64, "").target("0", failed == 0),
        ]));
    }
    let achieved = outcome.sent as f64 / options.seconds.max(1) as f64;
    println!(
        "\n{} requests, {achieved:.0}/s (the generator was at most {:.1} ms late)",
        outcome.sent,
        outcome.late.as_secs_f64() * 1000.0
    );
    println!(
        "\n{:<10} {:>16} {:>12} {:>8} {:>12} {:>10}",
        "service", "after warm-up", "at the end", "growth", "peak", "CPU cores"
    );
    let mut grew = Vec::new();
    for (i, name) in SERVICES.iter().enumerate() {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let (base, end, peak) = (mib(memory.after_warm_up[i]), mib(memory.at_end[i]), mib(memory.peak[i]));
        let growth = if base > 0.0 { end / base - 1.0 } else { 0.0 };
        let cores = memory.cpu_cores[i];
        println!(
            "{name:<10} {base:>12.1} MiB {end:>8.1} MiB {:>7.1}% {peak:>8.1} MiB {cores:>10.2}",
            growth * 100.0
        );
        rows.push(Row::new("soak", &format!("memory of {name}")).with(vec![
            Figure::new("after warm-up", base, "MiB"),
            Figure::new("at the end", end, "MiB"),
            Figure::new("growth", growth * 100.0, "%").target("≤ 10%", growth <= MEMORY_GROWTH_LIMIT),
            Figure::new("peak", peak, "MiB"),
            Figure::new("CPU", cores, "cores"),
        ]));
        if growth > MEMORY_GROWTH_LIMIT {
            grew.push(format!("{name} +{:.0}%", growth * 100.0));
        }
    }
    for example in &outcome.examples {
        eprintln!("failed: {example}");
    }
    if errors > 0 {
        eprintln!("{errors} requests failed (examples above)");
    }
    if !grew.is_empty() {
        eprintln!("memory grew past 10% after the warm-up: {}", grew.join(", "));
    }
    Ok(rows)
}
