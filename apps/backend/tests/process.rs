//! The real `todo-backend` binary: graceful SIGTERM, and clear failures at start-up.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SECRET: &str = "process-test-secret-long-enough-0000";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn backend(dir: &std::path::Path, port: u16, extra: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_todo-backend"));
    command
        .env_clear()
        .env("PORT", port.to_string())
        .env("BIND_ADDR", "127.0.0.1")
        .env("DATABASE_URL", format!("sqlite:{}", dir.join("todo.db").display()))
        .env("BETTER_AUTH_SECRET", SECRET)
        .envs(extra.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn http(port: u16, raw: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn wait_ready(port: u16, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            if response.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "backend exited during start-up");
        assert!(started.elapsed() < Duration::from_secs(30), "backend not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sign_up(port: u16) -> (String, String) {
    let body = r#"{"email":"term@example.com","password":"plum kettle orbit","name":"T"}"#;
    let response = http(
        port,
        &format!(
            "POST /api/auth/sign-up HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let json: serde_json::Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    (
        json["token"].as_str().unwrap().into(),
        json["user"]["id"].as_str().unwrap().into(),
    )
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = backend(dir.path(), port, &[("LOG_FORMAT", "json")]).spawn().unwrap();
    wait_ready(port, &mut child);
    let (token, user) = sign_up(port);

    // Half of a request is on the wire when SIGTERM arrives...
    let body = r#"{"title":"sent during shutdown"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST /api/{user}/tasks HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // ...and is still answered once the rest arrives.
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");

    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let mut logs = String::new();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    assert!(logs.contains("shutdown signal received"), "{logs}");
    assert!(
        !logs.contains(SECRET) && !logs.contains(&token),
        "secrets must never be logged"
    );
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
    }
}

#[test]
fn bad_configuration_exits_non_zero_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let output = backend(
        dir.path(),
        free_port(),
        &[
            ("BETTER_AUTH_SECRET", "too-short"),
            ("LOG_FORMAT", "yaml"),
            ("DATABASE_URL", "mysql://db"),
        ],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in ["BETTER_AUTH_SECRET", "LOG_FORMAT", "DATABASE_URL"] {
        assert!(stderr.contains(needle), "{needle} not reported: {stderr}");
    }
    assert!(
        !stderr.contains("too-short"),
        "the secret's value must not be echoed: {stderr}"
    );
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut child = backend(dir.path(), port, &[]).spawn().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let stderr: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(stderr.iter().any(|l| l.contains("already in use")), "{stderr:?}");
}
