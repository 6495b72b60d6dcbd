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
        let app = todo_mcp::router(db.clone(), verifier, &config).layer(axum::middleware::from_fn(
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
