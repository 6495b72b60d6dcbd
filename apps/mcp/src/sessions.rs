//! 2025-11-25 sessions belong to the user who opened them. Identity stays per request (every
//! request carries its token, and tools act for the token's user), but a session also holds that
//! user's resource subscriptions and their notification stream: another user presenting the
//! session's id is told the session does not exist, as the specification's security advice asks
//! (bind session ids to the user).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use todo_core::http::AuthUser;

const SESSION_HEADER: &str = "mcp-session-id";

/// Which user opened each live session.
#[derive(Clone)]
pub struct SessionOwners {
    sessions: Arc<LocalSessionManager>,
    owners: Arc<Mutex<HashMap<String, String>>>,
}

impl SessionOwners {
    pub fn new(sessions: Arc<LocalSessionManager>) -> Self {
        SessionOwners {
            sessions,
            owners: Arc::default(),
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.owners.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the owner of a session just opened, and forgets the owners of sessions that have
    /// ended since (closed, or expired after the session manager's keep-alive).
    async fn opened(&self, session: String, user: String) {
        let live: Vec<String> = {
            let sessions = self.sessions.sessions.read().await;
            self.owners()
                .keys()
                .filter(|id| sessions.contains_key(id.as_str()))
                .cloned()
                .collect()
        };
        let mut owners = self.owners();
        owners.retain(|id, _| live.contains(id));
        owners.insert(session, user);
    }
}

/// Runs after the token check: refuses a session of another user, and records who opened a new
/// one.
pub async fn bind_to_user(State(owners): State<SessionOwners>, request: Request, next: Next) -> Response {
    let Some(user) = request.extensions().get::<AuthUser>().map(|user| user.id().to_string()) else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    if let Some(session) = &presented {
        let owner = owners.owners().get(session).cloned();
        if owner.is_some_and(|owner| owner != user) {
            return (http::StatusCode::NOT_FOUND, "Not Found: Session not found").into_response();
        }
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if let Some(session) = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|value| value.to_str().ok())
    {
        owners.opened(session.to_string(), user).await;
    }
    response
}
