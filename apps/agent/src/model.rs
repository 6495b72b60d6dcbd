//! What the agent loop and the language-model providers exchange: a conversation in the Chat
//! Completions shape (system, user, assistant with tool calls, tool results) and the tools offered.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    System(String),
    User(String),
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        call_id: String,
        content: String,
    },
}

/// A function call the model asked for; `arguments` is the model's raw JSON text, which may be
/// malformed.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A tool offered to the model, built from an MCP tool's name, description and input schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// One model answer: text for the user, or tool calls to run first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelTurn {
    pub content: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("the language model is unreachable: {0}")]
    Unreachable(String),
    #[error("the language model answered an error: {0}")]
    Api(String),
    #[error("the language model's answer could not be read: {0}")]
    BadResponse(String),
}

pub type ModelFuture<'a> = Pin<Box<dyn Future<Output = Result<ModelTurn, ModelError>> + Send + 'a>>;

/// A chat model with tool calling: OpenAI-compatible servers, or the offline engine.
pub trait ChatModel: Send + Sync {
    /// A short name for logs and spans.
    fn name(&self) -> &str;
    fn complete<'a>(&'a self, messages: &'a [Message], tools: &'a [ToolSpec]) -> ModelFuture<'a>;
}
