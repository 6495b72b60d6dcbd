//! A backend running in this process on a real socket, and a client for it.

#![allow(dead_code)]

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_backend::BackendConfig;
use todo_core::config::Env;
use todo_core::test_support::TestDb;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "test-secret-that-is-long-enough-000";

pub struct TestServer {
    pub base: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(db, &[]).await
    }

    pub async fn start_with(db: &TestDb, extra: &[(&str, &str)]) -> TestServer {
        let mut vars = vec![
            ("DATABASE_URL", db.url.as_str()),
            ("BETTER_AUTH_SECRET", SECRET),
            ("BIND_ADDR", "127.0.0.1"),
            ("PORT", "0"),
        ];
        vars.extend_from_slice(extra);
        let config = BackendConfig::from_env(Env::from_pairs(vars)).expect("valid test config");
        let app = todo_backend::build(&config).await.expect("backend builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(todo_core::http::serve(
            listener,
            app,
            async move {
                let _ = rx.await;
            },
            std::time::Duration::from_secs(5),
        ));
        TestServer {
            base,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; `token` adds `Authorization: Bearer`, `body` a JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// What `/metrics` shows now, in Prometheus text.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.expect("request sent");
        response.text().await.expect("body")
    }

    pub async fn sign_up(&self, email: &str) -> Session {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/sign-up",
                None,
                Some(json!({"email": email, "password": "plum kettle orbit", "name": "Tester"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Session {
            token: body["token"].as_str().expect("token").into(),
            user_id: body["user"]["id"].as_str().expect("id").into(),
        }
    }

    pub async fn create_task(&self, session: &Session, title: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/{}/tasks", session.user_id),
                Some(&session.token),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Session {
    pub token: String,
    pub user_id: String,
}

impl Session {
    pub fn tasks(&self) -> String {
        format!("/api/{}/tasks", self.user_id)
    }
    pub fn task(&self, id: &Value) -> String {
        format!("/api/{}/tasks/{}", self.user_id, id)
    }
}

/// Asserts a JSON error response with this status and code.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, expected_code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], expected_code, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}
