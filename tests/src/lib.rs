//! Runs the real service binaries together on one database, as `cargo xtask dev` and a cluster do,
//! and talks to them over HTTP like a browser would.
//!
//! The binaries come from the workspace's target folder: `cargo xtask test` builds them (it runs
//! `cargo test --workspace --all-targets`, which includes every binary) before any test runs.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const SECRET: &str = "e2e-test-secret-that-is-long-enough!";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn binary(name: &str) -> PathBuf {
    // This test program lives in `<profile dir>/deps/`; the services' binaries in the profile
    // folder itself, whatever the target folder and target triple.
    let exe = std::env::current_exe().expect("the test's own path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from <target>/<profile>/deps")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo xtask test` (or `cargo build --bins` first)",
        path.display()
    );
    path
}

/// A running service; stopped with SIGTERM when dropped.
pub struct Service {
    pub port: u16,
    child: Child,
}

impl Service {
    pub fn start(binary_name: &str, port: u16, env: &[(&str, String)]) -> Service {
        let child = Command::new(binary(binary_name))
            .env_clear()
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("BETTER_AUTH_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary_name}: {e}"));
        let mut service = Service { port, child };
        service.wait_ready(binary_name);
        service
    }

    fn wait_ready(&mut self, name: &str) {
        let started = Instant::now();
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let client = reqwest::blocking::Client::new();
        loop {
            if client.get(&url).send().is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "{name} exited during start-up"
            );
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name} was not ready in 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    /// Whether the process is still the one started (it has not exited).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit: its status, and how long it took.
    pub fn sigterm(mut self, limit: Duration) -> (Option<std::process::ExitStatus>, Duration) {
        use nix::sys::signal::{Signal, kill};
        let sent = Instant::now();
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        while sent.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (Some(status), sent.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        (None, sent.elapsed())
    }

    fn terminate(&mut self) {
        use nix::sys::signal::{Signal, kill};
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// backend, mcp and agent (offline provider) on one database.
pub struct Stack {
    pub database_url: String,
    pub mcp: Service,
    pub agent: Service,
    pub backend: Service,
}

impl Stack {
    pub fn start(database_url: &str) -> Stack {
        let mcp = start_mcp(database_url);
        let agent = start_agent(mcp.port);
        let backend = start_backend(database_url, agent.port, &[]);
        Stack {
            database_url: database_url.to_string(),
            mcp,
            agent,
            backend,
        }
    }

    pub fn api(&self) -> Api {
        Api::new(self.backend.port)
    }
}

pub fn start_mcp(database_url: &str) -> Service {
    start_mcp_at(database_url, free_port())
}

/// The MCP server on a given port (to restart one where the agent expects it).
pub fn start_mcp_at(database_url: &str, port: u16) -> Service {
    Service::start("todo-mcp", port, &[("DATABASE_URL", database_url.to_string())])
}

pub fn start_agent(mcp_port: u16) -> Service {
    Service::start(
        "todo-agent",
        free_port(),
        &[
            ("MCP_URL", format!("http://127.0.0.1:{mcp_port}/mcp")),
            ("LLM_PROVIDER", "offline".into()),
        ],
    )
}

pub fn start_backend(database_url: &str, agent_port: u16, extra: &[(&str, String)]) -> Service {
    let mut env = vec![
        ("DATABASE_URL", database_url.to_string()),
        ("AGENT_URL", format!("http://127.0.0.1:{agent_port}")),
    ];
    env.extend(extra.iter().cloned());
    Service::start("todo-backend", free_port(), &env)
}

pub fn start_frontend(backend_port: u16) -> Service {
    Service::start(
        "todo-frontend",
        free_port(),
        &[("BACKEND_URL", format!("http://127.0.0.1:{backend_port}"))],
    )
}

/// A TCP relay in front of a server (the database) that can cut every connection and refuse new
/// ones, as an outage or a failover does, and then let them through again.
pub struct Relay {
    pub port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    pub fn start(target: std::net::SocketAddr) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (accept_up, accept_open) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // closed at once: the connection is refused
                }
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                let mut sockets = accept_open.lock().unwrap();
                for stream in [&client, &server] {
                    sockets.push(stream.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, up, open }
    }

    /// Cuts every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The backend's HTTP API as a signed-in user sees it.
pub struct Api {
    base: String,
    http: reqwest::blocking::Client,
    pub token: String,
    pub user: String,
}

impl Api {
    pub fn new(port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: String::new(),
            user: String::new(),
        }
    }

    pub fn at(&self, port: u16) -> Api {
        Api {
            base: format!("http://127.0.0.1:{port}"),
            http: self.http.clone(),
            token: self.token.clone(),
            user: self.user.clone(),
        }
    }

    pub fn sign_up(mut self, email: &str) -> Api {
        let (status, session) = self.send(
            "POST",
            "/api/auth/sign-up",
            Some(json!({"email": email, "password": "a-long-password", "name": "Sam"})),
        );
        assert_eq!(status, 201, "{session}");
        self.token = session["token"].as_str().unwrap().to_string();
        self.user = session["user"]["id"].as_str().unwrap().to_string();
        self
    }

    pub fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.parse().unwrap(), &url);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends a chat message; `(status, body)`.
    pub fn chat(&self, conversation: Option<i64>, message: &str) -> (u16, Value) {
        let mut body = json!({"message": message});
        if let Some(id) = conversation {
            body["conversation_id"] = json!(id);
        }
        self.send("POST", &format!("/api/{}/chat", self.user), Some(body))
    }

    /// Sends a chat message from a browser in `time_zone`; `(status, body)`.
    pub fn chat_in_zone(&self, time_zone: &str, message: &str) -> (u16, Value) {
        let body = json!({"message": message, "time_zone": time_zone});
        self.send("POST", &format!("/api/{}/chat", self.user), Some(body))
    }

    /// The user's tasks as (title, completed), oldest first.
    pub fn tasks(&self) -> Vec<(String, bool)> {
        let (status, tasks) = self.send("GET", &format!("/api/{}/tasks", self.user), None);
        assert_eq!(status, 200, "{tasks}");
        tasks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["title"].as_str().unwrap().to_string(),
                    t["completed"].as_bool().unwrap(),
                )
            })
            .collect()
    }

    pub fn messages(&self, conversation: i64) -> Vec<Value> {
        let path = format!("/api/{}/conversations/{conversation}/messages", self.user);
        let (status, messages) = self.send("GET", &path, None);
        assert_eq!(status, 200, "{messages}");
        messages.as_array().unwrap().clone()
    }
}
