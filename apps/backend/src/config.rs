//! The backend's configuration, read from the environment.

use std::time::Duration;

use todo_core::auth::{JwksConfig, TokenConfig};
use todo_core::config::{self, ConfigError, Env, ServiceConfig};
use todo_core::db::DbOptions;

pub const DEFAULT_PORT: u16 = 8000;
pub const DEFAULT_AGENT_URL: &str = "http://127.0.0.1:8002";

#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub service: ServiceConfig,
    pub database: DbOptions,
    pub tokens: TokenConfig,
    pub jwks: Option<JwksConfig>,
    /// The agent service's base URL.
    pub agent_url: String,
    /// How long a chat message waits for the agent before answering 504.
    pub agent_timeout: Duration,
}

impl BackendConfig {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_env(&mut env, "todo-backend", DEFAULT_PORT);
        let database = config::database_from_env(&mut env);
        let tokens = config::tokens_from_env(&mut env, service.dev_mode);
        let jwks = config::jwks_from_env(&mut env);
        let agent_url = env
            .string("AGENT_URL", DEFAULT_AGENT_URL)
            .trim_end_matches('/')
            .to_string();
        if !(agent_url.starts_with("http://") || agent_url.starts_with("https://")) {
            env.problem(format!(
                "AGENT_URL={agent_url:?} is not an http(s) URL such as {DEFAULT_AGENT_URL}"
            ));
        }
        let agent_timeout = Duration::from_secs(env.parse("AGENT_TIMEOUT_SECS", 60, "a number of seconds"));
        env.finish()?;
        Ok(BackendConfig {
            service,
            database,
            tokens,
            jwks,
            agent_url,
            agent_timeout,
        })
    }
}
