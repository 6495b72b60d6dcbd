//! A small blocking client of our own HTTP API, shared by the commands that drive running services.

use std::net::TcpListener;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::project::random_hex;

/// A keep-alive HTTP client that treats any non-2xx answer as an error.
pub struct Client {
    agent: ureq::Agent,
}

impl Client {
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Client { agent }
    }

    pub fn post(&self, url: &str, token: Option<&str>, body: &Value) -> anyhow::Result<Value> {
        let mut request = self.agent.post(url);
        if let Some(token) = token {
            request = request.header("authorization", &format!("Bearer {token}"));
        }
        let mut response = request.send_json(body).with_context(|| format!("POST {url}"))?;
        response
            .body_mut()
            .read_json()
            .with_context(|| format!("POST {url}: not JSON"))
    }

    /// PATCH with no body (toggling a task's completion), discarding the answer.
    pub fn patch(&self, url: &str, token: &str) -> anyhow::Result<()> {
        self.agent
            .patch(url)
            .header("authorization", &format!("Bearer {token}"))
            .send_empty()
            .with_context(|| format!("PATCH {url}"))?;
        Ok(())
    }
}

/// GET `url` with a bearer token; its JSON body (any non-2xx answer is an error).
pub fn get_json(url: &str, token: &str) -> anyhow::Result<Value> {
    Client::new()
        .agent
        .get(url)
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .with_context(|| format!("GET {url}"))?
        .body_mut()
        .read_json()
        .with_context(|| format!("GET {url}: not JSON"))
}

/// A fresh user on the backend at `base`: its token and its id.
pub fn sign_up(base: &str, who: &str) -> anyhow::Result<(String, String)> {
    let email = format!("{who}-{}@example.com", random_hex(6));
    let session = Client::new().post(
        &format!("{base}/api/auth/sign-up"),
        None,
        &json!({"email": email, "password": "a-long-enough-password", "name": who}),
    )?;
    let token = session["token"]
        .as_str()
        .context("sign-up answered no token")?
        .to_string();
    let user = session["user"]["id"]
        .as_str()
        .context("sign-up answered no user id")?
        .to_string();
    Ok((token, user))
}

/// A port nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
