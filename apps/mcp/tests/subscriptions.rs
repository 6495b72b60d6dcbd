//! Live resources through the official Rust MCP client over real HTTP, on SQLite and PostgreSQL:
//! a host subscribed to the user's task resources hears when they change, whichever process
//! changed them. Changes are made through a second database handle with its own pool, as the
//! backend (the web UI's REST API, or chat) makes them, and through this server's own tools.

mod common;

use std::time::Duration;

use common::{Server, call, legacy, start, stateless};
use rmcp::model::{
    ResourceUpdatedNotificationParam, ServerNotification, SubscribeRequestParams, SubscriptionFilter,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService, Subscription, SubscriptionEnd};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ClientServiceExt as _};
use serde_json::json;
use todo_core::both_backends;
use todo_core::db::Db;
use todo_core::domain::NewTask;
use todo_core::test_support::TestDb;
use tokio::sync::mpsc;

/// Another process on the same database: the backend.
async fn backend(test_db: &TestDb) -> Db {
    let db = Db::connect_lazy(&test_db.options()).expect("valid url");
    db.migrate().await.expect("migrations apply");
    db
}

async fn add(db: &Db, user: &str, title: &str) {
    db.create_task(user, &NewTask::parse(title, None).unwrap())
        .await
        .unwrap();
}

fn filter(uris: &[&str]) -> SubscriptionFilter {
    SubscriptionFilter::builder()
        .resource_subscriptions(uris.iter().copied())
        .build()
}

/// The URI of the next notification on a listen stream, within a few seconds.
async fn updated(subscription: &mut Subscription) -> String {
    let next = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("a notification within 5 s")
        .expect("the stream is well-formed");
    match next {
        Some(ServerNotification::ResourceUpdatedNotification(n)) => n.params.uri,
        other => panic!("expected notifications/resources/updated, got {other:?}"),
    }
}

/// Nothing arrives for a while (longer than SQLite's poll interval).
async fn silent(subscription: &mut Subscription) {
    if let Ok(next) = tokio::time::timeout(Duration::from_millis(800), subscription.next()).await {
        panic!("expected no notification, got {next:?}");
    }
}

/// A 2025-11-25 host: notifications arrive through its handler.
struct Host(mpsc::UnboundedSender<String>);

impl ClientHandler for Host {
    async fn on_resource_updated(&self, params: ResourceUpdatedNotificationParam, _: NotificationContext<RoleClient>) {
        let _ = self.0.send(params.uri);
    }
}

async fn legacy_host(
    server: &Server,
    user: &str,
) -> (RunningService<RoleClient, Host>, mpsc::UnboundedReceiver<String>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(server.token(user)),
    );
    let client = Host(sender)
        .serve_with_lifecycle(transport, legacy())
        .await
        .expect("client connects");
    (client, receiver)
}

async fn heard(receiver: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(5), receiver.recv())
        .await
        .expect("a notification within 5 s")
        .expect("the client is running")
}

async fn none_heard(receiver: &mut mpsc::UnboundedReceiver<String>) {
    if let Ok(uri) = tokio::time::timeout(Duration::from_millis(800), receiver.recv()).await {
        panic!("expected no notification, got {uri:?}");
    }
}

both_backends! {
    async fn a_listening_host_hears_changes_made_by_another_service(test_db) {
        let server = start(&test_db).await;
        let backend = backend(&test_db).await;
        let alice = server.client("alice", stateless()).await;
        let mut live = alice
            .peer()
            .listen(filter(&["todo://tasks", "todo://tasks/pending", "test://not-ours"]))
            .await
            .expect("listen is acknowledged");
        // What this server does not serve is left out of the acknowledgement.
        assert_eq!(
            live.acknowledged().resource_subscriptions.as_deref(),
            Some(&["todo://tasks".to_string(), "todo://tasks/pending".to_string()][..])
        );

        add(&backend, "alice", "Buy milk").await;
        assert_eq!(updated(&mut live).await, "todo://tasks");
        assert_eq!(updated(&mut live).await, "todo://tasks/pending");

        // Another user's change is not alice's business.
        add(&backend, "bob", "Bob's errand").await;
        silent(&mut live).await;

        // A change through this server's own tools is heard as well.
        call(&alice, "add_task", json!({"user_id": "alice", "title": "Call mom"})).await;
        assert_eq!(updated(&mut live).await, "todo://tasks");
        assert_eq!(updated(&mut live).await, "todo://tasks/pending");

        live.cancel().await.expect("cancelled");
        assert_eq!(live.end(), Some(&SubscriptionEnd::Cancelled));
    }

    async fn a_task_resource_can_be_listened_to(test_db) {
        let server = start(&test_db).await;
        let backend = backend(&test_db).await;
        let alice = server.client("alice", stateless()).await;
        add(&backend, "alice", "Pay rent").await;
        let id = backend.list_tasks("alice", todo_core::domain::StatusFilter::All).await.unwrap()[0].id;
        let uri = format!("todo://tasks/{id}");
        let mut live = alice.peer().listen(filter(&[uri.as_str()])).await.expect("acknowledged");
        backend.toggle_task("alice", id).await.unwrap();
        assert_eq!(updated(&mut live).await, uri);
    }

    async fn a_session_subscription_hears_changes_until_unsubscribed(test_db) {
        let server = start(&test_db).await;
        let backend = backend(&test_db).await;
        let (alice, mut notifications) = legacy_host(&server, "alice").await;
        #[allow(deprecated)]
        alice
            .subscribe(SubscribeRequestParams::new("todo://tasks"))
            .await
            .expect("subscribed");

        add(&backend, "alice", "Buy milk").await;
        assert_eq!(heard(&mut notifications).await, "todo://tasks");
        add(&backend, "bob", "Bob's errand").await;
        none_heard(&mut notifications).await;

        #[allow(deprecated)]
        alice
            .unsubscribe(UnsubscribeRequestParams::new("todo://tasks"))
            .await
            .expect("unsubscribed");
        add(&backend, "alice", "Call mom").await;
        none_heard(&mut notifications).await;

        // Subscribing again works, and an unknown URI is accepted (it never changes).
        #[allow(deprecated)]
        {
            alice.subscribe(SubscribeRequestParams::new("todo://tasks/completed")).await.expect("subscribed");
            alice.subscribe(SubscribeRequestParams::new("test://watched-resource")).await.expect("subscribed");
        }
        add(&backend, "alice", "File taxes").await;
        assert_eq!(heard(&mut notifications).await, "todo://tasks/completed");
        none_heard(&mut notifications).await;
    }
}

#[tokio::test]
async fn shutdown_ends_a_listen_stream_with_its_final_result() {
    let test_db = TestDb::sqlite_memory();
    let server = start(&test_db).await;
    let alice = server.client("alice", stateless()).await;
    let mut live = alice
        .peer()
        .listen(filter(&["todo://tasks"]))
        .await
        .expect("acknowledged");
    server.stopping.cancel();
    let end = tokio::time::timeout(Duration::from_secs(5), live.next())
        .await
        .expect("the stream ends within 5 s")
        .expect("well-formed");
    assert!(end.is_none(), "no notification expected, got {end:?}");
    assert!(
        matches!(live.end(), Some(SubscriptionEnd::Graceful(_))),
        "a graceful end with the final result, got {:?}",
        live.end()
    );
}

#[tokio::test]
async fn a_session_belongs_to_its_user_and_one_off_requests_need_none() {
    let test_db = TestDb::sqlite_memory();
    let server = start(&test_db).await;
    let http = reqwest::Client::new();
    let post = |token: String, session: Option<String>, body: serde_json::Value| {
        let mut request = http
            .post(&server.url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let opened = post(server.token("alice"), None, initialize).await.unwrap();
    assert!(opened.status().is_success(), "{}", opened.status());
    let session = opened.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let own = post(server.token("alice"), Some(session.clone()), initialized.clone())
        .await
        .unwrap();
    assert!(
        own.status().is_success(),
        "the owner's session answers {}",
        own.status()
    );
    let foreign = post(server.token("mallory"), Some(session), initialized).await.unwrap();
    assert_eq!(
        foreign.status(),
        reqwest::StatusCode::NOT_FOUND,
        "another user's session is not found"
    );

    // A one-off request that never initialized is still served, statelessly, as before sessions.
    let tools_list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let one_off = post(server.token("mallory"), None, tools_list).await.unwrap();
    assert_eq!(one_off.status(), reqwest::StatusCode::OK);
    assert!(
        one_off.headers().get("mcp-session-id").is_none(),
        "no session for a one-off request"
    );
    let body: serde_json::Value = one_off.json().await.unwrap();
    assert_eq!(body["result"]["tools"].as_array().map(Vec::len), Some(5), "{body}");
}
