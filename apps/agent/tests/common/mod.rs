//! A real MCP server (the `todo-mcp` router on a fresh in-memory SQLite database) on a loopback
//! port, and a signed-in user to talk to the agent as.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use todo_agent::mcp::McpGateway;
use todo_agent::model::ChatModel;
use todo_agent::runner::{Agent, Caller, HistoryMessage, Limits, Reply, Role};
use todo_core::auth::{TokenConfig, TokenIssuer, TokenVerifier};
use todo_core::config::Env;
use todo_core::db::Db;
use todo_core::domain::{NewTask, StatusFilter, TaskChanges};
use todo_core::test_support::TestDb;
use todo_mcp::McpConfig;

pub const SECRET: &str = "agent-test-secret-that-is-long-enough";

pub struct McpServer {
    pub url: String,
    pub db: Db,
    issuer: TokenIssuer,
    /// HTTP requests the server has answered.
    requests: Arc<AtomicUsize>,
    stop: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

pub fn token_config() -> TokenConfig {
    TokenConfig {
        secret: SECRET.as_bytes().to_vec(),
        issuer: "todo-chatbot".into(),
        audience: "todo-chatbot".into(),
        ttl: Duration::from_secs(600),
        local_accounts: true,
    }
}

impl McpServer {
    pub async fn start() -> McpServer {
        let test_db = TestDb::sqlite_memory();
        let config = McpConfig::from_env(Env::from_pairs([
            ("BETTER_AUTH_SECRET", SECRET),
            ("DATABASE_URL", test_db.url.as_str()),
        ]))
        .expect("mcp config");
        let db = Db::connect_lazy(&config.database).unwrap();
        db.migrate().await.unwrap();
        let verifier = Arc::new(TokenVerifier::new(&config.tokens, None));
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let changes = db.watch_task_changes().await.unwrap();
        let stopping = tokio_util::sync::CancellationToken::new();
        let app = todo_mcp::router(db.clone(), changes, verifier, &config, stopping).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(request)
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        McpServer {
            url,
            db,
            issuer: TokenIssuer::new(&token_config()),
            requests,
            stop: Some((stop, server)),
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every connection, as a crashed or stopped server would.
    pub async fn stop(&mut self) {
        if let Some((stop, server)) = self.stop.take() {
            let _ = stop.send(());
            let _ = server.await;
        }
    }

    pub fn caller(&self, user: &str) -> Caller {
        Caller {
            user_id: user.into(),
            name: Some("Alex".into()),
            token: self.issuer.issue(user, &format!("{user}@example.com"), "Alex").unwrap(),
            time_zone: todo_core::domain::UserZone::utc(),
        }
    }

    pub async fn seed(&self, user: &str, tasks: &[(&str, bool)]) {
        for (title, done) in tasks {
            let task = self
                .db
                .create_task(user, &NewTask::parse(title, None).unwrap())
                .await
                .unwrap();
            if *done {
                let changes = TaskChanges {
                    completed: Some(true),
                    ..TaskChanges::default()
                };
                self.db.update_task(user, task.id, &changes).await.unwrap();
            }
        }
    }

    /// The user's tasks as (title, completed), oldest first.
    pub async fn state(&self, user: &str) -> Vec<(String, bool)> {
        self.db
            .list_tasks(user, StatusFilter::All)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.title, t.completed))
            .collect()
    }

    pub fn agent(&self, model: Arc<dyn ChatModel>, limits: Limits) -> Agent {
        Agent::new(model, McpGateway::new(&self.url), limits)
    }
}

/// A conversation: each `say` sends the history plus the new message, like the backend does.
pub struct Chat<'a> {
    pub agent: &'a Agent,
    pub caller: Caller,
    pub history: Vec<HistoryMessage>,
}

impl<'a> Chat<'a> {
    /// A new conversation with the agent as this caller.
    pub fn new(agent: &'a Agent, caller: Caller) -> Self {
        Chat {
            agent,
            caller,
            history: Vec::new(),
        }
    }

    pub async fn say(&mut self, text: &str) -> Reply {
        self.history.push(HistoryMessage {
            role: Role::User,
            content: text.into(),
        });
        let reply = self
            .agent
            .respond(&self.caller, &self.history)
            .await
            .expect("agent replies");
        self.history.push(HistoryMessage {
            role: Role::Assistant,
            content: reply.response.clone(),
        });
        reply
    }
}

/// The zone the understanding tables run in.
pub const ZONE: &str = "Europe/London";

/// Today at 10:00 in `ZONE`: a fixed time of day, so "at 3pm" is later today in every run, on
/// today's date, which the MCP server's own clock agrees with (it decides what is overdue).
pub fn ten_this_morning() -> jiff::Timestamp {
    let zone = jiff::tz::TimeZone::get(ZONE).expect("the zone is in the built-in database");
    let today = jiff::Timestamp::now().to_zoned(zone.clone()).date();
    today
        .at(10, 0, 0, 0)
        .to_zoned(zone)
        .expect("10:00 exists every day")
        .timestamp()
}

/// A task in the tables' notation: `☐ Pay rent !high #bills due 2026-12-04T17:00` (✓ when done;
/// the due date in `ZONE`, a bare date meaning by the end of that day).
pub fn render(task: &todo_core::domain::Task) -> String {
    let zone = jiff::tz::TimeZone::get(ZONE).expect("zone");
    let mut text = format!("{} {}", if task.completed { "✓" } else { "☐" }, task.title);
    if task.priority != todo_core::domain::Priority::Medium {
        text.push_str(&format!(" !{}", task.priority.as_str()));
    }
    for tag in &task.tags {
        text.push_str(&format!(" #{tag}"));
    }
    if let Some(due) = task.due_at {
        let local = jiff::Timestamp::from_second(due.timestamp())
            .expect("in range")
            .to_zoned(zone);
        if (local.hour(), local.minute(), local.second()) == (23, 59, 59) {
            text.push_str(&format!(" due {}", local.date()));
        } else {
            text.push_str(&format!(" due {}", local.strftime("%Y-%m-%dT%H:%M")));
        }
    }
    text
}

impl McpServer {
    /// Seeds tasks written as `render` writes them.
    pub async fn seed_rendered(&self, user: &str, tasks: &[String]) {
        let zone = todo_core::domain::UserZone::parse("zone", ZONE).expect("zone");
        for line in tasks {
            let (done, rest) = match line.strip_prefix("✓ ") {
                Some(rest) => (true, rest),
                None => (false, line.strip_prefix("☐ ").unwrap_or(line)),
            };
            let (rest, due) = match rest.split_once(" due ") {
                Some((rest, due)) => (
                    rest,
                    Some(todo_core::domain::parse_due("due", due, &zone).expect("due")),
                ),
                None => (rest, None),
            };
            let mut words: Vec<&str> = rest.split(' ').collect();
            let mut tags = Vec::new();
            let mut priority = todo_core::domain::Priority::Medium;
            while let Some(last) = words.last() {
                if let Some(tag) = last.strip_prefix('#') {
                    tags.insert(0, tag.to_string());
                } else if let Some(p) = last.strip_prefix('!') {
                    priority = todo_core::domain::Priority::parse("priority", p).expect("priority");
                } else {
                    break;
                }
                words.pop();
            }
            let new = NewTask {
                priority,
                tags,
                due_at: due,
                ..NewTask::parse(&words.join(" "), None).expect("title")
            };
            let task = self.db.create_task(user, &new).await.expect("seed");
            if done {
                let changes = TaskChanges {
                    completed: Some(true),
                    ..TaskChanges::default()
                };
                self.db.update_task(user, task.id, &changes).await.expect("complete");
            }
        }
    }

    /// The user's tasks, oldest first, as `render` writes them.
    pub async fn rendered(&self, user: &str) -> Vec<String> {
        self.db
            .list_tasks(user, StatusFilter::All)
            .await
            .unwrap()
            .iter()
            .map(render)
            .collect()
    }
}
