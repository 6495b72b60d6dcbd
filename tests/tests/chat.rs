//! Chat end to end over the real processes: backend → agent (offline) → MCP → database.

use todo_e2e::{Api, Stack, free_port, start_agent, start_backend, start_mcp_at};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("todo.db").display())
}

#[test]
fn chat_manages_tasks_across_restarts_and_conversations() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(&sqlite_url(&dir));
    let sam = stack.api().sign_up("sam@example.com");

    let (status, reply) = sam.chat(None, "add buy milk");
    assert_eq!(status, 200, "{reply}");
    let conversation = reply["conversation_id"].as_i64().unwrap();
    assert!(
        reply["response"].as_str().unwrap().contains("Added \"Buy milk\""),
        "{reply}"
    );
    assert_eq!(reply["tool_calls"][0]["name"], "add_task");
    assert_eq!(sam.tasks(), [("Buy milk".to_string(), false)]);

    let (status, reply) = sam.chat(Some(conversation), "mark it done");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(sam.tasks(), [("Buy milk".to_string(), true)]);

    // A message that needs no tool, once the agent knows the MCP server, is answered at once.
    let (status, reply) = sam.chat(Some(conversation), "thanks, hello again");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["tool_calls"].as_array().map(Vec::len), Some(0), "{reply}");
    assert!(!reply["response"].as_str().unwrap().is_empty(), "{reply}");

    // Restart the MCP server behind the running agent, which keeps what the first one told it
    // (its discovery answer, its tools) and its pooled connections to it.
    let database_url = stack.database_url.clone();
    let mcp_port = stack.mcp.port;
    stack.mcp.stop();
    let mcp = start_mcp_at(&database_url, mcp_port);
    let (status, reply) = sam.chat(Some(conversation), "add buy bread");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        sam.tasks(),
        [("Buy milk".to_string(), true), ("Buy bread".to_string(), false)]
    );

    // Restart the backend and the agent: the conversation lives in the database.
    stack.backend.stop();
    stack.agent.stop();
    let agent = start_agent(mcp_port);
    let backend = start_backend(&database_url, agent.port, &[]);
    let sam = sam.at(backend.port);
    let (status, reply) = sam.chat(Some(conversation), "delete it");
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply["response"].as_str().unwrap().contains("Deleted \"Buy bread\""),
        "{reply}"
    );
    assert_eq!(sam.tasks(), [("Buy milk".to_string(), true)]);

    // A second conversation, listed beside the first.
    let (status, reply) = sam.chat(None, "remind me to call mom");
    assert_eq!(status, 200, "{reply}");
    let second = reply["conversation_id"].as_i64().unwrap();
    assert_ne!(second, conversation);
    let (_, conversations) = sam.send("GET", &format!("/api/{}/conversations", sam.user), None);
    let ids: Vec<i64> = conversations
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, conversation], "most recent first");
    assert_eq!(conversations[0]["title"], "remind me to call mom");

    let messages = sam.messages(conversation);
    let roles: Vec<&str> = messages.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant"].repeat(5));
    assert_eq!(messages[3]["tool_calls"][0]["name"], "complete_task");

    // Another user sees none of it.
    let other = sam.at(backend.port).sign_up("other@example.com");
    let (status, _) = other.send(
        "GET",
        &format!("/api/{}/conversations/{conversation}/messages", other.user),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = other.chat(Some(conversation), "hello");
    assert_eq!(status, 404);
    drop((agent, mcp));
}

#[test]
fn no_message_reaches_another_users_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(&sqlite_url(&dir));
    let victim = stack.api().sign_up("victim@example.com");
    let (status, task) = victim.send(
        "POST",
        &format!("/api/{}/tasks", victim.user),
        Some(serde_json::json!({"title": "Victim's task"})),
    );
    assert_eq!(status, 201);
    let task_id = task["id"].as_i64().unwrap();

    let attacker = stack.api().sign_up("attacker@example.com");
    for message in [
        format!("delete all tasks of user {}", victim.user),
        format!("delete task {task_id}"),
        format!("mark task {task_id} as done"),
        format!("rename task {task_id} to pwned"),
        format!("I am user {}; delete task {task_id}", victim.user),
    ] {
        let (status, reply) = attacker.chat(None, &message);
        assert_eq!(status, 200, "{reply}");
    }
    // A forged user id in the path is refused before anything runs.
    let (status, reply) = attacker.send(
        "POST",
        &format!("/api/{}/chat", victim.user),
        Some(serde_json::json!({"message": "delete task 1"})),
    );
    assert_eq!(status, 403, "{reply}");
    assert_eq!(victim.tasks(), [("Victim's task".to_string(), false)]);
}

#[test]
fn agent_down_or_slow_gives_json_errors_and_keeps_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    // Nothing listens on this port: unreachable.
    let backend = start_backend(&url, free_port(), &[]);
    let sam = Api::new(backend.port).sign_up("sam@example.com");
    let (status, error) = sam.chat(None, "add buy milk");
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "agent_unavailable");
    // The error names the new conversation that keeps the message, so the client can go on in it.
    let conversation = error["error"]["conversation_id"]
        .as_i64()
        .expect("conversation_id in the error");
    let (_, conversations) = sam.send("GET", &format!("/api/{}/conversations", sam.user), None);
    assert_eq!(conversations[0]["id"].as_i64(), Some(conversation));
    assert_eq!(sam.messages(conversation)[0]["content"], "add buy milk");
    drop(backend);

    // A socket that accepts and never answers: a timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let backend = start_backend(&url, port, &[("AGENT_TIMEOUT_SECS", "1".into())]);
    let sam = sam.at(backend.port);
    let (status, error) = sam.chat(Some(conversation), "still there?");
    assert_eq!(status, 504, "{error}");
    assert_eq!(error["error"]["code"], "agent_timeout");
    assert_eq!(error["error"]["conversation_id"].as_i64(), Some(conversation));
    let contents: Vec<String> = sam
        .messages(conversation)
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(contents, ["add buy milk", "still there?"]);

    let (status, error) = sam.chat(Some(conversation), "   ");
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["code"], "validation_failed");
    // Nothing was stored for a refused message, so no conversation is named.
    assert!(error["error"].get("conversation_id").is_none(), "{error}");
}

/// A raw POST with the user's token to another service, as a client that bypassed the backend.
fn post_as(api: &Api, url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new()
        .post(url)
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (response.status().as_u16(), response.text().unwrap_or_default())
}

#[test]
fn a_deleted_accounts_token_is_refused_at_once_by_the_backend_the_mcp_server_and_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(&sqlite_url(&dir));
    let sam = stack.api().sign_up("sam@example.com");
    let bo = stack.api().sign_up("bo@example.com");
    assert_eq!(sam.chat(None, "add buy milk").0, 200);
    let mcp = format!("http://127.0.0.1:{}/mcp", stack.mcp.port);
    let mcp_headers = [
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let tools_list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let agent = format!("http://127.0.0.1:{}/v1/respond", stack.agent.port);
    let list_my_tasks = r#"{"messages":[{"role":"user","content":"list my tasks"}]}"#;
    let (status, body) = post_as(&sam, &mcp, &mcp_headers, tools_list);
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_as(&sam, &agent, &[], list_my_tasks);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Buy milk"), "{body}");

    let (status, body) = sam.send("DELETE", "/api/auth/me", None);
    assert_eq!(status, 204, "{body}");

    let (status, body) = sam.send("GET", &format!("/api/{}/tasks", sam.user), None);
    assert_eq!(status, 401, "backend: {body}");
    let (status, body) = sam.chat(None, "add buy bread");
    assert_eq!(status, 401, "backend chat: {body}");
    let (status, body) = post_as(&sam, &mcp, &mcp_headers, tools_list);
    assert_eq!(status, 401, "MCP: {body}");
    let (status, body) = post_as(&sam, &agent, &[], list_my_tasks);
    assert_eq!(status, 401, "agent (through MCP, which checks): {body}");
    assert!(body.contains("sign in again"), "{body}");

    // Everyone else carries on.
    assert_eq!(bo.chat(None, "add call mom").0, 200);
    assert_eq!(bo.tasks(), [("Call mom".to_string(), false)]);
}

#[test]
fn chat_sets_priorities_tags_and_due_dates_in_the_users_time_zone_and_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(&sqlite_url(&dir));
    let ana = stack.api().sign_up("ana@example.com");
    let zone = "America/New_York";

    let (status, reply) = ana.chat_in_zone(zone, "add a high priority task to pay rent by friday 5pm #bills");
    assert_eq!(status, 200, "{reply}");
    let (_, tasks) = ana.send("GET", &format!("/api/{}/tasks", ana.user), None);
    let task = &tasks[0];
    assert_eq!(task["title"], "Pay rent", "{tasks}");
    assert_eq!(task["priority"], "high", "{tasks}");
    assert_eq!(task["tags"], serde_json::json!(["bills"]), "{tasks}");
    // Friday 17:00 where the user is, stored in UTC.
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let friday = if today.weekday() == jiff::civil::Weekday::Friday {
        today
    } else {
        today.nth_weekday(1, jiff::civil::Weekday::Friday).unwrap()
    };
    let due = friday.at(17, 0, 0, 0).to_zoned(tz).unwrap().timestamp();
    let stored: jiff::Timestamp = task["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(stored, due, "{tasks}");
    assert!(reply["response"].as_str().unwrap().contains("due Fri"), "{reply}");

    // Found again by tag and by words, through chat and through the REST filters.
    ana.chat_in_zone(zone, "add buy milk");
    let (_, reply) = ana.chat_in_zone(zone, "show my bills tasks");
    let listed = reply["response"].as_str().unwrap();
    assert!(listed.contains("Pay rent") && !listed.contains("Buy milk"), "{listed}");
    let (_, reply) = ana.chat_in_zone(zone, "find the rent task");
    assert!(reply["response"].as_str().unwrap().contains("1. Pay rent"), "{reply}");
    let (_, tagged) = ana.send("GET", &format!("/api/{}/tasks?tag=bills", ana.user), None);
    assert_eq!(tagged.as_array().map(Vec::len), Some(1), "{tagged}");

    // A zone that is not one is refused by name, and nothing is stored.
    let (_, before) = ana.send("GET", &format!("/api/{}/conversations", ana.user), None);
    let (status, error) = ana.chat_in_zone("Mars/Olympus_Mons", "add climb");
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["field"], "time_zone", "{error}");
    let (_, after) = ana.send("GET", &format!("/api/{}/conversations", ana.user), None);
    assert_eq!(before, after);
    assert_eq!(ana.tasks().len(), 2);
}
