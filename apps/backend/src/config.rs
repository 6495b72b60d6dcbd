//! The backend's configuration, read from the environment.

use todo_core::auth::{JwksConfig, TokenConfig};
use todo_core::config::{self, ConfigError, Env, ServiceConfig};
use todo_core::db::DbOptions;

pub const DEFAULT_PORT: u16 = 8000;

#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub service: ServiceConfig,
    pub database: DbOptions,
    pub tokens: TokenConfig,
    pub jwks: Option<JwksConfig>,
}

impl BackendConfig {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_env(&mut env, "todo-backend", DEFAULT_PORT);
        let database = config::database_from_env(&mut env);
        let tokens = config::tokens_from_env(&mut env, service.dev_mode);
        let jwks = config::jwks_from_env(&mut env);
        env.finish()?;
        Ok(BackendConfig {
            service,
            database,
            tokens,
            jwks,
        })
    }
}
