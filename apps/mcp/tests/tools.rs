//! The MCP server's tools through the official Rust MCP client over real HTTP, on SQLite and
//! PostgreSQL, with both protocol lifecycles.

mod common;

use common::{call, legacy, start, start_with, stateless, structured, tokens};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::json;
use todo_core::auth::{TokenConfig, TokenIssuer};
use todo_core::both_backends;
use todo_core::domain::StatusFilter;
use todo_core::test_support::TestDb;

fn error_text(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "{result:?}");
    serde_json::to_string(&result.content).unwrap()
}

both_backends! {
    async fn add_task_stops_at_the_accounts_cap_with_a_message_the_model_can_relay(db) {
        let server = start_with(&db, &[("MAX_TASKS_PER_USER", "2")]).await;
        let client = server.client("u1", stateless()).await;
        for title in ["one", "two"] {
            let added = call(&client, "add_task", json!({"user_id": "u1", "title": title})).await;
            assert_ne!(added.is_error, Some(true), "{added:?}");
        }
        let refused = call(&client, "add_task", json!({"user_id": "u1", "title": "three"})).await;
        let text = error_text(&refused);
        assert!(text.contains("2 tasks") && text.contains("delete finished ones"), "{text}");
        assert_eq!(server.db.list_tasks("u1", StatusFilter::All).await.unwrap().len(), 2);
    }

    async fn tasks_get_priorities_tags_and_due_dates_and_list_by_them(db) {
        let server = start(&db).await;
        let client = server.client("u1", stateless()).await;
        let rent = call(&client, "add_task", json!({"user_id": "u1", "title": "Pay rent", "priority": "high",
            "tags": ["#Home", "money"], "due": "2030-03-01", "time_zone": "Europe/Berlin"})).await;
        let rent = structured(&rent).clone();
        // A date alone is the end of that day in the user's zone, stored in UTC.
        assert_eq!((&rent["priority"], &rent["tags"], &rent["due_at"]), (&json!("high"), &json!(["home", "money"]), &json!("2030-03-01T22:59:59Z")));
        call(&client, "add_task", json!({"user_id": "u1", "title": "Buy milk", "tags": ["groceries"], "priority": "low"})).await;
        call(&client, "add_task", json!({"user_id": "u1", "title": "Renew passport", "due": "2000-01-01T09:00:00Z"})).await;

        let titles = |result: &CallToolResult| structured(result)["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        for (args, expected) in [
            (json!({"priority": "high"}), vec!["Pay rent"]),
            (json!({"tag": "#groceries"}), vec!["Buy milk"]),
            (json!({"search": "PASS"}), vec!["Renew passport"]),
            (json!({"overdue": true}), vec!["Renew passport"]),
            (json!({"due_within_days": 7}), vec!["Renew passport"]),
            (json!({"due_within_days": 3660}), vec!["Pay rent", "Renew passport"]),
            (json!({"sort": "priority"}), vec!["Pay rent", "Renew passport", "Buy milk"]),
            (json!({"sort": "due", "limit": 1}), vec!["Renew passport"]),
        ] {
            let mut full = args.clone();
            full["user_id"] = json!("u1");
            let listed = call(&client, "list_tasks", full).await;
            assert_eq!(titles(&listed), expected, "{args}");
        }
        let limited = call(&client, "list_tasks", json!({"user_id": "u1", "limit": 1})).await;
        assert_eq!((structured(&limited)["count"].as_u64(), structured(&limited)["total"].as_u64()), (Some(1), Some(3)));
        let overdue = call(&client, "list_tasks", json!({"user_id": "u1"})).await;
        assert_eq!(structured(&overdue)["overdue"], 1);

        // Tags are added and removed without restating the rest; the due date cleared with "".
        let id = rent["task_id"].clone();
        let changed = call(&client, "update_task", json!({"user_id": "u1", "task_id": id, "add_tags": ["urgent"], "remove_tags": ["money"], "due": "", "priority": "medium"})).await;
        let changed = structured(&changed);
        assert_eq!((&changed["tags"], &changed["due_at"], &changed["priority"]), (&json!(["home", "urgent"]), &json!(null), &json!("medium")));

        // Bad values are tool errors naming what is wrong, and change nothing.
        for (tool, args, needle) in [
            ("add_task", json!({"user_id": "u1", "title": "x", "priority": "urgent"}), "urgent"),
            ("add_task", json!({"user_id": "u1", "title": "x", "tags": ["two words"]}), "tag"),
            ("add_task", json!({"user_id": "u1", "title": "x", "due": "someday"}), "due"),
            ("add_task", json!({"user_id": "u1", "title": "x", "due": "2030-03-01", "time_zone": "Mars/Base"}), "time_zone"),
            ("list_tasks", json!({"user_id": "u1", "sort": "size"}), "size"),
            ("list_tasks", json!({"user_id": "u1", "tag": "a b"}), "tag"),
            ("update_task", json!({"user_id": "u1", "task_id": id, "due": "soon"}), "due"),
        ] {
            let result = call(&client, tool, args.clone()).await;
            assert!(error_text(&result).contains(needle), "{tool} {args}: {result:?}");
        }
        assert_eq!(server.db.list_tasks("u1", StatusFilter::All).await.unwrap().len(), 3);
        let _ = client.cancel().await;
    }

    async fn tools_are_listed_with_schemas_and_annotations_in_both_lifecycles(db) {
        let server = start(&db).await;
        for mode in [legacy(), stateless()] {
            let client = server.client("u1", mode).await;
            let tools = client.list_tools(None).await.unwrap().tools;
            let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
            names.sort();
            assert_eq!(names, ["add_task", "complete_task", "delete_task", "list_tasks", "update_task"]);
            for tool in &tools {
                assert!(tool.output_schema.is_some(), "{} has no output schema", tool.name);
                assert!(tool.description.as_deref().is_some_and(|d| d.len() > 20));
                let annotations = tool.annotations.as_ref().expect("annotations");
                assert_eq!(annotations.read_only_hint, Some(tool.name == "list_tasks"), "{}", tool.name);
                assert_eq!(annotations.destructive_hint.unwrap_or(false), tool.name == "delete_task", "{}", tool.name);
            }
            let _ = client.cancel().await;
        }
    }

    async fn every_tool_works_end_to_end(db) {
        let server = start(&db).await;
        for mode in [legacy(), stateless()] {
            let client = server.client("u1", mode).await;
            let added = call(&client, "add_task", json!({"user_id": "u1", "title": "Buy milk", "description": "2 litres"})).await;
            let added = structured(&added).clone();
            assert_eq!((added["status"].as_str(), added["title"].as_str()), (Some("created"), Some("Buy milk")));
            let id = added["task_id"].as_i64().unwrap();
            call(&client, "add_task", json!({"user_id": "u1", "title": "Call mom"})).await;

            let updated = call(&client, "update_task", json!({"user_id": "u1", "task_id": id, "title": "Buy oat milk"})).await;
            assert_eq!(structured(&updated)["status"], "updated");
            let completed = call(&client, "complete_task", json!({"user_id": "u1", "task_id": id})).await;
            assert_eq!(structured(&completed)["title"], "Buy oat milk");

            let listed = call(&client, "list_tasks", json!({"user_id": "u1", "status": "pending"})).await;
            let listed = structured(&listed);
            assert_eq!((listed["count"].as_u64(), listed["tasks"][0]["title"].as_str()), (Some(1), Some("Call mom")));
            let all = call(&client, "list_tasks", json!({"user_id": "u1"})).await;
            assert_eq!((structured(&all)["pending"].as_u64(), structured(&all)["completed"].as_u64()), (Some(1), Some(1)));
            assert!(!all.content.is_empty(), "readable text content as well");

            let deleted = call(&client, "delete_task", json!({"user_id": "u1", "task_id": id})).await;
            assert_eq!(structured(&deleted)["status"], "deleted");
            let remaining = server.db.list_tasks("u1", StatusFilter::All).await.unwrap();
            assert_eq!(remaining.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["Call mom"]);
            for task in remaining {
                server.db.delete_task("u1", task.id).await.unwrap();
            }
            let _ = client.cancel().await;
        }
    }

    async fn domain_errors_are_tool_errors_a_model_can_act_on(db) {
        let server = start(&db).await;
        let client = server.client("u1", stateless()).await;
        let missing = call(&client, "complete_task", json!({"user_id": "u1", "task_id": 424242})).await;
        assert!(error_text(&missing).contains("not found"));
        let empty = call(&client, "add_task", json!({"user_id": "u1", "title": "   "})).await;
        assert!(error_text(&empty).contains("title"));
        let long = call(&client, "add_task", json!({"user_id": "u1", "title": "x".repeat(201)})).await;
        assert!(error_text(&long).contains("200"));
        let nothing = call(&client, "update_task", json!({"user_id": "u1", "task_id": 1})).await;
        assert!(error_text(&nothing).contains("nothing to update"));
        assert!(server.db.list_tasks("u1", StatusFilter::All).await.unwrap().is_empty());
    }

    async fn malformed_arguments_are_reported_and_change_nothing(db) {
        // Per the 2025-11-25 specification, argument validation failures are tool execution
        // errors (so a model can correct its call); an unknown tool stays a protocol error.
        let server = start(&db).await;
        let client = server.client("u1", legacy()).await;
        for (tool, args, needle) in [
            ("add_task", json!({"user_id": "u1"}), "title"),
            ("complete_task", json!({"user_id": "u1", "task_id": "three"}), "three"),
            ("list_tasks", json!({"user_id": "u1", "status": "someday"}), "someday"),
            ("add_task", json!({"user_id": "u1", "title": "x", "owner": "u2"}), "owner"),
        ] {
            let result = call(&client, tool, args).await;
            assert!(error_text(&result).contains(needle), "{tool}: {result:?}");
        }
        let unknown = client.call_tool(CallToolRequestParams::new("drop_database")).await;
        assert!(unknown.is_err(), "{unknown:?}");
        assert!(server.db.list_tasks("u1", StatusFilter::All).await.unwrap().is_empty());
    }

    async fn no_argument_reaches_another_users_tasks(db) {
        let server = start(&db).await;
        let alice = server.client("alice", stateless()).await;
        let secret = call(&alice, "add_task", json!({"user_id": "alice", "title": "alice's secret"})).await;
        let id = structured(&secret)["task_id"].as_i64().unwrap();

        let mallory = server.client("mallory", legacy()).await;
        // Forged user_id: refused outright.
        for (tool, args) in [
            ("list_tasks", json!({"user_id": "alice"})),
            ("add_task", json!({"user_id": "alice", "title": "planted"})),
            ("complete_task", json!({"user_id": "alice", "task_id": id})),
            ("update_task", json!({"user_id": "alice", "task_id": id, "title": "pwned"})),
            ("delete_task", json!({"user_id": "alice", "task_id": id})),
        ] {
            let result = call(&mallory, tool, args).await;
            assert!(error_text(&result).contains("not the signed-in user"), "{tool}");
        }
        // Her own user_id with Alice's task id: it does not exist for her.
        for tool in ["complete_task", "delete_task"] {
            let result = call(&mallory, tool, json!({"user_id": "mallory", "task_id": id})).await;
            assert!(error_text(&result).contains("not found"), "{tool}");
        }
        let result = call(&mallory, "update_task", json!({"user_id": "mallory", "task_id": id, "title": "pwned"})).await;
        assert!(error_text(&result).contains("not found"));
        let listed = call(&mallory, "list_tasks", json!({"user_id": "mallory"})).await;
        assert_eq!(structured(&listed)["count"], 0);

        let tasks = server.db.list_tasks("alice", StatusFilter::All).await.unwrap();
        assert_eq!((tasks.len(), tasks[0].title.as_str(), tasks[0].completed), (1, "alice's secret", false));
    }
}

async fn post(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_before_any_tool_runs() {
    let db = TestDb::sqlite_memory();
    let server = start(&db).await;
    assert_eq!(post(&server.url, &[]).await.status(), 401);
    assert_eq!(
        post(&server.url, &[("authorization", "Bearer forged.token.here")])
            .await
            .status(),
        401
    );
    let other_secret = TokenIssuer::new(&TokenConfig {
        secret: b"x".repeat(40),
        ..tokens()
    })
    .issue("u1", "a@b.co", "A")
    .unwrap();
    assert_eq!(
        post(&server.url, &[("authorization", &format!("Bearer {other_secret}"))])
            .await
            .status(),
        401
    );
    let bearer = format!("Bearer {}", server.token("u1"));
    assert_eq!(post(&server.url, &[("authorization", &bearer)]).await.status(), 200);
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused_but_the_service_name_and_local_pages_work() {
    let db = TestDb::sqlite_memory();
    let server = start(&db).await;
    let bearer = format!("Bearer {}", server.token("u1"));
    let foreign = post(&server.url, &[("authorization", &bearer), ("host", "evil.example.com")]).await;
    assert_eq!(foreign.status(), 403);
    let browser = post(
        &server.url,
        &[("authorization", &bearer), ("origin", "https://evil.example.com")],
    )
    .await;
    assert_eq!(browser.status(), 403);
    let local_page = post(
        &server.url,
        &[("authorization", &bearer), ("origin", "http://localhost:6274")],
    )
    .await;
    assert_eq!(
        local_page.status(),
        200,
        "a page served from this machine (Inspector UI) is accepted"
    );
    let in_cluster = post(&server.url, &[("authorization", &bearer), ("host", "todo-mcp:8001")]).await;
    assert_eq!(in_cluster.status(), 200, "the Kubernetes service name must be accepted");
}

/// A tool call is a few hundred bytes: bodies past the 64 KiB every other API allows are refused
/// before rmcp (whose own limit is 4 MiB) reads them, in either lifecycle, and nothing is added.
#[tokio::test]
async fn a_body_past_64_kib_is_refused_and_adds_nothing() {
    let db = TestDb::sqlite_memory();
    let server = start(&db).await;
    let bearer = format!("Bearer {}", server.token("u1"));
    let title = "x".repeat(100 * 1024);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"user_id": "u1", "title": title}}});
    for version in ["2025-11-25", "2026-07-28"] {
        let answer = reqwest::Client::new()
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .header("authorization", &bearer)
            .body(call.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 413, "{version}");
        let error: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], "payload_too_large", "{version}");
    }
    assert!(server.db.list_tasks("u1", StatusFilter::All).await.unwrap().is_empty());
}
