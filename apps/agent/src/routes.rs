//! `POST /v1/respond`: a conversation in, the agent's reply and the tool calls it made out.

use std::sync::Arc;

use axum::extract::{FromRef, State};
use serde::Deserialize;
use todo_core::auth::TokenVerifier;
use todo_core::domain::UserZone;
use todo_core::http::{ApiError, ApiJson, AuthUser};

use crate::mcp::McpError;
use crate::model::ModelError;
use crate::runner::{Agent, Caller, HistoryMessage, Reply, Role, RunError};

/// At most this many messages of history are read; the backend sends the last 20.
const MAX_MESSAGES: usize = 50;

#[derive(Clone)]
pub struct AppState {
    pub agent: Arc<Agent>,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondRequest {
    pub messages: Vec<HistoryMessage>,
    /// The user's IANA time zone, as their browser reports it; UTC when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
}

pub async fn respond(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(request): ApiJson<RespondRequest>,
) -> Result<ApiJson<Reply>, ApiError> {
    let messages = request.messages;
    match messages.last() {
        Some(last) if last.role == Role::User && !last.content.trim().is_empty() => {}
        _ => return Err(ApiError::bad_request("messages must end with a non-empty user message")),
    }
    if messages.len() > MAX_MESSAGES {
        return Err(ApiError::bad_request(format!("at most {MAX_MESSAGES} messages")));
    }
    let time_zone = match request.time_zone.as_deref() {
        Some(name) => UserZone::parse("time_zone", name)?,
        None => UserZone::utc(),
    };
    let caller = Caller {
        user_id: user.id().to_string(),
        name: user.claims.name.clone(),
        token: user.token.clone(),
        time_zone,
    };
    let reply = state.agent.respond(&caller, &messages).await.map_err(public_error)?;
    Ok(ApiJson(reply))
}

/// What a failed run answers: the detail (internal URLs, library error chains, a provider's own
/// words) goes to the log; the caller gets a fixed message per kind.
fn public_error(error: RunError) -> ApiError {
    tracing::error!(error = %error, "agent run failed");
    match error {
        RunError::Mcp(McpError::Refused(_)) => ApiError::unauthorized(
            "the token is no longer accepted (the account was deleted, or it expired): sign in again",
        ),
        RunError::Mcp(_) => ApiError::unavailable("the task service cannot be reached right now"),
        RunError::ModelTimeout(_) => ApiError::new(
            http::StatusCode::GATEWAY_TIMEOUT,
            "model_timeout",
            "the language model took too long to answer",
        ),
        RunError::Model(ModelError::Unreachable(_)) => ApiError::new(
            http::StatusCode::BAD_GATEWAY,
            "model_error",
            "the language model cannot be reached right now",
        ),
        RunError::Model(_) => ApiError::new(
            http::StatusCode::BAD_GATEWAY,
            "model_error",
            "the language model failed to answer (the agent's log has the details)",
        ),
    }
}
