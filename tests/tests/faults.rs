//! Faults over the real processes: the database cut under write load, the MCP server down, and
//! SIGTERM under load on every service.

use std::net::ToSocketAddrs as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use todo_core::test_support::TestDb;
use todo_e2e::{Api, Relay, Service, Stack, free_port, start_backend, start_frontend, start_mcp_at};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("todo.db").display())
}

/// What the writers saw: every acknowledged title with when, and every other answer.
#[derive(Default)]
struct Writes {
    acknowledged: Vec<(String, Instant)>,
    unavailable: usize,
    unexpected: Vec<String>,
}

#[test]
fn a_database_cut_under_write_load_loses_no_acknowledged_write_and_recovers_within_5_s() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    let server = (url.host_str().unwrap(), url.port().unwrap_or(5432))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let relay = Relay::start(server);
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(relay.port)).unwrap();
    let mut backend = start_backend(
        url.as_str(),
        free_port(),
        // Four writers as fast as they can: past any per-user write limit, which is not what
        // this test is about.
        &[
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000".into()),
            ("WRITES_PER_MINUTE", "0".into()),
        ],
    );
    let sam = Api::new(backend.port).sign_up("writer@example.com");

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(Mutex::new(Writes::default()));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (api, stop, writes) = (sam.at(backend.port), stop.clone(), writes.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let title = format!("write {writer}-{n}");
                    let (status, body) = api.send(
                        "POST",
                        &format!("/api/{}/tasks", api.user),
                        Some(json!({"title": title})),
                    );
                    let mut writes = writes.lock().unwrap();
                    match (status, body["error"]["code"].as_str()) {
                        (201, _) => writes.acknowledged.push((title, Instant::now())),
                        (503, Some("database_unavailable")) => {
                            writes.unavailable += 1;
                            drop(writes);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        _ => writes.unexpected.push(format!("{status} {body}")),
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(1));
    relay.cut();
    let cut_at = Instant::now();
    let readiness = reqwest::blocking::Client::new();
    let ready = |expected: u16| {
        let started = Instant::now();
        loop {
            let url = format!("http://127.0.0.1:{}/readyz", backend.port);
            if readiness
                .get(&url)
                .send()
                .is_ok_and(|r| r.status().as_u16() == expected)
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "/readyz never answered {expected}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    ready(503);
    std::thread::sleep(Duration::from_secs(3).saturating_sub(cut_at.elapsed()));
    relay.restore();
    let restored_at = Instant::now();
    let back_in = ready(200);
    let first_write_after = loop {
        let first = writes
            .lock()
            .unwrap()
            .acknowledged
            .iter()
            .find(|(_, at)| *at > restored_at)
            .map(|(_, at)| at.duration_since(restored_at));
        if let Some(first) = first {
            break first;
        }
        assert!(
            restored_at.elapsed() < Duration::from_secs(10),
            "no write succeeded after the database came back"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    writers.into_iter().for_each(|w| w.join().unwrap());

    let writes = writes.lock().unwrap();
    assert!(
        writes.unexpected.is_empty(),
        "answers other than 201 or 503 database_unavailable: {:?}",
        writes.unexpected
    );
    let before = writes.acknowledged.iter().filter(|(_, at)| *at < cut_at).count();
    let after = writes.acknowledged.iter().filter(|(_, at)| *at > restored_at).count();
    assert!(
        before > 0 && after > 0 && writes.unavailable > 0,
        "before {before}, after {after}, refused {}",
        writes.unavailable
    );
    assert!(
        back_in <= Duration::from_secs(5) && first_write_after <= Duration::from_secs(5),
        "ready after {back_in:?}, first write after {first_write_after:?}"
    );
    let stored: std::collections::HashSet<String> = sam.tasks().into_iter().map(|(title, _)| title).collect();
    let lost: Vec<&String> = writes
        .acknowledged
        .iter()
        .map(|(t, _)| t)
        .filter(|t| !stored.contains(*t))
        .collect();
    assert!(lost.is_empty(), "acknowledged and lost: {lost:?}");
    assert!(
        backend.is_running(),
        "the backend recovered by itself, without a restart"
    );
    eprintln!(
        "database cut for 3 s under 4 writers: {} writes acknowledged, all stored; {} answered 503; ready {back_in:?} and writing {first_write_after:?} after it came back",
        writes.acknowledged.len(),
        writes.unavailable
    );
}

#[test]
fn with_the_mcp_server_down_chat_is_a_clear_503_the_api_works_and_chat_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(&sqlite_url(&dir));
    let sam = stack.api().sign_up("sam@example.com");
    assert_eq!(sam.chat(None, "add buy milk").0, 200);
    let (url, mcp_port) = (stack.database_url.clone(), stack.mcp.port);
    stack.mcp.stop();

    let (status, error) = sam.chat(None, "add buy bread");
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (503, Some("agent_unavailable")),
        "{error}"
    );
    // A fixed message: the agent's error (the MCP URL, rmcp's transport types) is only logged.
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("your tasks"), "{error}");
    for internal in ["http", "rmcp", "127.0.0.1", &mcp_port.to_string()] {
        assert!(!message.contains(internal), "{internal} in {error}");
    }
    let conversation = error["error"]["conversation_id"]
        .as_i64()
        .expect("the conversation keeping the message");
    assert_eq!(sam.messages(conversation)[0]["content"], "add buy bread");
    let (status, _) = sam.send(
        "POST",
        &format!("/api/{}/tasks", sam.user),
        Some(json!({"title": "typed by hand"})),
    );
    assert_eq!(status, 201, "the REST API does not need MCP");

    let _mcp = start_mcp_at(&url, mcp_port);
    let (status, reply) = sam.chat(Some(conversation), "add buy bread");
    assert_eq!(status, 200, "{reply}");
    let titles: Vec<String> = sam.tasks().into_iter().map(|(t, _)| t).collect();
    assert_eq!(titles, ["Buy milk", "typed by hand", "Buy bread"]);
}

/// What one client thread saw while a service was being stopped.
#[derive(Default)]
struct Seen {
    ok: usize,
    refused_after_sigterm: usize,
    queued_at_sigterm: usize,
    failures: Vec<String>,
}

/// Sends `request` in 4 threads, each on fresh connections, until the service has exited, sends
/// SIGTERM half a second in, and returns what the clients saw and how the process ended.
fn sigterm_under_load(
    service: Service,
    request: impl Fn(&reqwest::blocking::Client) -> reqwest::blocking::RequestBuilder + Send + Sync + 'static,
    looks_right: fn(&str) -> bool,
) -> (Seen, Option<std::process::ExitStatus>, Duration) {
    let request = Arc::new(request);
    let sigterm_sent: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (request, sigterm_sent, stop, seen) =
                (request.clone(), sigterm_sent.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .pool_max_idle_per_host(0)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let outcome = request(&client).send();
                    let mut seen = seen.lock().unwrap();
                    match outcome {
                        Ok(response) => {
                            let status = response.status();
                            match response.text() {
                                Ok(body) if status.is_success() && looks_right(&body) => seen.ok += 1,
                                Ok(body) => seen.failures.push(format!("{status}: {body}")),
                                Err(e) => seen.failures.push(format!("{status}, then the body was cut: {e}")),
                            }
                        }
                        // No answer at all: refused (or reset unanswered) once the server stopped
                        // taking connections. Before SIGTERM, that is a failure.
                        Err(e) => match *sigterm_sent.lock().unwrap() {
                            Some(sent) if started >= sent || e.is_connect() => {
                                seen.refused_after_sigterm += 1;
                                drop(seen);
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            // Sent just before SIGTERM on a connection whose request the server
                            // had not yet read: still in the kernel's accept queue, or accepted and
                            // idle, which graceful shutdown closes at once. The server never saw
                            // the request (safe to retry). At most one per client; anything earlier
                            // is a failure.
                            Some(sent) if sent.duration_since(started) < Duration::from_millis(100) => {
                                seen.queued_at_sigterm += 1;
                            }
                            _ => seen.failures.push(format!("no answer before SIGTERM: {e}")),
                        },
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    *sigterm_sent.lock().unwrap() = Some(Instant::now());
    let (status, took) = service.sigterm(Duration::from_secs(25));
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    clients.into_iter().for_each(|c| c.join().unwrap());
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    (seen, status, took)
}

#[test]
fn sigterm_under_load_finishes_what_was_accepted_and_exits_0_on_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(&sqlite_url(&dir));
    let frontend = start_frontend(stack.backend.port);
    let sam = stack.api().sign_up("load@example.com");
    assert_eq!(sam.chat(None, "add buy milk").0, 200);
    let (token, user) = (sam.token.clone(), sam.user.clone());
    let tasks_path = format!("/api/{user}/tasks");
    let (mcp_port, agent_port, backend_port) = (stack.mcp.port, stack.agent.port, stack.backend.port);
    let lists_milk: fn(&str) -> bool = |body| body.contains("Buy milk");

    // The front of the chain first, so each service's own load reaches a live service behind it.
    let frontend_port = frontend.port;
    let (path, bearer) = (tasks_path.clone(), token.clone());
    let runs = [
        (
            "frontend",
            sigterm_under_load(
                frontend,
                move |c| {
                    c.get(format!("http://127.0.0.1:{frontend_port}{path}"))
                        .bearer_auth(&bearer)
                },
                lists_milk,
            ),
        ),
        ("backend", {
            let (path, bearer) = (tasks_path.clone(), token.clone());
            sigterm_under_load(
                stack.backend,
                move |c| {
                    c.get(format!("http://127.0.0.1:{backend_port}{path}"))
                        .bearer_auth(&bearer)
                },
                lists_milk,
            )
        }),
        ("agent", {
            let bearer = token.clone();
            let body = r#"{"messages":[{"role":"user","content":"list my tasks"}]}"#;
            sigterm_under_load(
                stack.agent,
                move |c| {
                    c.post(format!("http://127.0.0.1:{agent_port}/v1/respond"))
                        .bearer_auth(&bearer)
                        .header("content-type", "application/json")
                        .body(body)
                },
                lists_milk,
            )
        }),
        ("mcp", {
            let bearer = token.clone();
            sigterm_under_load(
                stack.mcp,
                move |c| {
                    c.post(format!("http://127.0.0.1:{mcp_port}/mcp"))
                        .bearer_auth(&bearer)
                        .header("content-type", "application/json")
                        .header("accept", "application/json, text/event-stream")
                        .header("mcp-protocol-version", "2025-11-25")
                        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
                },
                |body| body.contains("add_task"),
            )
        }),
    ];
    for (name, (seen, status, took)) in runs {
        eprintln!(
            "{name}: {} answered in full, {} refused after SIGTERM, {} unaccepted at SIGTERM, exit {status:?} in {took:?}",
            seen.ok, seen.refused_after_sigterm, seen.queued_at_sigterm
        );
        assert!(seen.failures.is_empty(), "{name}: {:?}", seen.failures);
        assert!(
            seen.queued_at_sigterm <= 4,
            "{name}: {} requests lost at SIGTERM",
            seen.queued_at_sigterm
        );
        assert!(seen.ok >= 10, "{name} was under load: {} answers", seen.ok);
        assert!(status.is_some_and(|s| s.success()), "{name} exited with {status:?}");
        assert!(
            took < Duration::from_secs(20),
            "{name} took {took:?}, past the 20 s grace"
        );
    }
}
