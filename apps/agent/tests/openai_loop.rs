//! The agent loop with the OpenAI-compatible provider against a scripted fake Chat Completions
//! server (real HTTP), and a real MCP server behind the tools.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::McpServer;
use serde_json::{Value, json};
use todo_agent::Limits;
use todo_agent::model::ChatModel;
use todo_agent::openai::{OpenAiModel, OpenAiSettings};
use todo_agent::runner::{Caller, HistoryMessage, Role, RunError};

/// One scripted answer: an HTTP status and a raw body.
#[derive(Clone)]
struct Scripted(u16, String);

#[derive(Clone, Default)]
struct Script {
    answers: Arc<Mutex<Vec<Scripted>>>,
    requests: Arc<Mutex<Vec<Value>>>,
    /// When the script runs out: keep answering the last one (a model that never stops).
    repeat_last: bool,
}

async fn completions(State(script): State<Script>, Json(request): Json<Value>) -> Response {
    script.requests.lock().unwrap().push(request);
    let mut answers = script.answers.lock().unwrap();
    let Scripted(status, body) = if answers.len() > 1 || !script.repeat_last {
        if answers.is_empty() {
            return (StatusCode::INTERNAL_SERVER_ERROR, "script exhausted").into_response();
        }
        answers.remove(0)
    } else {
        answers[0].clone()
    };
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

struct FakeOpenAi {
    script: Script,
    base_url: String,
}

impl FakeOpenAi {
    async fn start(answers: Vec<Scripted>, repeat_last: bool) -> FakeOpenAi {
        let script = Script {
            answers: Arc::new(Mutex::new(answers)),
            requests: Arc::default(),
            repeat_last,
        };
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeOpenAi { script, base_url }
    }

    fn model(&self) -> Arc<dyn ChatModel> {
        Arc::new(OpenAiModel::new(OpenAiSettings {
            api_key: "sk-test".into(),
            base_url: self.base_url.clone(),
            model: "gpt-test".into(),
        }))
    }

    fn requests(&self) -> Vec<Value> {
        self.script.requests.lock().unwrap().clone()
    }
}

fn ok(message: Value) -> Scripted {
    Scripted(
        200,
        json!({"id": "x", "object": "chat.completion", "model": "gpt-test",
               "choices": [{"index": 0, "finish_reason": "", "message": message}]})
        .to_string(),
    )
}

fn say(text: &str) -> Scripted {
    ok(json!({"role": "assistant", "content": text}))
}

fn call(calls: &[(&str, &str, &str)]) -> Scripted {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
        .collect();
    ok(json!({"role": "assistant", "content": null, "tool_calls": calls}))
}

fn history(text: &str) -> Vec<HistoryMessage> {
    vec![HistoryMessage {
        role: Role::User,
        content: text.into(),
    }]
}

async fn run(
    server: &McpServer,
    fake: &FakeOpenAi,
    caller: &Caller,
    text: &str,
    limits: Limits,
) -> todo_agent::runner::Reply {
    server
        .agent(fake.model(), limits)
        .respond(caller, &history(text))
        .await
        .expect("agent replies")
}

#[tokio::test]
async fn a_tool_call_then_an_answer_with_the_mcp_tools_offered() {
    let server = McpServer::start().await;
    let caller = server.caller("u1");
    let fake = FakeOpenAi::start(
        vec![
            call(&[("c1", "add_task", r#"{"user_id":"u1","title":"Buy milk"}"#)]),
            say("Added Buy milk."),
        ],
        false,
    )
    .await;
    let reply = run(&server, &fake, &caller, "add buy milk", Limits::default()).await;
    assert_eq!(reply.response, "Added Buy milk.");
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].result["status"], "created");
    assert_eq!(server.state("u1").await, [("Buy milk".to_string(), false)]);

    let requests = fake.requests();
    let tools: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(
        tools.contains(&"add_task") && tools.contains(&"list_tasks"),
        "{tools:?}"
    );
    assert!(requests[0]["tools"][0]["function"]["parameters"]["properties"].is_object());
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("Alex") && system.contains("\"u1\"") && system.contains("Today is"),
        "{system}"
    );
    // The second request carries the call and its result, linked by id.
    let messages = requests[1]["messages"].as_array().unwrap();
    assert_eq!(messages[2]["tool_calls"][0]["id"], "c1");
    assert_eq!(messages[3]["role"], "tool");
    assert_eq!(messages[3]["tool_call_id"], "c1");
    assert!(messages[3]["content"].as_str().unwrap().contains("\"created\""));
}

#[tokio::test]
async fn parallel_calls_malformed_arguments_and_unknown_tools_go_back_to_the_model() {
    let server = McpServer::start().await;
    let caller = server.caller("u1");
    let fake = FakeOpenAi::start(
        vec![
            call(&[
                ("a", "add_task", r#"{"title":"Milk"}"#),
                ("b", "add_task", r#"{"title":"Eggs"}"#),
                ("c", "add_task", r#"{"title": "Bread"#),
                ("d", "drop_database", r#"{}"#),
                ("e", "complete_task", r#"{"task_id": 999}"#),
            ]),
            say("Done, with some problems."),
        ],
        false,
    )
    .await;
    let reply = run(&server, &fake, &caller, "add milk, eggs and bread", Limits::default()).await;
    let errors: Vec<bool> = reply.tool_calls.iter().map(|c| c.is_error).collect();
    assert_eq!(errors, [false, false, true, true, true]);
    let mut titles: Vec<String> = server.state("u1").await.into_iter().map(|(t, _)| t).collect();
    titles.sort();
    assert_eq!(titles, ["Eggs", "Milk"]);
    let results: Vec<String> = fake.requests()[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(
        results[2].starts_with("Error: the arguments are not valid JSON"),
        "{}",
        results[2]
    );
    assert!(results[3].contains("no tool named \"drop_database\""), "{}", results[3]);
    assert!(results[4].contains("task 999 not found"), "{}", results[4]);
}

#[tokio::test]
async fn a_forged_user_id_is_refused_by_the_mcp_server() {
    let server = McpServer::start().await;
    server.seed("victim", &[("Secret plan", false)]).await;
    let caller = server.caller("attacker");
    let fake = FakeOpenAi::start(
        vec![
            call(&[
                ("a", "list_tasks", r#"{"user_id":"victim"}"#),
                ("b", "delete_task", r#"{"user_id":"victim","task_id":1}"#),
                ("c", "delete_task", r#"{"task_id":1}"#),
            ]),
            say("I can't do that."),
        ],
        false,
    )
    .await;
    let reply = run(
        &server,
        &fake,
        &caller,
        "delete all tasks of user victim",
        Limits::default(),
    )
    .await;
    assert!(reply.tool_calls.iter().all(|c| c.is_error), "{:?}", reply.tool_calls);
    assert_eq!(server.state("victim").await, [("Secret plan".to_string(), false)]);
}

#[tokio::test]
async fn a_model_that_never_stops_calling_tools_ends_at_the_turn_limit() {
    let server = McpServer::start().await;
    let caller = server.caller("u1");
    let fake = FakeOpenAi::start(vec![call(&[("a", "list_tasks", r#"{}"#)])], true).await;
    let limits = Limits {
        max_turns: 4,
        ..Limits::default()
    };
    let reply = run(&server, &fake, &caller, "loop forever", limits).await;
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(reply.tool_calls.len(), 4);
    assert!(reply.response.contains("I had to stop"), "{}", reply.response);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_then_reported() {
    let server = McpServer::start().await;
    let caller = server.caller("u1");
    let rate_limited = Scripted(
        429,
        json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})
            .to_string(),
    );
    let fake = FakeOpenAi::start(
        vec![rate_limited, Scripted(503, "overloaded".into()), say("Hello!")],
        false,
    )
    .await;
    let reply = run(&server, &fake, &caller, "hi", Limits::default()).await;
    assert_eq!(reply.response, "Hello!");
    assert_eq!(fake.requests().len(), 3);

    let failing = FakeOpenAi::start(vec![Scripted(500, "boom".into()); 4], false).await;
    let error = server
        .agent(failing.model(), Limits::default())
        .respond(&caller, &history("hi"))
        .await
        .unwrap_err();
    assert!(matches!(error, RunError::Model(_)), "{error:?}");
    assert!(error.to_string().contains("500"), "{error}");
    assert_eq!(failing.requests().len(), 4, "three retries after the first attempt");
}

#[tokio::test]
async fn garbage_bodies_and_client_errors_are_not_retried() {
    let server = McpServer::start().await;
    let caller = server.caller("u1");
    for answer in [
        Scripted(200, "<html>not json</html>".into()),
        Scripted(200, json!({"choices": []}).to_string()),
        Scripted(
            401,
            json!({"error": {"message": "Incorrect API key", "type": "invalid_request_error"}}).to_string(),
        ),
    ] {
        let fake = FakeOpenAi::start(vec![answer], false).await;
        let error = server
            .agent(fake.model(), Limits::default())
            .respond(&caller, &history("hi"))
            .await
            .unwrap_err();
        assert!(matches!(error, RunError::Model(_)), "{error:?}");
        assert_eq!(fake.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_slow_model_times_out() {
    let server = McpServer::start().await;
    let caller = server.caller("u1");
    // Nothing listens behind an accepted-but-silent socket: the model call hangs.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let model: Arc<dyn ChatModel> = Arc::new(OpenAiModel::new(OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: format!("http://{}/v1", silent.local_addr().unwrap()),
        model: "gpt-test".into(),
    }));
    let limits = Limits {
        model_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let error = server
        .agent(model, limits)
        .respond(&caller, &history("hi"))
        .await
        .unwrap_err();
    assert!(matches!(error, RunError::ModelTimeout(_)), "{error:?}");
}

#[tokio::test]
async fn the_users_time_zone_reaches_the_prompt_and_the_tools() {
    let server = McpServer::start().await;
    let mut caller = server.caller("u1");
    caller.time_zone = todo_core::domain::UserZone::parse("zone", "America/New_York").unwrap();
    let fake = FakeOpenAi::start(
        vec![
            // A local time, as the prompt asks for, and no time_zone: the agent adds the user's.
            call(&[("c1", "add_task", r#"{"title":"Pay rent","due":"2026-12-04T17:00"}"#)]),
            say("Added."),
        ],
        false,
    )
    .await;
    fn noon_utc() -> jiff::Timestamp {
        "2026-12-03T12:00:00Z".parse().unwrap()
    }
    let reply = server
        .agent(fake.model(), Limits::default())
        .with_clock(noon_utc)
        .respond(&caller, &history("add pay rent by friday 5pm"))
        .await
        .unwrap();
    let system = fake.requests()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        system.contains("Thursday 3 December 2026, 07:00")
            && system.contains("Local time: 2026-12-03T07:00:00-05:00[America/New_York]"),
        "{system}"
    );
    assert_eq!(reply.tool_calls[0].arguments["time_zone"], "America/New_York");
    // 17:00 in New York is 22:00 UTC.
    assert_eq!(
        reply.tool_calls[0].result["due_at"], "2026-12-04T22:00:00Z",
        "{:?}",
        reply.tool_calls
    );
}
