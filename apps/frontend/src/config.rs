//! The frontend's configuration, read from the environment.

use todo_core::config::{self, ConfigError, Env, ServiceConfig};
use todo_core::http::TrustedProxies;

pub const DEFAULT_PORT: u16 = 3000;
pub const DEFAULT_BACKEND_URL: &str = "http://127.0.0.1:8000";

#[derive(Debug, Clone)]
pub struct FrontendConfig {
    pub service: ServiceConfig,
    /// Where `/api/*` goes.
    pub backend_url: String,
    /// The proxies in front of the frontend (the ingress controller) whose X-Forwarded-For entry
    /// names the client. None (the default): the frontend is the edge, its TCP peer the client.
    pub trusted_proxies: TrustedProxies,
}

impl FrontendConfig {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_env(&mut env, "todo-frontend", DEFAULT_PORT);
        let backend_url = env
            .string("BACKEND_URL", DEFAULT_BACKEND_URL)
            .trim_end_matches('/')
            .to_string();
        if !(backend_url.starts_with("http://") || backend_url.starts_with("https://")) {
            env.problem(format!(
                "BACKEND_URL={backend_url:?} is not an http(s) URL such as {DEFAULT_BACKEND_URL}"
            ));
        }
        let trusted_proxies = config::trusted_proxies_from_env(&mut env);
        env.finish()?;
        Ok(FrontendConfig {
            service,
            backend_url,
            trusted_proxies,
        })
    }
}
