use std::sync::Arc;

use axum::extract::FromRef;
use todo_core::auth::{Passwords, TokenIssuer, TokenVerifier};
use todo_core::config::UsageCaps;
use todo_core::db::Db;

use crate::agent::AgentClient;
use crate::throttle::Throttle;

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub issuer: Arc<TokenIssuer>,
    pub verifier: Arc<TokenVerifier>,
    pub agent: AgentClient,
    pub passwords: Passwords,
    pub throttle: Arc<Throttle>,
    pub caps: UsageCaps,
    /// Whether sign-up and sign-in are on (off when an external issuer owns every account).
    pub local_accounts: bool,
}

impl FromRef<AppState> for Arc<Throttle> {
    fn from_ref(state: &AppState) -> Self {
        state.throttle.clone()
    }
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
