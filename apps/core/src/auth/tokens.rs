use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use super::claims::{Claims, TokenError, decode, validation};
use super::jwks::JwksVerifier;
use crate::db::standing::StandingCache;
use crate::db::{Db, StoreError};

/// Settings for the tokens this system issues and accepts.
#[derive(Clone)]
pub struct TokenConfig {
    pub secret: Vec<u8>,
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
    /// Whether this system's own accounts (sign-up, sign-in, HS256 tokens) are on. Off when an
    /// external issuer owns every account (`AUTH_LOCAL_ACCOUNTS=false`).
    pub local_accounts: bool,
}

impl std::fmt::Debug for TokenConfig {
    // The secret is never printed, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("secret", &"<redacted>")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .field("local_accounts", &self.local_accounts)
            .finish()
    }
}

/// Issues HS256 tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(config: &TokenConfig) -> Self {
        TokenIssuer {
            key: EncodingKey::from_secret(&config.secret),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.ttl,
        }
    }

    pub fn issue(&self, user_id: &str, email: &str, name: &str) -> Result<String, TokenError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            nbf: Some(now),
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2),
            jti: Some(uuid::Uuid::new_v4().simple().to_string()),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            email: Some(email.to_string()),
            name: Some(name.to_string()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| TokenError::Invalid(format!("signing failed: {e}")))
    }
}

/// Verifies bearer tokens: HS256 with the shared secret, and EdDSA against a JWKS when configured;
/// then, where the service has the database, that the account was not deleted since.
#[derive(Clone)]
pub struct TokenVerifier {
    hs256_key: DecodingKey,
    hs256_validation: Validation,
    jwks: Option<Arc<JwksVerifier>>,
    revocations: Option<Db>,
    /// The standings known from memory (see [`crate::db::standing`]).
    standings: Option<StandingCache>,
    local_accounts: bool,
}

impl TokenVerifier {
    pub fn new(config: &TokenConfig, jwks: Option<Arc<JwksVerifier>>) -> Self {
        TokenVerifier {
            hs256_key: DecodingKey::from_secret(&config.secret),
            hs256_validation: validation(Algorithm::HS256, &config.issuer, &config.audience),
            jwks,
            revocations: None,
            standings: None,
            local_accounts: config.local_accounts,
        }
    }

    /// Also refuses tokens revoked in `db` (those of deleted accounts, and signed-out tokens), and
    /// an external issuer's tokens that name a local account. Every service with the database
    /// checks this on every request, so a deletion or sign-out takes effect at once everywhere.
    pub fn with_revocations(mut self, db: Db) -> Self {
        self.revocations = Some(db);
        self
    }

    /// The same, answered from memory where the database announces what changes it
    /// (PostgreSQL): one round trip less on every request.
    pub async fn with_remembered_revocations(mut self, db: Db) -> Result<Self, StoreError> {
        self.standings = Some(db.watch_token_standing().await?);
        self.revocations = Some(db);
        Ok(self)
    }

    /// This process revoked `user_id`'s tokens (the account was deleted): forgotten here at once,
    /// before the announcement reaches the other processes.
    pub fn forget_account(&self, user_id: &str) {
        if let Some(standings) = &self.standings {
            standings.forget_account(user_id);
        }
    }

    /// This process signed out the token `jti`: forgotten here at once.
    pub fn forget_token(&self, jti: &str) {
        if let Some(standings) = &self.standings {
            standings.forget_token(jti);
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let (claims, external) = self.verify_signature(token).await?;
        if let Some(db) = &self.revocations {
            let jti = claims.jti.as_deref();
            let standing = match &self.standings {
                Some(standings) => standings.standing(db, &claims.sub, claims.iat, jti).await,
                None => db.token_standing(&claims.sub, claims.iat, jti).await,
            }
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
            if standing.revoked {
                return Err(TokenError::Revoked);
            }
            // Local ids are ours (UUIDv7): an external subject equal to one is an issuer
            // speaking for a user it does not own.
            if external && standing.local_account {
                return Err(TokenError::ForeignSubject);
            }
        }
        Ok(claims)
    }

    /// The claims, and whether an external issuer signed them.
    async fn verify_signature(&self, token: &str) -> Result<(Claims, bool), TokenError> {
        // The header is untrusted; it only chooses which key may verify the signature. A token whose
        // `alg` is `none` or anything unlisted fails here or in `decode`.
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        match header.alg {
            Algorithm::HS256 if self.local_accounts => {
                decode(token, &self.hs256_key, &self.hs256_validation).map(|c| (c, false))
            }
            Algorithm::HS256 => Err(TokenError::Invalid(
                "local accounts are off (AUTH_LOCAL_ACCOUNTS=false): only the external issuer's tokens are accepted"
                    .into(),
            )),
            Algorithm::EdDSA => match &self.jwks {
                Some(jwks) => jwks.verify(token, header.kid.as_deref()).await.map(|c| (c, true)),
                None => Err(TokenError::Invalid(
                    "EdDSA tokens are not accepted: AUTH_JWKS_URL is not set".into(),
                )),
            },
            other => Err(TokenError::Invalid(format!("algorithm {other:?} is not accepted"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TokenConfig {
        TokenConfig {
            secret: b"0123456789abcdef0123456789abcdef".to_vec(),
            issuer: "todo-chatbot".into(),
            audience: "todo-chatbot".into(),
            ttl: Duration::from_secs(60),
            local_accounts: true,
        }
    }

    #[tokio::test]
    async fn issued_tokens_verify_and_carry_the_subject() {
        let token = TokenIssuer::new(&config()).issue("u1", "a@example.com", "Ada").unwrap();
        let claims = TokenVerifier::new(&config(), None).verify(&token).await.unwrap();
        assert_eq!(claims.sub, "u1");
    }

    #[tokio::test]
    async fn a_token_from_another_secret_or_audience_is_refused() {
        let token = TokenIssuer::new(&config()).issue("u1", "a@example.com", "Ada").unwrap();
        let mut other = config();
        other.secret = b"another-secret-another-secret-xx".to_vec();
        assert!(TokenVerifier::new(&other, None).verify(&token).await.is_err());
        let mut other = config();
        other.audience = "someone-else".into();
        assert!(TokenVerifier::new(&other, None).verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn alg_none_is_refused() {
        use base64::Engine;
        let encode = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let header = encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = encode(br#"{"sub":"u1","exp":9999999999,"iat":0,"iss":"todo-chatbot","aud":"todo-chatbot"}"#);
        let token = format!("{header}.{body}.");
        assert!(TokenVerifier::new(&config(), None).verify(&token).await.is_err());
    }

    #[tokio::test]
    async fn a_deleted_accounts_tokens_are_refused_and_later_sign_ins_are_not() {
        use crate::domain::User;
        let db = Db::connect_and_migrate(
            &crate::test_support::TestDb::sqlite_memory().options(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let verifier = TokenVerifier::new(&config(), None).with_revocations(db.clone());
        let issuer = TokenIssuer::new(&config());
        let user = User {
            id: "u1".into(),
            email: "a@example.com".into(),
            name: "Ada".into(),
            password_hash: "x".into(),
            created_at: Utc::now(),
        };
        db.create_user(&user).await.unwrap();
        let before = issuer.issue("u1", "a@example.com", "Ada").unwrap();
        let bystander = issuer.issue("u2", "b@example.com", "Bo").unwrap();
        assert!(verifier.verify(&before).await.is_ok());

        db.delete_account("u1").await.unwrap();
        assert_eq!(verifier.verify(&before).await, Err(TokenError::Revoked));
        assert!(
            verifier.verify(&bystander).await.is_ok(),
            "another user's token still works"
        );

        // A token issued after the deletion (an external identity provider signing the same
        // subject in again) is not caught by the old revocation.
        let claims = Claims {
            sub: "u1".into(),
            iat: Utc::now().timestamp() + 2,
            nbf: None,
            jti: None,
            exp: Utc::now().timestamp() + 120,
            iss: "todo-chatbot".into(),
            aud: "todo-chatbot".into(),
            email: None,
            name: None,
        };
        let after = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&config().secret),
        )
        .unwrap();
        assert!(verifier.verify(&after).await.is_ok());

        db.close().await;
        assert!(
            matches!(verifier.verify(&bystander).await, Err(TokenError::Unavailable(_))),
            "no database, no answer"
        );
    }

    #[tokio::test]
    async fn the_secret_is_not_in_debug_output() {
        assert!(!format!("{:?}", config()).contains("0123456789abcdef"));
    }
}
