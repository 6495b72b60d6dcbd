//! The stateless chat endpoint: the conversation lives in the database, so any replica can take
//! any message, and a restart loses nothing.
//!
//! The user's message is stored before the agent is called and the reply after, so a message is
//! kept even when the agent is down or slow (503/504).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_core::domain::{ChatMessage, ChatRole, Conversation, UserZone, conversation_title, validate_message};
use todo_core::http::{ApiError, ApiJson, ApiPath, ErrorBody};
use utoipa::ToSchema;

use crate::agent::Turn;
use crate::extract::Owner;
use crate::state::AppState;

/// How many messages of history the agent sees.
pub const HISTORY_MESSAGES: i64 = 20;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// Continue this conversation; omit to start a new one.
    #[serde(default, deserialize_with = "whole_number")]
    pub conversation_id: Option<i64>,
    /// 1 to 4,000 characters, not all white space.
    #[schema(
        example = "add buy milk",
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^\u0000]*$"
    )]
    pub message: String,
    /// The user's IANA time zone; the document lists every accepted name (`openapi::TimeZones`).
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// An integer as the document's JSON Schema counts them: `7`, or `7.0` (a number with no
/// fraction), in the int64 range; serde's own `i64` refuses the second.
fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        // i64::MAX as f64 rounds up to 2^63, which is already out of range.
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!(
            "expected an integer in the int64 range, got {number}"
        ))),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatResponse {
    pub conversation_id: i64,
    pub response: String,
    /// Each MCP tool call the agent made: `{name, arguments, result, is_error}`.
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<Value>,
}

/// `/api/{user_id}/conversations/{id}/messages`; `user_id` is checked by `Owner`.
#[derive(Debug, Deserialize)]
pub struct ConversationPath {
    #[allow(dead_code)]
    pub user_id: String,
    pub id: i64,
}

fn conversation_not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("conversation {id} not found"))
}

/// Send a message to the assistant; it may change tasks through its tools.
#[utoipa::path(post, path = "/api/{user_id}/chat", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = ChatRequest,
    responses((status = 200, body = ChatResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "A new conversation past the most an account may hold (`limit_reached`)", body = ErrorBody),
        (status = 502, body = ErrorBody),
        (status = 503, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn send(
    State(state): State<AppState>,
    owner: Owner,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<ApiJson<ChatResponse>, ApiError> {
    let user = owner.id();
    let message = validate_message(&request.message)?;
    // Before anything is stored: a refused message stores nothing (the client keeps it to resend).
    state.throttle.chat(user)?;
    // Checked before anything is stored, so a bad zone loses nothing and stores nothing.
    let time_zone = request
        .time_zone
        .as_deref()
        .map(|name| UserZone::parse("time_zone", name))
        .transpose()?;
    // A given conversation is checked by storing the message in it: a missing or foreign one
    // stores nothing and answers 404, without a separate lookup first.
    let conversation_id = match request.conversation_id {
        Some(id) => id,
        None => {
            state
                .db
                .create_conversation_within(user, &conversation_title(&message), state.caps.conversations_per_user)
                .await?
                .id
        }
    };
    state
        .db
        .add_message(user, conversation_id, ChatRole::User, &message, &[])
        .await
        .map_err(|e| match e {
            todo_core::db::StoreError::NotFound => conversation_not_found(conversation_id),
            other => other.into(),
        })?;
    let history = state.db.recent_turns(user, conversation_id, HISTORY_MESSAGES).await?;
    let turns: Vec<Turn<'_>> = history
        .iter()
        .map(|m| Turn {
            role: m.role,
            content: &m.content,
        })
        .collect();
    let reply = state
        .agent
        .respond(&owner.0.token, &turns, time_zone.as_ref().map(UserZone::name))
        .await
        .map_err(|e| e.in_conversation(conversation_id))?;
    state
        .db
        .add_message(
            user,
            conversation_id,
            ChatRole::Assistant,
            &reply.response,
            &reply.tool_calls,
        )
        .await?;
    Ok(ApiJson(ChatResponse {
        conversation_id,
        response: reply.response,
        tool_calls: reply.tool_calls,
    }))
}

/// The user's conversations, most recently active first.
#[utoipa::path(get, path = "/api/{user_id}/conversations", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = [Conversation]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn conversations(
    State(state): State<AppState>,
    owner: Owner,
) -> Result<ApiJson<Vec<Conversation>>, ApiError> {
    Ok(ApiJson(state.db.list_conversations(owner.id()).await?))
}

/// Every message of a conversation, oldest first, with the assistant's tool calls.
#[utoipa::path(get, path = "/api/{user_id}/conversations/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = [ChatMessage]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn messages(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(path): ApiPath<ConversationPath>,
) -> Result<ApiJson<Vec<ChatMessage>>, ApiError> {
    let user = owner.id();
    state.db.get_conversation(user, path.id).await.map_err(|e| match e {
        todo_core::db::StoreError::NotFound => conversation_not_found(path.id),
        other => other.into(),
    })?;
    Ok(ApiJson(state.db.list_messages(user, path.id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_id_is_an_integer_as_json_schema_counts_them() {
        let id = |body: &str| serde_json::from_str::<ChatRequest>(body).map(|r| r.conversation_id);
        assert_eq!(id(r#"{"message": "hi", "conversation_id": 7}"#).unwrap(), Some(7));
        assert_eq!(id(r#"{"message": "hi", "conversation_id": 7.0}"#).unwrap(), Some(7));
        assert_eq!(id(r#"{"message": "hi", "conversation_id": null}"#).unwrap(), None);
        assert_eq!(id(r#"{"message": "hi"}"#).unwrap(), None);
        for bad in ["7.5", "1e19", "\"7\"", "9223372036854775808"] {
            let body = format!(r#"{{"message": "hi", "conversation_id": {bad}}}"#);
            assert!(id(&body).is_err(), "{bad} accepted");
        }
    }
}
