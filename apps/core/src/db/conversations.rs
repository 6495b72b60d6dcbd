//! Conversation and message repository. Like tasks, every statement is scoped by `user_id`: a
//! conversation id of another user behaves like a missing one.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, on_pool};
use crate::domain::{ChatMessage, ChatRole, ChatTurn, Conversation};

type MessageRow = (i64, String, String, Option<String>, DateTime<Utc>);

fn role(id: i64, role: &str) -> Result<ChatRole, StoreError> {
    match role {
        "user" => Ok(ChatRole::User),
        "assistant" => Ok(ChatRole::Assistant),
        other => Err(StoreError::Corrupt(format!("message {id} has role {other:?}"))),
    }
}

fn message(row: MessageRow) -> Result<ChatMessage, StoreError> {
    let (id, role_text, content, tool_calls, created_at) = row;
    let role = role(id, &role_text)?;
    let tool_calls = match tool_calls {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("message {id} has unreadable tool calls: {e}")))?,
        None => Vec::new(),
    };
    Ok(ChatMessage {
        id,
        role,
        content,
        tool_calls,
        created_at,
    })
}

impl Db {
    pub async fn create_conversation(&self, user_id: &str, title: &str) -> Result<Conversation, StoreError> {
        self.create_conversation_within(user_id, title, 0).await
    }

    /// Starts a conversation unless the user already has `cap` (0: no cap), counted in the insert.
    pub async fn create_conversation_within(
        &self,
        user_id: &str,
        title: &str,
        cap: u32,
    ) -> Result<Conversation, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = "INSERT INTO conversations (user_id, title, created_at, updated_at) \
                           SELECT $1, $2, $3, $3 \
                           WHERE $4 = 0 OR (SELECT COUNT(*) FROM (SELECT 1 FROM conversations WHERE user_id = $1 LIMIT $4) AS held) < $4 \
                           RETURNING id, title, created_at, updated_at";
        let now = Utc::now();
        let created = on_pool!(self, pool => sqlx::query_as::<_, Conversation>(SQL)
            .bind(user_id).bind(title).bind(now).bind(i64::from(cap)).fetch_optional(pool).await)?;
        created.ok_or_else(|| {
            StoreError::LimitReached(format!(
                "you have {cap} conversations, the most an account may hold: go on in one of them"
            ))
        })
    }

    pub async fn get_conversation(&self, user_id: &str, id: i64) -> Result<Conversation, StoreError> {
        const SQL: &str = "SELECT id, title, created_at, updated_at FROM conversations WHERE id = $1 AND user_id = $2";
        let found = on_pool!(self, pool => sqlx::query_as::<_, Conversation>(SQL)
            .bind(id).bind(user_id).fetch_optional(pool).await)?;
        found.ok_or(StoreError::NotFound)
    }

    /// The user's conversations, most recently active first.
    pub async fn list_conversations(&self, user_id: &str) -> Result<Vec<Conversation>, StoreError> {
        const SQL: &str = "SELECT id, title, created_at, updated_at FROM conversations \
                           WHERE user_id = $1 ORDER BY updated_at DESC, id DESC";
        Ok(on_pool!(self, pool => sqlx::query_as::<_, Conversation>(SQL).bind(user_id).fetch_all(pool).await)?)
    }

    /// Appends a message (with the assistant's tool calls as JSON) and marks the conversation
    /// active; `NotFound` when the conversation is not the user's.
    pub async fn add_message(
        &self,
        user_id: &str,
        conversation_id: i64,
        role: ChatRole,
        content: &str,
        tool_calls: &[serde_json::Value],
    ) -> Result<ChatMessage, StoreError> {
        let _turn = self.write_turn().await;
        const TOUCH: &str = "UPDATE conversations SET updated_at = $3 WHERE id = $1 AND user_id = $2";
        const INSERT: &str = "INSERT INTO messages (conversation_id, user_id, role, content, tool_calls, created_at) \
                              VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, role, content, tool_calls, created_at";
        // PostgreSQL does both in one statement: one round trip and one commit instead of two,
        // which is a chat's share of the database time twice over. The insert only happens when
        // the update found the user's conversation.
        const TOUCH_AND_INSERT: &str = "WITH touched AS (\
                UPDATE conversations SET updated_at = $6 WHERE id = $1 AND user_id = $2 RETURNING id) \
            INSERT INTO messages (conversation_id, user_id, role, content, tool_calls, created_at) \
            SELECT id, $2, $3, $4, $5, $6 FROM touched RETURNING id, role, content, tool_calls, created_at";
        let now = Utc::now();
        let tool_calls = (!tool_calls.is_empty())
            .then(|| serde_json::to_string(tool_calls))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Both engines' statements take the message as $1..$6 in this order.
        macro_rules! bind_message {
            ($query:expr) => {
                $query
                    .bind(conversation_id)
                    .bind(user_id)
                    .bind(role.as_str())
                    .bind(content)
                    .bind(&tool_calls)
                    .bind(now)
            };
        }
        let row: Option<MessageRow> = match self {
            Db::Postgres(pool) => {
                bind_message!(sqlx::query_as(TOUCH_AND_INSERT))
                    .fetch_optional(pool)
                    .await?
            }
            // SQLite has no writing CTEs; its round trips are function calls, and the write gate
            // already keeps the pair from interleaving with other writes of this process.
            Db::Sqlite(pool, _) => {
                let touched = sqlx::query(TOUCH)
                    .bind(conversation_id)
                    .bind(user_id)
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected();
                if touched == 0 {
                    None
                } else {
                    Some(bind_message!(sqlx::query_as(INSERT)).fetch_one(pool).await?)
                }
            }
        };
        message(row.ok_or(StoreError::NotFound)?)
    }

    /// Who said what in the last `limit` messages of a conversation, oldest first: what a chat
    /// hands the agent. The tool calls stored with them are neither read nor parsed: reading them
    /// was a sixth of the backend's instructions per chat.
    pub async fn recent_turns(
        &self,
        user_id: &str,
        conversation_id: i64,
        limit: i64,
    ) -> Result<Vec<ChatTurn>, StoreError> {
        const SQL: &str = "SELECT id, role, content FROM messages \
                           WHERE conversation_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT $3";
        let rows: Vec<(i64, String, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(conversation_id).bind(user_id).bind(limit).fetch_all(pool).await)?;
        rows.into_iter()
            .rev()
            .map(|(id, role_text, content)| {
                Ok(ChatTurn {
                    role: role(id, &role_text)?,
                    content,
                })
            })
            .collect()
    }

    /// Every message of a conversation, oldest first.
    pub async fn list_messages(&self, user_id: &str, conversation_id: i64) -> Result<Vec<ChatMessage>, StoreError> {
        const SQL: &str = "SELECT id, role, content, tool_calls, created_at FROM messages \
                           WHERE conversation_id = $1 AND user_id = $2 ORDER BY id";
        let rows: Vec<MessageRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(conversation_id).bind(user_id).fetch_all(pool).await)?;
        rows.into_iter().map(message).collect()
    }
}
