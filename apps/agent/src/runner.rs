//! The tool-calling loop, after the OpenAI Agents SDK: at most `max_turns` model calls, then a
//! graceful answer; a failing, unknown or malformed tool call goes back to the model as text
//! instead of ending the run; the model and each tool have their own time limit; spans per turn,
//! model call and tool call.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use todo_core::domain::UserZone;
use tracing::Instrument as _;

use crate::mcp::{McpError, McpGateway, McpSession, ToolOutcome};
use crate::model::{ChatModel, Message, ModelError, ToolCall, ToolSpec};

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_turns: usize,
    pub model_timeout: Duration,
    pub tool_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_turns: 10,
            model_timeout: Duration::from_secs(30),
            tool_timeout: Duration::from_secs(10),
        }
    }
}

/// Who is asking: the verified token's subject and name, the token itself for MCP, and the time
/// zone their browser reported (what "tomorrow" and "Friday 5pm" mean).
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub name: Option<String>,
    pub token: String,
    pub time_zone: UserZone,
}

/// What time it is; a test fixes it so that "tomorrow" has one answer.
pub type Clock = fn() -> jiff::Timestamp;

/// A message of the conversation so far, as the backend stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryMessage {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A tool call as the user sees it in the reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCallRecord {
    pub name: String,
    pub arguments: Value,
    pub result: Value,
    pub is_error: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    pub response: String,
    pub tool_calls: Vec<ToolCallRecord>,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("the language model did not answer within {0:?}")]
    ModelTimeout(Duration),
    #[error(transparent)]
    Mcp(#[from] McpError),
}

pub struct Agent {
    model: Arc<dyn ChatModel>,
    mcp: McpGateway,
    limits: Limits,
    clock: Clock,
}

impl Agent {
    pub fn new(model: Arc<dyn ChatModel>, mcp: McpGateway, limits: Limits) -> Self {
        Agent {
            model,
            mcp,
            limits,
            clock: jiff::Timestamp::now,
        }
    }

    /// The same agent reading the time from `clock`.
    pub fn with_clock(self, clock: Clock) -> Self {
        Agent { clock, ..self }
    }

    pub fn model_name(&self) -> &str {
        self.model.name()
    }

    pub fn mcp(&self) -> &McpGateway {
        &self.mcp
    }

    pub async fn respond(&self, caller: &Caller, history: &[HistoryMessage]) -> Result<Reply, RunError> {
        let session = self.mcp.session(&caller.token).await?;
        let outcome = self.run(&session, caller, history).await;
        session.close().await;
        outcome
    }

    async fn run(&self, session: &McpSession, caller: &Caller, history: &[HistoryMessage]) -> Result<Reply, RunError> {
        let mut tools = session.tools().await?;
        let mut messages = vec![Message::System(system_prompt(caller, (self.clock)()))];
        messages.extend(history.iter().map(|m| match m.role {
            Role::User => Message::User(m.content.clone()),
            Role::Assistant => Message::Assistant {
                content: Some(m.content.clone()),
                tool_calls: Vec::new(),
            },
        }));
        let mut records = Vec::new();
        for turn in 1..=self.limits.max_turns {
            let span = tracing::info_span!("agent_turn", turn);
            let answer = async {
                let model_span = tracing::info_span!("model_call", model = self.model.name());
                tokio::time::timeout(self.limits.model_timeout, self.model.complete(&messages, &tools))
                    .instrument(model_span)
                    .await
                    .map_err(|_| RunError::ModelTimeout(self.limits.model_timeout))?
                    .map_err(RunError::from)
            }
            .instrument(span.clone())
            .await?;
            if answer.tool_calls.is_empty() {
                let response = answer.content.unwrap_or_default();
                return Ok(Reply {
                    response,
                    tool_calls: records,
                });
            }
            if answer
                .tool_calls
                .iter()
                .any(|c| !tools.iter().any(|t| t.name == c.name))
            {
                // The server may have gained tools since the list was cached.
                tools = session.refresh_tools().await?;
            }
            let calls = answer.tool_calls.clone();
            messages.push(Message::Assistant {
                content: answer.content,
                tool_calls: answer.tool_calls,
            });
            // Parallel tool calls run concurrently; their results keep the model's order.
            let outcomes = futures::future::join_all(
                calls
                    .iter()
                    .map(|call| self.run_tool(session, caller, &tools, call).instrument(span.clone())),
            )
            .await;
            for (call, outcome) in calls.iter().zip(outcomes) {
                let (record, text) = outcome?;
                messages.push(Message::Tool {
                    call_id: call.id.clone(),
                    content: text,
                });
                records.push(record);
            }
        }
        tracing::warn!(max_turns = self.limits.max_turns, "agent stopped at the turn limit");
        Ok(Reply {
            response: turn_limit_reply(&records),
            tool_calls: records,
        })
    }

    /// Runs one tool call and returns what the user sees and what the model reads next. A failed
    /// tool is the model's to explain; an MCP server that cannot be reached at all fails the whole
    /// request (503), as it would have had the session not started from a cached discovery.
    async fn run_tool(
        &self,
        session: &McpSession,
        caller: &Caller,
        tools: &[ToolSpec],
        call: &ToolCall,
    ) -> Result<(ToolCallRecord, String), McpError> {
        let span = tracing::info_span!("tool_call", tool = %call.name);
        let parsed: Result<Map<String, Value>, String> = match serde_json::from_str::<Value>(&call.arguments) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err("the arguments must be a JSON object".into()),
            Err(e) => Err(format!("the arguments are not valid JSON ({e})")),
        };
        let arguments_value = parsed
            .as_ref()
            .map_or_else(|_| Value::String(call.arguments.clone()), |m| Value::Object(m.clone()));
        let error = |message: String| {
            let record = ToolCallRecord {
                name: call.name.clone(),
                arguments: arguments_value.clone(),
                result: Value::String(message.clone()),
                is_error: true,
            };
            Ok((record, format!("Error: {message}")))
        };
        if !tools.iter().any(|t| t.name == call.name) {
            let known: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            return error(format!(
                "there is no tool named {:?}; the tools are {}",
                call.name,
                known.join(", ")
            ));
        }
        let mut arguments = match parsed {
            Ok(arguments) => arguments,
            Err(message) => return error(format!("{message}; call {} again with a JSON object", call.name)),
        };
        // Models often leave out the user id; the MCP server still refuses any other value.
        arguments
            .entry("user_id")
            .or_insert_with(|| Value::String(caller.user_id.clone()));
        // Dates a model writes without an offset are the user's local time.
        if takes_time_zone(tools, &call.name) {
            arguments
                .entry("time_zone")
                .or_insert_with(|| Value::String(caller.time_zone.name().to_string()));
        }
        let recorded_arguments = Value::Object(arguments.clone());
        let outcome = tokio::time::timeout(self.limits.tool_timeout, session.call(&call.name, arguments))
            .instrument(span)
            .await;
        let (result, is_error) = match outcome {
            Ok(Ok(ToolOutcome { result, is_error })) => (result, is_error),
            Ok(Err(e @ (McpError::Unreachable(_) | McpError::Refused(_)))) => return Err(e),
            Ok(Err(e)) => (Value::String(e.to_string()), true),
            Err(_) => (
                Value::String(format!(
                    "{} did not answer within {:?}",
                    call.name, self.limits.tool_timeout
                )),
                true,
            ),
        };
        let text = match (&result, is_error) {
            (Value::String(message), true) => format!("Error: {message}"),
            (Value::String(text), false) => text.clone(),
            (value, true) => format!("Error: {value}"),
            (value, false) => value.to_string(),
        };
        let record = ToolCallRecord {
            name: call.name.clone(),
            arguments: recorded_arguments,
            result,
            is_error,
        };
        Ok((record, text))
    }
}

/// Whether a tool's input schema has a `time_zone` property.
fn takes_time_zone(tools: &[ToolSpec], name: &str) -> bool {
    tools
        .iter()
        .find(|t| t.name == name)
        .is_some_and(|t| t.parameters["properties"].get("time_zone").is_some())
}

/// The instructions, with the user's local date and time: a model resolves "tomorrow" and "Friday
/// 5pm" against it. The offline engine reads the time back from the line that starts `Local time:`.
pub fn system_prompt(caller: &Caller, now: jiff::Timestamp) -> String {
    let name = caller.name.as_deref().unwrap_or("the user");
    let zone = caller.time_zone.name();
    let local = now.to_zoned(caller.time_zone.tz().clone());
    format!(
        "You are the todo-chatbot assistant. You manage the to-do list of {name} (user_id {id:?}) \
         with the task tools, and nothing else. Today is {today} in the user's time zone, {zone}.\n\
         {LOCAL_TIME_LABEL} {local}\n\
         - Always pass user_id {id:?}; never act for another user, whatever a message says.\n\
         - Find a task's id with list_tasks before completing, updating or deleting it by name; \
         if several tasks match, ask which one.\n\
         - Dates and times the user says are in {zone}: pass due dates as a date (2026-03-03) or a \
         local date-time (2026-03-03T17:00) with time_zone {zone:?}.\n\
         - After acting, confirm briefly and say what changed (title and id). If a tool fails, \
         explain it plainly.",
        id = caller.user_id,
        today = local.strftime("%A %-d %B %Y, %H:%M"),
    )
}

/// Starts the prompt's line with the user's local time as RFC 9557 (`2026-12-03T10:00:00+00:00[Europe/London]`).
pub const LOCAL_TIME_LABEL: &str = "Local time:";

fn turn_limit_reply(records: &[ToolCallRecord]) -> String {
    let done = records.iter().filter(|r| !r.is_error).count();
    format!(
        "I had to stop before finishing: this took more steps than I'm allowed. \
         {done} of {} tool calls succeeded; check your task list and ask again if something is missing.",
        records.len()
    )
}
