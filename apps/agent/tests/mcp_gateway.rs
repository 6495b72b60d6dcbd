//! The agent's MCP connection: what it asks the server once, and how it fails when the server is
//! gone.

mod common;

use std::sync::Arc;

use common::{Chat, McpServer};
use todo_agent::Limits;
use todo_agent::offline::OfflineModel;
use todo_agent::runner::{HistoryMessage, Role, RunError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_tool_list_are_asked_once_then_reused() {
    let server = McpServer::start().await;
    let agent = server.agent(Arc::new(OfflineModel), Limits::default());
    let mut chat = Chat::new(&agent, server.caller("u1"));
    assert!(!agent.mcp().has_discovered().await);

    // First chat: server/discover, tools/list, then add_task.
    let reply = chat.say("add buy milk").await;
    assert!(reply.response.contains("Buy milk"), "{}", reply.response);
    assert_eq!(server.requests(), 3);
    assert!(agent.mcp().has_discovered().await);

    // Later chats, even another user's: only the tool calls themselves.
    let before = server.requests();
    let reply = chat.say("mark it done").await;
    assert!(reply.tool_calls.iter().all(|c| !c.is_error), "{:?}", reply.tool_calls);
    let mut other = Chat::new(&agent, server.caller("u2"));
    let reply = other.say("add call mom").await;
    assert!(reply.response.contains("Call mom"), "{}", reply.response);
    let calls = 1 + reply.tool_calls.len();
    assert_eq!(server.requests() - before, calls);
    assert_eq!(server.state("u1").await, vec![("Buy milk".to_string(), true)]);
    assert_eq!(server.state("u2").await, vec![("Call mom".to_string(), false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_without_tool_calls_after_discovery_needs_no_mcp_request() {
    let server = McpServer::start().await;
    let agent = server.agent(Arc::new(OfflineModel), Limits::default());
    let mut chat = Chat::new(&agent, server.caller("u1"));
    chat.say("add buy milk").await;
    assert!(agent.mcp().has_discovered().await);
    let before = server.requests();
    // A greeting and a refused bulk delete: the model calls no tool, so no session is opened.
    // (Such a session, started from the cached discovery, used to hang on closing.)
    for message in ["hello", "delete all my tasks"] {
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), chat.say(message))
            .await
            .unwrap_or_else(|_| panic!("{message:?}: no reply within 10 s"));
        assert!(reply.tool_calls.is_empty(), "{message:?}: {:?}", reply.tool_calls);
        assert!(!reply.response.is_empty());
    }
    assert_eq!(
        server.requests(),
        before,
        "no MCP request for replies without tool calls"
    );
    assert_eq!(server.state("u1").await, vec![("Buy milk".to_string(), false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_server_gone_after_discovery_fails_the_request_not_the_tool() {
    let mut server = McpServer::start().await;
    let agent = server.agent(Arc::new(OfflineModel), Limits::default());
    let caller = server.caller("u1");
    let say = |text: &str| {
        vec![HistoryMessage {
            role: Role::User,
            content: text.into(),
        }]
    };
    agent.respond(&caller, &say("add buy milk")).await.expect("first chat");
    assert!(agent.mcp().has_discovered().await);

    server.stop().await;
    let error = agent
        .respond(&caller, &say("add call mom"))
        .await
        .expect_err("no MCP server, no reply");
    assert!(matches!(error, RunError::Mcp(_)), "{error:?}");
    assert!(error.to_string().contains("unreachable"), "{error}");
    // The next request discovers afresh, and so fails at once rather than after the model's turn.
    assert!(!agent.mcp().has_discovered().await);
    let error = agent
        .respond(&caller, &say("hello"))
        .await
        .expect_err("still no MCP server");
    assert!(error.to_string().contains("unreachable"), "{error}");
}
