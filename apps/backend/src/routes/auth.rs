//! Accounts: sign-up, sign-in and the current user.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use todo_core::domain::{self, User};
use todo_core::http::{ApiError, ApiJson, AuthUser, ErrorBody};
use utoipa::ToSchema;

use crate::state::AppState;
use crate::throttle::ClientAddr;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// Used to sign in; compared case-insensitively.
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 256 characters, and not guessable: common passwords, keyboard walks, repeats and
    /// anything built on the email or name are refused (422), which no schema can state.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 256)]
    pub password: String,
    /// 1 to 100 characters, not all white space.
    #[schema(
        example = "Ada",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\u0000\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff][^\u0000]*$"
    )]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

/// A signed-in session: the bearer token and who it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub token: String,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Absent for users of an external Better Auth server.
    pub created_at: Option<DateTime<Utc>>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            id: user.id,
            email: Some(user.email),
            name: Some(user.name),
            created_at: Some(user.created_at),
        }
    }
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/auth/sign-up", tag = "auth", request_body = SignUpRequest,
    responses(
        (status = 201, body = SessionResponse),
        (status = 403, description = "local accounts are off: an external issuer owns every account", body = ErrorBody),
        (status = 409, description = "email already registered", body = ErrorBody),
        (status = 422, description = "invalid email or name, or a password too short, too long or guessable", body = ErrorBody),
        (status = 429, description = "too many sign-ups from this address", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until trying again is worth it"))),
        (status = 503, description = "at capacity or the database is unavailable", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until trying again is worth it"))),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(request): ApiJson<SignUpRequest>,
) -> Result<(StatusCode, ApiJson<SessionResponse>), ApiError> {
    local_accounts_on(&state)?;
    state.throttle.sign_up(client)?;
    let email = domain::validate_email(&request.email)?;
    let name = domain::validate_name(&request.name)?;
    let local_part = email.split('@').next().unwrap_or_default();
    domain::validate_password(&request.password, &[&email, local_part, &name])?;
    let password_hash = state.passwords.hash(request.password).await?;
    let user = User {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        name,
        password_hash,
        created_at: Utc::now(),
    };
    state.db.create_user(&user).await?;
    tracing::info!(user_id = %user.id, "account created");
    let token = state
        .issuer
        .issue(&user.id, &user.email, &user.name)
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SessionResponse {
            token,
            user: user.into(),
        }),
    ))
}

/// A well-formed hash that never matches, verified when the email is unknown so that both
/// failures take the same time and responses don't reveal which emails are registered.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3X1ZbTzIJyxyV6FM/ZbSBoD2PKmMg0XMl6uEQTBAlmk";

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/auth/sign-in", tag = "auth", request_body = SignInRequest,
    responses(
        (status = 200, body = SessionResponse),
        (status = 401, description = "wrong email or password", body = ErrorBody),
        (status = 403, description = "local accounts are off: an external issuer owns every account", body = ErrorBody),
        (status = 429, description = "too many attempts from this address for this account, or from this address", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until trying again is worth it"))),
        (status = 503, description = "at capacity or the database is unavailable", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until trying again is worth it"))),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<ApiJson<SessionResponse>, ApiError> {
    local_accounts_on(&state)?;
    state.throttle.sign_in(client, &request.email)?;
    // No account's email holds NUL (sign-up refuses it), and PostgreSQL cannot be asked for one.
    let user = match request.email.trim() {
        email if email.contains('\0') => None,
        email => state.db.find_user_by_email(email).await?,
    };
    let stored = user
        .as_ref()
        .map_or(DECOY_HASH, |u| u.password_hash.as_str())
        .to_string();
    let matches = state.passwords.verify(request.password, stored).await?;
    let user = match user {
        Some(user) if matches => user,
        _ => return Err(ApiError::unauthorized("wrong email or password")),
    };
    let token = state
        .issuer
        .issue(&user.id, &user.email, &user.name)
        .map_err(ApiError::internal)?;
    Ok(ApiJson(SessionResponse {
        token,
        user: user.into(),
    }))
}

fn local_accounts_on(state: &AppState) -> Result<(), ApiError> {
    if state.local_accounts {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "local_accounts_off",
            "accounts are managed by the external sign-in provider: sign in there",
        ))
    }
}

/// Sign out: the token stops working at once, on every service, not only in this browser.
#[utoipa::path(post, path = "/api/auth/sign-out", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "signed out"), (status = 401, body = ErrorBody)))]
pub async fn sign_out(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    match user.claims.jti.as_deref() {
        Some(jti) => {
            state.db.sign_out_token(jti, user.claims.exp).await?;
            state.verifier.forget_token(jti);
        }
        // A token without an id (an external issuer's) is signed out where it was issued.
        None => {
            return Err(ApiError::bad_request(
                "this token has no id to revoke: sign out with the provider that issued it",
            ));
        }
    }
    tracing::info!(user = %user.id(), "signed out");
    Ok(StatusCode::NO_CONTENT)
}

/// A fresh token for the signed-in user, valid for the full lifetime again: clients renew while
/// they are used, so tokens can live a day and still keep a user signed in for as long as
/// they come back.
#[utoipa::path(post, path = "/api/auth/renew", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionResponse), (status = 400, description = "an external issuer's token", body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn renew(State(state): State<AppState>, user: AuthUser) -> Result<ApiJson<SessionResponse>, ApiError> {
    let Some(stored) = state.db.find_user(user.id()).await? else {
        return Err(ApiError::bad_request(
            "this token was issued by the external sign-in provider: renew it there",
        ));
    };
    let token = state
        .issuer
        .issue(&stored.id, &stored.email, &stored.name)
        .map_err(ApiError::internal)?;
    Ok(ApiJson(SessionResponse {
        token,
        user: stored.into(),
    }))
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<ApiJson<UserView>, ApiError> {
    let view = match state.db.find_user(user.id()).await? {
        Some(stored) => stored.into(),
        // Signed in through an external Better Auth server: its token is all we know.
        None => UserView {
            id: user.claims.sub.clone(),
            email: user.claims.email.clone(),
            name: user.claims.name.clone(),
            created_at: None,
        },
    };
    Ok(ApiJson(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_decoy_hash_is_well_formed_so_unknown_emails_cost_a_real_verification() {
        use argon2_check::parses;
        assert!(parses(DECOY_HASH));
        let passwords = todo_core::auth::Passwords::new(1, 1);
        assert!(!passwords.verify("anything".into(), DECOY_HASH.into()).await.unwrap());
    }

    mod argon2_check {
        pub fn parses(hash: &str) -> bool {
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$") && hash.split('$').count() == 6
        }
    }
}

/// Delete the signed-in account with all its tasks and conversations.
#[utoipa::path(delete, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody)))]
pub async fn delete_me(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    state.db.delete_account(user.id()).await?;
    state.verifier.forget_account(user.id());
    tracing::info!(user = %user.id(), "account deleted");
    Ok(StatusCode::NO_CONTENT)
}
