//! Configuration from the environment only, validated at start-up.
//!
//! Readers collect every problem instead of stopping at the first, so a misconfigured pod
//! reports all of its mistakes in one log line and exits non-zero.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng as _;

use crate::auth::{JwksConfig, TokenConfig};
use crate::db::{Backend, DbOptions};
use crate::http::TrustedProxies;

/// Every problem found in the environment.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// Reads variables from the process environment (or a map, in tests) and records problems.
pub struct Env {
    vars: HashMap<String, String>,
    problems: Vec<String>,
}

impl Env {
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
            problems: Vec::new(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            vars: pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            problems: Vec::new(),
        }
    }

    /// The value of `key`, or `None` when unset or blank.
    pub fn get(&self, key: &str) -> Option<String> {
        self.vars
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_string())
    }

    /// Parses `key`, falling back to `default` when unset; a bad value is recorded as a problem.
    pub fn parse<T: FromStr>(&mut self, key: &str, default: T, expected: &str) -> T {
        match self.get(key) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                self.problems.push(format!("{key}={raw:?} is not {expected}"));
                default
            }),
        }
    }

    pub fn flag(&mut self, key: &str) -> bool {
        match self.get(key).map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(other) => {
                self.problems
                    .push(format!("{key}={other:?} is not a boolean (true or false)"));
                false
            }
        }
    }

    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(self.problems))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// What every service reads: where to listen, how to log, how to shut down.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub log_format: LogFormat,
    pub shutdown_timeout: Duration,
    pub cors_origins: Vec<String>,
    pub dev_mode: bool,
    /// Where `/metrics` is served instead of the main port (`METRICS_PORT`), so a public service
    /// (the frontend) need not show its metrics to the world. None: on the main port.
    pub metrics_port: Option<u16>,
}

impl ServiceConfig {
    pub fn from_env(env: &mut Env, name: &'static str, default_port: u16) -> Self {
        let ip: IpAddr = env.parse("BIND_ADDR", IpAddr::from([0, 0, 0, 0]), "an IP address");
        let port: u16 = env.parse("PORT", default_port, "a port number (0-65535)");
        let log_format = match env.string("LOG_FORMAT", "json").to_ascii_lowercase().as_str() {
            "json" => LogFormat::Json,
            "pretty" | "text" => LogFormat::Pretty,
            other => {
                env.problem(format!("LOG_FORMAT={other:?} is not json or pretty"));
                LogFormat::Json
            }
        };
        let shutdown_secs: u64 = env.parse("SHUTDOWN_TIMEOUT_SECS", 20, "a number of seconds");
        let cors_origins: Vec<String> = env
            .get("CORS_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for origin in &cors_origins {
            if origin != "*" && http::HeaderValue::from_str(origin).is_err()
                || !(origin == "*" || origin.starts_with("http://") || origin.starts_with("https://"))
            {
                env.problem(format!(
                    "CORS_ORIGINS entry {origin:?} is not an origin such as https://app.example.com"
                ));
            }
        }
        let dev_mode = env.flag("DEV_MODE");
        let metrics_port = env.get("METRICS_PORT").and_then(|raw| match raw.parse::<u16>() {
            Ok(p) if p != 0 && p != port => Some(p),
            _ => {
                env.problem(format!(
                    "METRICS_PORT={raw:?} is not a port number (1-65535) other than PORT ({port})"
                ));
                None
            }
        });
        ServiceConfig {
            name,
            addr: SocketAddr::new(ip, port),
            log_format,
            shutdown_timeout: Duration::from_secs(shutdown_secs),
            cors_origins,
            dev_mode,
            metrics_port,
        }
    }
}

/// Where data lives when no `DATABASE_URL` is given.
pub fn data_dir(env: &Env) -> PathBuf {
    PathBuf::from(env.string("DATA_DIR", "data"))
}

pub fn database_from_env(env: &mut Env) -> DbOptions {
    let default_url = format!("sqlite:{}", data_dir(env).join("todo.db").display());
    let url = env.string("DATABASE_URL", &default_url);
    if let Err(e) = Backend::from_url(&url) {
        env.problem(e.to_string());
    }
    let mut options = DbOptions::new(url);
    options.max_connections = env.parse("DATABASE_MAX_CONNECTIONS", 10u32, "a positive number");
    if options.max_connections == 0 {
        env.problem("DATABASE_MAX_CONNECTIONS must be at least 1");
    }
    let acquire_ms: u64 = env.parse("DATABASE_ACQUIRE_TIMEOUT_MS", 3000, "a number of milliseconds");
    options.acquire_timeout = Duration::from_millis(acquire_ms);
    options
}

/// The proxies whose `X-Forwarded-For` entries name the client (`TRUSTED_PROXIES`: addresses and
/// CIDR ranges, comma-separated; empty: none, the TCP peer is the client).
pub fn trusted_proxies_from_env(env: &mut Env) -> TrustedProxies {
    if env.get("TRUSTED_PROXY_HOPS").is_some() {
        env.problem(
            "TRUSTED_PROXY_HOPS is no longer read: name the proxies instead, \
             TRUSTED_PROXIES=<addresses or CIDR ranges> (the frontend's, and the ingress controller's)",
        );
    }
    match env.get("TRUSTED_PROXIES").map(|list| list.parse::<TrustedProxies>()) {
        None => TrustedProxies::none(),
        Some(Ok(proxies)) => proxies,
        Some(Err(e)) => {
            env.problem(format!("TRUSTED_PROXIES: {e}"));
            TrustedProxies::none()
        }
    }
}

/// How much one account may hold (`MAX_TASKS_PER_USER`, `MAX_CONVERSATIONS_PER_USER`; 0: no
/// limit). A bound on what one user can make the others pay for: storage, and the listing the
/// web UI and the assistant read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageCaps {
    pub tasks_per_user: u32,
    pub conversations_per_user: u32,
}

impl Default for UsageCaps {
    fn default() -> Self {
        UsageCaps {
            tasks_per_user: 10_000,
            conversations_per_user: 1_000,
        }
    }
}

pub fn usage_caps_from_env(env: &mut Env) -> UsageCaps {
    let defaults = UsageCaps::default();
    UsageCaps {
        tasks_per_user: env.parse(
            "MAX_TASKS_PER_USER",
            defaults.tasks_per_user,
            "a number of tasks (0: no limit)",
        ),
        conversations_per_user: env.parse(
            "MAX_CONVERSATIONS_PER_USER",
            defaults.conversations_per_user,
            "a number of conversations (0: no limit)",
        ),
    }
}

pub const MIN_SECRET_BYTES: usize = 32;

/// Token settings. Without `BETTER_AUTH_SECRET` the service refuses to start unless `dev_mode`,
/// where a random secret is used (tokens then do not survive a restart).
pub fn tokens_from_env(env: &mut Env, dev_mode: bool) -> TokenConfig {
    let secret = match env.get("BETTER_AUTH_SECRET") {
        Some(s) if s.len() >= MIN_SECRET_BYTES => s.into_bytes(),
        Some(_) => {
            env.problem(format!(
                "BETTER_AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes (generate one with `openssl rand -hex 32`)"
            ));
            Vec::new()
        }
        None if dev_mode => {
            tracing::warn!("BETTER_AUTH_SECRET is not set: using a random development secret");
            let bytes: [u8; 32] = rand::rng().random();
            bytes.to_vec()
        }
        None => {
            env.problem(format!(
                "BETTER_AUTH_SECRET is required (at least {MIN_SECRET_BYTES} bytes; generate one with \
                 `openssl rand -hex 32`), or set DEV_MODE=true for local development"
            ));
            Vec::new()
        }
    };
    let ttl_secs: u64 = env.parse("AUTH_TOKEN_TTL_SECS", DEFAULT_TOKEN_TTL_SECS, "a number of seconds");
    // With an external issuer, its accounts are the only ones unless local ones are asked for.
    let local_default = env.get("AUTH_JWKS_URL").is_none();
    let local_accounts = match env.get("AUTH_LOCAL_ACCOUNTS") {
        None => local_default,
        Some(_) => env.flag("AUTH_LOCAL_ACCOUNTS"),
    };
    if !local_accounts && env.get("AUTH_JWKS_URL").is_none() {
        env.problem("AUTH_LOCAL_ACCOUNTS=false leaves no way to sign in: set AUTH_JWKS_URL to an external issuer too");
    }
    TokenConfig {
        secret,
        issuer: env.string("AUTH_ISSUER", "todo-chatbot"),
        audience: env.string("AUTH_AUDIENCE", "todo-chatbot"),
        ttl: Duration::from_secs(ttl_secs),
        local_accounts,
    }
}

/// How long a token of ours lives: a day. The web UI renews it while it is used
/// (`POST /api/auth/renew`), so a stolen token is good for a day at most and sign-out ends it.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// External Better Auth server settings, when `AUTH_JWKS_URL` is set.
pub fn jwks_from_env(env: &mut Env) -> Option<JwksConfig> {
    let url = env.get("AUTH_JWKS_URL")?;
    let Some(base) = url
        .strip_suffix("/api/auth/jwks")
        .map(str::to_string)
        .or_else(|| env.get("AUTH_JWKS_ISSUER"))
    else {
        env.problem("AUTH_JWKS_URL does not end in /api/auth/jwks: set AUTH_JWKS_ISSUER to the Better Auth base URL");
        return None;
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        env.problem(format!("AUTH_JWKS_URL={url:?} is not an http(s) URL"));
    }
    let refetch: u64 = env.parse("AUTH_JWKS_REFETCH_SECS", 30, "a number of seconds");
    Some(JwksConfig {
        url,
        issuer: env.get("AUTH_JWKS_ISSUER").unwrap_or_else(|| base.clone()),
        audience: env.get("AUTH_JWKS_AUDIENCE").unwrap_or(base),
        refetch_interval: Duration::from_secs(refetch),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_production_safe_and_complete() {
        let mut env = Env::from_pairs([("BETTER_AUTH_SECRET", "x".repeat(32).as_str())]);
        let service = ServiceConfig::from_env(&mut env, "backend", 8000);
        let tokens = tokens_from_env(&mut env, service.dev_mode);
        let db = database_from_env(&mut env);
        env.finish().unwrap();
        assert_eq!(service.addr.to_string(), "0.0.0.0:8000");
        assert_eq!(service.log_format, LogFormat::Json);
        assert_eq!(tokens.secret.len(), 32);
        assert!(db.url.starts_with("sqlite:"));
    }

    #[test]
    fn trusted_proxies_are_named_and_the_old_hop_count_is_refused_with_the_new_setting() {
        let mut env = Env::from_pairs([("TRUSTED_PROXIES", "10.244.0.0/16, 127.0.0.1")]);
        let proxies = trusted_proxies_from_env(&mut env);
        env.finish().unwrap();
        assert!(proxies.trusts("10.244.9.9".parse().unwrap()));
        let mut env = Env::from_pairs([("TRUSTED_PROXY_HOPS", "2"), ("TRUSTED_PROXIES", "ingress")]);
        trusted_proxies_from_env(&mut env);
        let err = env.finish().unwrap_err().to_string();
        assert!(err.contains("TRUSTED_PROXIES=<addresses or CIDR ranges>"), "{err}");
        assert!(err.contains("\"ingress\" is not an IP address"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut env = Env::from_pairs([
            ("PORT", "eighty"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://x"),
            ("BETTER_AUTH_SECRET", "short"),
        ]);
        let service = ServiceConfig::from_env(&mut env, "backend", 8000);
        tokens_from_env(&mut env, service.dev_mode);
        database_from_env(&mut env);
        let err = env.finish().unwrap_err().to_string();
        for needle in ["PORT", "LOG_FORMAT", "DATABASE_URL", "BETTER_AUTH_SECRET"] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
        assert!(!err.contains("short"), "the secret's value must not be echoed: {err}");
    }

    #[test]
    fn a_missing_secret_is_fatal_outside_dev_mode_only() {
        let mut env = Env::from_pairs([]);
        tokens_from_env(&mut env, false);
        assert!(env.finish().is_err());
        let mut env = Env::from_pairs([]);
        assert_eq!(tokens_from_env(&mut env, true).secret.len(), 32);
        env.finish().unwrap();
    }

    #[test]
    fn jwks_issuer_defaults_to_the_better_auth_base_url() {
        let mut env = Env::from_pairs([("AUTH_JWKS_URL", "https://auth.example.com/api/auth/jwks")]);
        let jwks = jwks_from_env(&mut env).unwrap();
        assert_eq!(jwks.issuer, "https://auth.example.com");
        assert_eq!(jwks.audience, "https://auth.example.com");
    }
}
