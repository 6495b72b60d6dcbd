//! Live resources over the real processes, as a desktop MCP host sees them: it listens to
//! `todo://tasks` on the MCP server while its user works in the web UI (the backend's REST API)
//! and in chat (backend → agent → MCP), and hears each change. The host speaks the wire protocol
//! itself here: a `subscriptions/listen` POST whose answer is an event stream.

use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use todo_core::test_support::TestDb;
use todo_e2e::{Api, Stack};

/// The messages of one `subscriptions/listen` stream, read on a thread of their own.
struct Listening {
    messages: mpsc::Receiver<Value>,
}

impl Listening {
    fn open(api: &Api, mcp_port: u16, uris: &[&str]) -> Listening {
        let request = json!({
            "jsonrpc": "2.0",
            "id": 7,
            "method": "subscriptions/listen",
            "params": {
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": {"name": "e2e-host", "version": "1"},
                },
                "notifications": {"resourceSubscriptions": uris},
            },
        });
        let response = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap()
            .post(format!("http://127.0.0.1:{mcp_port}/mcp"))
            .bearer_auth(&api.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .json(&request)
            .send()
            .expect("the MCP server answers");
        assert_eq!(response.status(), 200, "listen: {:?}", response.text());
        let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(response).lines() {
                let Ok(line) = line else { return };
                if let Some(data) = line.strip_prefix("data:")
                    && let Ok(message) = serde_json::from_str::<Value>(data.trim())
                    && sender.send(message).is_err()
                {
                    return;
                }
            }
        });
        Listening { messages }
    }

    fn next(&self) -> Value {
        self.messages
            .recv_timeout(Duration::from_secs(5))
            .expect("a message on the listen stream within 5 s")
    }

    /// The URI of the next message, which must be a resource update.
    fn updated(&self) -> String {
        let message = self.next();
        assert_eq!(message["method"], "notifications/resources/updated", "{message}");
        message["params"]["uri"].as_str().unwrap().to_string()
    }

    fn silent(&self) {
        if let Ok(message) = self.messages.recv_timeout(Duration::from_millis(800)) {
            panic!("expected nothing on the listen stream, got {message}");
        }
    }
}

fn hears_the_web_ui_and_chat_and_ends_gracefully_on_sigterm(database_url: &str) {
    let stack = Stack::start(database_url);
    let sam = stack.api().sign_up("sam@example.com");
    let bo = stack.api().sign_up("bo@example.com");
    let host = Listening::open(&sam, stack.mcp.port, &["todo://tasks"]);
    let ack = host.next();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged", "{ack}");
    assert_eq!(
        ack["params"]["notifications"]["resourceSubscriptions"],
        json!(["todo://tasks"])
    );

    // The web UI adds a task through the backend.
    let (status, body) = sam.send(
        "POST",
        &format!("/api/{}/tasks", sam.user),
        Some(json!({"title": "Buy milk"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(host.updated(), "todo://tasks");

    // Another user's work is not told to sam's host.
    assert_eq!(bo.chat(None, "add call mom").0, 200);
    host.silent();

    // Chat: backend → agent → MCP tools.
    let (status, reply) = sam.chat(None, "mark buy milk done");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(host.updated(), "todo://tasks");

    // SIGTERM: the stream ends with its final result, and the server exits promptly.
    let Stack { mcp, .. } = stack;
    let (exit, took) = mcp.sigterm(Duration::from_secs(8));
    let last = host.next();
    assert_eq!(last["id"], 7, "the listen request's final result: {last}");
    assert!(last.get("result").is_some(), "{last}");
    assert!(exit.is_some_and(|e| e.success()), "exit {exit:?} after {took:?}");
    assert!(took < Duration::from_secs(5), "the MCP server took {took:?} to stop");
}

#[test]
fn a_listening_host_hears_the_users_changes_from_every_service_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    hears_the_web_ui_and_chat_and_ends_gracefully_on_sigterm(&format!(
        "sqlite:{}",
        dir.path().join("todo.db").display()
    ));
}

#[test]
fn a_listening_host_hears_the_users_changes_from_every_service_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    hears_the_web_ui_and_chat_and_ends_gracefully_on_sigterm(&db.url);
}
