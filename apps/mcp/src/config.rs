//! The MCP service's configuration, read from the environment.

use todo_core::auth::{JwksConfig, TokenConfig};
use todo_core::config::{self, ConfigError, Env, ServiceConfig, UsageCaps};
use todo_core::db::DbOptions;

pub const DEFAULT_PORT: u16 = 8001;

/// Host names accepted by default: loopback, and the Kubernetes service name the agent uses.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &["localhost", "127.0.0.1", "::1", "todo-mcp"];

/// Browser origins accepted by default: pages served from this machine (the MCP Inspector's web
/// UI, say). A DNS-rebinding page carries its own host name as its origin and is refused.
pub const DEFAULT_ALLOWED_ORIGINS: &[&str] = &["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

#[derive(Debug, Clone)]
pub struct McpConfig {
    pub service: ServiceConfig,
    pub database: DbOptions,
    pub tokens: TokenConfig,
    pub jwks: Option<JwksConfig>,
    /// `Host` header values accepted (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted (`scheme://host:port`, `:*` for any port); empty means none.
    pub allowed_origins: Vec<String>,
    /// How many tasks one account may hold.
    pub caps: UsageCaps,
}

fn list(env: &Env, key: &str) -> Option<Vec<String>> {
    env.get(key).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

impl McpConfig {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_env(&mut env, "todo-mcp", DEFAULT_PORT);
        let database = config::database_from_env(&mut env);
        let tokens = config::tokens_from_env(&mut env, service.dev_mode);
        let jwks = config::jwks_from_env(&mut env);
        let allowed_hosts = list(&env, "MCP_ALLOWED_HOSTS")
            .unwrap_or_else(|| DEFAULT_ALLOWED_HOSTS.iter().map(|h| h.to_string()).collect());
        let allowed_origins = list(&env, "MCP_ALLOWED_ORIGINS")
            .unwrap_or_else(|| DEFAULT_ALLOWED_ORIGINS.iter().map(|o| o.to_string()).collect());
        let caps = config::usage_caps_from_env(&mut env);
        env.finish()?;
        Ok(McpConfig {
            caps,
            service,
            database,
            tokens,
            jwks,
            allowed_hosts,
            allowed_origins,
        })
    }
}
