//! Extractors whose rejections are `ApiError`s, so malformed input gets the same JSON errors as
//! everything else, and the bearer-token extractor.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::ApiError;
use crate::auth::{Claims, TokenError, TokenVerifier};

/// `axum::Json` with JSON errors.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` with JSON errors.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query` with JSON errors.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The caller, proven by a valid bearer token. Missing or bad tokens answer 401.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub claims: Claims,
    /// The raw token, for services that forward the caller's identity (backend → agent → MCP).
    pub token: String,
}

impl AuthUser {
    pub fn id(&self) -> &str {
        &self.claims.sub
    }

    /// Refuses a path `user_id` that is not the token's subject.
    pub fn ensure_is(&self, user_id: &str) -> Result<(), ApiError> {
        if self.claims.sub == user_id {
            Ok(())
        } else {
            Err(ApiError::forbidden("the user id in the path is not the signed-in user"))
        }
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<TokenVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or(TokenError::Missing)?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let claims = verifier.verify(token).await?;
        Ok(AuthUser {
            claims,
            token: token.to_string(),
        })
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
