//! Chat Completions with tool calling against any OpenAI-compatible server (OpenAI, Ollama,
//! Gemini's compatibility endpoint, vLLM, LM Studio).
//!
//! Requests and answers go through async-openai's bring-your-own-types calls as plain JSON, so
//! near-compatible servers (extra fields, an empty `finish_reason`, arguments sent as an object,
//! a missing call id) are read leniently rather than refused by strict enums. async-openai retries
//! 429s, 5xx answers and failed connections itself (three retries, exponential backoff from
//! 100 ms, honouring `Retry-After`).

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use serde_json::{Value, json};

use crate::model::{ChatModel, Message, ModelError, ModelFuture, ModelTurn, ToolCall, ToolSpec};

#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub api_key: String,
    pub base_url: String,
    pub model: String,
}

pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
}

impl OpenAiModel {
    pub fn new(settings: OpenAiSettings) -> Self {
        let config = OpenAIConfig::new()
            .with_api_key(settings.api_key.clone())
            .with_api_base(settings.base_url.trim_end_matches('/'));
        OpenAiModel {
            client: Client::with_config(config),
            settings,
        }
    }

    fn request(&self, messages: &[Message], tools: &[ToolSpec]) -> Value {
        let messages: Vec<Value> = messages.iter().map(message_json).collect();
        let mut request = json!({"model": self.settings.model, "messages": messages, "stream": false});
        if !tools.is_empty() {
            request["tools"] = tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            request["tool_choice"] = json!("auto");
        }
        request
    }

    async fn complete_json(&self, request: Value) -> Result<ModelTurn, ModelError> {
        let answer: Value = self.client.chat().create_byot(request).await.map_err(classify)?;
        parse_answer(&answer)
    }
}

impl ChatModel for OpenAiModel {
    fn name(&self) -> &str {
        &self.settings.model
    }

    fn complete<'a>(&'a self, messages: &'a [Message], tools: &'a [ToolSpec]) -> ModelFuture<'a> {
        Box::pin(self.complete_json(self.request(messages, tools)))
    }
}

fn message_json(message: &Message) -> Value {
    match message {
        Message::System(text) => json!({"role": "system", "content": text}),
        Message::User(text) => json!({"role": "user", "content": text}),
        Message::Assistant { content, tool_calls } if tool_calls.is_empty() => {
            json!({"role": "assistant", "content": content.as_deref().unwrap_or("")})
        }
        Message::Assistant { content, tool_calls } => json!({
            "role": "assistant",
            "content": content,
            "tool_calls": tool_calls.iter().map(|c| json!({
                "id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}
            })).collect::<Vec<_>>(),
        }),
        Message::Tool { call_id, content } => json!({"role": "tool", "tool_call_id": call_id, "content": content}),
    }
}

fn classify(error: OpenAIError) -> ModelError {
    match error {
        OpenAIError::Reqwest(e) => ModelError::Unreachable(e.to_string()),
        OpenAIError::ApiError(api) => ModelError::Api(format!("HTTP {}: {}", api.status_code, api.api_error.message)),
        OpenAIError::JSONDeserialize(e, _) => ModelError::BadResponse(e.to_string()),
        other => ModelError::BadResponse(other.to_string()),
    }
}

/// Reads the first choice's message, tolerating what near-compatible servers do differently.
fn parse_answer(answer: &Value) -> Result<ModelTurn, ModelError> {
    let message = answer
        .pointer("/choices/0/message")
        .ok_or_else(|| ModelError::BadResponse("no choices[0].message in the answer".into()))?;
    let content = message
        .get("content")
        .and_then(Value::as_str)
        .filter(|c| !c.trim().is_empty())
        .map(str::to_string);
    let tool_calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| {
            calls
                .iter()
                .enumerate()
                .filter_map(|(i, call)| {
                    let function = call.get("function")?;
                    let name = function.get("name")?.as_str()?.to_string();
                    let arguments = match function.get("arguments") {
                        Some(Value::String(text)) => text.clone(),
                        Some(Value::Null) | None => "{}".to_string(),
                        Some(object) => object.to_string(),
                    };
                    let id = call
                        .get("id")
                        .and_then(Value::as_str)
                        .filter(|id| !id.is_empty())
                        .map_or_else(|| format!("call_{i}"), str::to_string);
                    Some(ToolCall { id, name, arguments })
                })
                .collect()
        })
        .unwrap_or_default();
    if content.is_none() && tool_calls.is_empty() {
        return Err(ModelError::BadResponse(
            "the answer has neither text nor tool calls".into(),
        ));
    }
    Ok(ModelTurn { content, tool_calls })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lenient_answers() {
        let answer = json!({"choices": [{"finish_reason": "", "extra": 1, "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"type": "function", "function": {"name": "list_tasks", "arguments": {"user_id": "u"}}}]
        }}]});
        let turn = parse_answer(&answer).unwrap();
        assert_eq!(turn.tool_calls[0].id, "call_0");
        assert_eq!(turn.tool_calls[0].arguments, r#"{"user_id":"u"}"#);
        assert!(parse_answer(&json!({"choices": []})).is_err());
        assert!(parse_answer(&json!({"choices": [{"message": {"content": "  "}}]})).is_err());
    }
}
