//! The frontend's configuration, read from the environment.

use todo_core::config::{ConfigError, Env, ServiceConfig};

pub const DEFAULT_PORT: u16 = 3000;
pub const DEFAULT_BACKEND_URL: &str = "http://127.0.0.1:8000";

#[derive(Debug, Clone)]
pub struct FrontendConfig {
    pub service: ServiceConfig,
    /// Where `/api/*` goes.
    pub backend_url: String,
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
        env.finish()?;
        Ok(FrontendConfig { service, backend_url })
    }
}
