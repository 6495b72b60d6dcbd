//! What a verified token says, why a token is refused, and how both kinds of token are decoded:
//! shared by the tokens this system issues (`tokens`) and those of an external issuer (`jwks`).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The claims of a token; `sub` is the user id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub aud: String,
    /// Not valid before (seconds since the epoch); checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The token's own id, which sign-out revokes. Tokens of an external issuer may have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why a token was refused. All of these answer 401; the detail goes to logs, not to clients.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("missing bearer token")]
    Missing,
    #[error("token has expired")]
    Expired,
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Issued to an account that has since been deleted, or signed out.
    #[error("token was revoked")]
    Revoked,
    /// An external issuer's token naming a local account: the two kinds of subject are kept
    /// apart, so no issuer can speak for the other's users.
    #[error("an external issuer's token names a local account")]
    ForeignSubject,
    /// The revocation list could not be read, so the token can be neither accepted nor refused.
    #[error("cannot check the token: {0}")]
    Unavailable(String),
}

pub(super) fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    v.leeway = 30;
    // A token that says it is not valid yet is not (RFC 7519 4.1.5); jsonwebtoken skips the
    // check unless asked.
    v.validate_nbf = true;
    v
}

pub(super) fn decode(token: &str, key: &DecodingKey, validation: &Validation) -> Result<Claims, TokenError> {
    use jsonwebtoken::errors::ErrorKind;
    let data = jsonwebtoken::decode::<Claims>(token, key, validation).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        _ => TokenError::Invalid(e.to_string()),
    })?;
    if data.claims.sub.trim().is_empty() {
        return Err(TokenError::Invalid("empty subject".into()));
    }
    Ok(data.claims)
}
