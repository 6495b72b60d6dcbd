//! The backend's configuration, read from the environment.

use std::num::NonZeroU32;
use std::time::Duration;

use todo_core::auth::{JwksConfig, TokenConfig};
use todo_core::config::{self, ConfigError, Env, ServiceConfig, UsageCaps};
use todo_core::db::DbOptions;
use todo_core::http::TrustedProxies;

use crate::throttle::Limits;

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
    /// Sign-in, sign-up, write and chat rate limits.
    pub limits: Limits,
    /// How many tasks and conversations one account may hold.
    pub caps: UsageCaps,
    /// The proxies in front of the backend whose X-Forwarded-For entry names the client (the
    /// frontend's addresses). None: the TCP peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// Argon2 hashes that may run at once, and that may wait for a turn.
    pub password_workers: usize,
    pub password_queue: usize,
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
        let limits = Limits {
            sign_in_per_minute: NonZeroU32::new(env.parse(
                "AUTH_SIGN_IN_PER_MINUTE",
                5,
                "a number of attempts (0 turns the limit off)",
            )),
            sign_up_per_hour: NonZeroU32::new(env.parse(
                "AUTH_SIGN_UP_PER_HOUR",
                20,
                "a number of sign-ups (0 turns the limit off)",
            )),
            writes_per_minute: NonZeroU32::new(env.parse(
                "WRITES_PER_MINUTE",
                300,
                "a number of task writes (0 turns the limit off)",
            )),
            chats_per_minute: NonZeroU32::new(env.parse(
                "CHATS_PER_MINUTE",
                20,
                "a number of chat messages (0 turns the limit off)",
            )),
        };
        let caps = config::usage_caps_from_env(&mut env);
        let trusted_proxies = config::trusted_proxies_from_env(&mut env);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let password_workers = env.parse("PASSWORD_HASH_WORKERS", cpus, "a number of threads");
        let password_queue = env.parse(
            "PASSWORD_HASH_QUEUE",
            16 * password_workers,
            "a number of waiting hashes",
        );
        env.finish()?;
        Ok(BackendConfig {
            service,
            database,
            tokens,
            jwks,
            agent_url,
            agent_timeout,
            limits,
            caps,
            trusted_proxies,
            password_workers,
            password_queue,
        })
    }
}
