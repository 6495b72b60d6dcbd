//! Verification of EdDSA tokens issued by an external Better Auth server.
//!
//! Keys come from its JWKS endpoint and are cached by `kid`. A token naming an unknown `kid`
//! triggers one refetch (keys rotate), but at most one per `refetch_interval`, so a flood of
//! forged kids cannot turn this service into a load generator against the auth server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::{Mutex, RwLock};

use super::claims::{Claims, TokenError, decode, validation};

#[derive(Debug, Clone)]
pub struct JwksConfig {
    pub url: String,
    /// Better Auth sets both `iss` and `aud` to its base URL by default.
    pub issuer: String,
    pub audience: String,
    pub refetch_interval: Duration,
}

pub struct JwksVerifier {
    config: JwksConfig,
    http: reqwest::Client,
    validation: Validation,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
}

impl JwksVerifier {
    pub fn new(config: JwksConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let validation = validation(Algorithm::EdDSA, &config.issuer, &config.audience);
        Ok(JwksVerifier {
            config,
            http,
            validation,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
        })
    }

    pub async fn verify(&self, token: &str, kid: Option<&str>) -> Result<Claims, TokenError> {
        let kid = kid.ok_or_else(|| TokenError::Invalid("EdDSA token without kid".into()))?;
        if let Some(key) = self.keys.read().await.get(kid) {
            return decode(token, key, &self.validation);
        }
        self.refresh().await;
        match self.keys.read().await.get(kid) {
            Some(key) => decode(token, key, &self.validation),
            None => Err(TokenError::Invalid(format!("unknown key id {kid:?}"))),
        }
    }

    /// Refetches the key set unless that happened within `refetch_interval`.
    async fn refresh(&self) {
        let mut last = self.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.config.refetch_interval) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched JWKS");
                *self.keys.write().await = keys;
            }
            Err(err) => tracing::warn!(error = %err, url = %self.config.url, "fetching JWKS failed"),
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let set: JwkSet = self
            .http
            .get(&self.config.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Better Auth's JWKs carry no `alg`; the key type (OKP/Ed25519) decides.
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else {
                continue;
            };
            keys.insert(kid, key);
        }
        Ok(keys)
    }
}
