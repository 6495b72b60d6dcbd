//! Readiness of a service that depends on another one: ready when the other's `/readyz` is.

use std::time::Duration;

use futures::future::BoxFuture;

use super::Readiness;

pub struct UpstreamReady {
    name: &'static str,
    readyz: String,
    client: reqwest::Client,
}

impl UpstreamReady {
    /// `base_url` is the upstream's root (`http://todo-backend:8000`).
    pub fn new(name: &'static str, base_url: &str) -> Self {
        UpstreamReady {
            name,
            readyz: format!("{}/readyz", base_url.trim_end_matches('/')),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap_or_default(),
        }
    }
}

impl Readiness for UpstreamReady {
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            match self.client.get(&self.readyz).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("{} is not ready ({})", self.name, response.status())),
                // The error names the upstream's URL: logged, never answered (the frontend's
                // /readyz is public).
                Err(e) => {
                    tracing::warn!(error = %e, upstream = self.name, "upstream unreachable");
                    Err(format!("{} is unreachable", self.name))
                }
            }
        })
    }
}
