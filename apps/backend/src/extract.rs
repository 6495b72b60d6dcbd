//! `Owner`: the signed-in user, checked against the `{user_id}` of the path before anything else
//! (body included) is looked at, so another user's path answers 403 whatever the request holds.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use todo_core::http::{ApiError, AuthUser};

use crate::state::AppState;

pub struct Owner(pub AuthUser);

impl Owner {
    pub fn id(&self) -> &str {
        self.0.id()
    }
}

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::internal(format!("path parameters unavailable: {e}")))?;
        let path_user = params
            .iter()
            .find_map(|(name, value)| (name == "user_id").then_some(value))
            .ok_or_else(|| ApiError::internal("route has no {user_id}"))?;
        user.ensure_is(path_user)?;
        Ok(Owner(user))
    }
}
