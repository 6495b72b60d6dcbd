//! The agent service's configuration, read from the environment.

use std::time::Duration;

use todo_core::auth::{JwksConfig, TokenConfig};
use todo_core::config::{self, ConfigError, Env, ServiceConfig};

use crate::openai::OpenAiSettings;
use crate::runner::Limits;

pub const DEFAULT_PORT: u16 = 8002;
pub const DEFAULT_MCP_URL: &str = "http://127.0.0.1:8001/mcp";
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

#[derive(Debug, Clone)]
pub enum Provider {
    /// The deterministic engine: no key, no network.
    Offline,
    OpenAi(OpenAiSettings),
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub service: ServiceConfig,
    pub tokens: TokenConfig,
    pub jwks: Option<JwksConfig>,
    pub mcp_url: String,
    pub provider: Provider,
    pub limits: Limits,
}

impl AgentConfig {
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let service = ServiceConfig::from_env(&mut env, "todo-agent", DEFAULT_PORT);
        let tokens = config::tokens_from_env(&mut env, service.dev_mode);
        let jwks = config::jwks_from_env(&mut env);
        let mcp_url = env.string("MCP_URL", DEFAULT_MCP_URL);
        if !(mcp_url.starts_with("http://") || mcp_url.starts_with("https://")) {
            env.problem(format!(
                "MCP_URL={mcp_url:?} is not an http(s) URL such as {DEFAULT_MCP_URL}"
            ));
        }
        let api_key = env.get("OPENAI_API_KEY").filter(|k| !k.trim().is_empty());
        let default_provider = if api_key.is_some() { "openai" } else { "offline" };
        let provider = match env
            .string("LLM_PROVIDER", default_provider)
            .to_ascii_lowercase()
            .as_str()
        {
            "offline" => Provider::Offline,
            "openai" => {
                let base_url = env.string("OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL);
                // Local servers (Ollama, vLLM, LM Studio) take any key; OpenAI itself needs one.
                let api_key = match api_key {
                    Some(key) => key,
                    None if base_url == DEFAULT_OPENAI_BASE_URL => {
                        env.problem(
                            "LLM_PROVIDER=openai needs OPENAI_API_KEY (or an OPENAI_BASE_URL of a local server)",
                        );
                        String::new()
                    }
                    None => "unused".into(),
                };
                Provider::OpenAi(OpenAiSettings {
                    api_key,
                    base_url,
                    model: env.string("LLM_MODEL", DEFAULT_MODEL),
                })
            }
            other => {
                env.problem(format!("LLM_PROVIDER={other:?} is not openai or offline"));
                Provider::Offline
            }
        };
        let defaults = Limits::default();
        let limits = Limits {
            max_turns: env.parse("AGENT_MAX_TURNS", defaults.max_turns, "a whole number"),
            model_timeout: Duration::from_secs(env.parse("LLM_TIMEOUT_SECS", 30, "a number of seconds")),
            tool_timeout: Duration::from_secs(env.parse("TOOL_TIMEOUT_SECS", 10, "a number of seconds")),
        };
        env.finish()?;
        Ok(AgentConfig {
            service,
            tokens,
            jwks,
            mcp_url,
            provider,
            limits,
        })
    }
}
