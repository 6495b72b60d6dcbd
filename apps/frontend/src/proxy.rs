//! `/api/*` goes to the backend, so the browser talks to one origin and no CORS is needed.
//!
//! The request is forwarded as it came (method, path, query, headers but hop-by-hop ones, body up
//! to the API's own limit) and the answer streamed back. A backend that cannot be reached answers
//! 502 and one that does not answer in time 504, both as JSON errors. A path with a dot segment
//! is refused (400): the URL the backend is asked for is resolved as URLs are (WHATWG), so
//! `/api/../metrics`, `/api/%2e%2e/metrics` or `/api\..\metrics` would reach the backend's
//! `/metrics`, `/openapi.json` and `/docs` through the public service.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use todo_core::http::{ApiError, BODY_LIMIT_BYTES, TrustedProxies};

/// Chat replies wait for a language model; the backend itself gives up on the agent after 60 s.
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone)]
pub struct Backend {
    pub url: String,
    pub http: reqwest::Client,
    /// Whose X-Forwarded-For entries name the client (the ingress controller, when there is one).
    pub trusted_proxies: TrustedProxies,
}

impl Backend {
    pub fn new(url: &str, trusted_proxies: TrustedProxies) -> anyhow::Result<Self> {
        Ok(Backend {
            url: url.to_string(),
            trusted_proxies,
            http: reqwest::Client::builder()
                .timeout(PROXY_TIMEOUT)
                .connect_timeout(Duration::from_secs(3))
                .build()?,
        })
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and those the
/// client library sets itself.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !is_hop_by_hop(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Tells the backend who the client is: X-Forwarded-For becomes the one address this proxy
/// decided on (its peer, or what a trusted proxy before it saw). Whatever else the client wrote is
/// dropped here, so the backend, which trusts the frontend alone, reads exactly one entry and a
/// client that bypassed the ingress cannot choose its rate-limit bucket.
fn set_forwarded_for(headers: &mut HeaderMap, from: &HeaderMap, peer: IpAddr, trusted: &TrustedProxies) {
    let earlier: Vec<&str> = from
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = trusted.client_addr(peer, &earlier);
    headers.remove(X_FORWARDED_FOR);
    if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Whether resolving `path` as a URL would move it: a `.` or `..` segment, written plainly or
/// percent-encoded (`%2e`, `%2E`), between `/` or `\\` (which URL parsing of an http URL reads
/// as `/`, WHATWG URL "path state").
fn has_dot_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|segment| {
        let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
        decoded == "." || decoded == ".."
    })
}

pub async fn forward(State(backend): State<Backend>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if has_dot_segment(parts.uri.path()) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "a path under /api may not hold `.` or `..` segments",
        )
        .into_response();
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", backend.url);
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT_BYTES).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {BODY_LIMIT_BYTES} bytes"),
        )
        .into_response();
    };
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host.clone());
    }
    match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => {
            set_forwarded_for(&mut headers, &parts.headers, peer.ip(), &backend.trusted_proxies);
        }
        // Served in-process without a connection: nobody to vouch for, so nothing is passed on.
        None => {
            headers.remove(X_FORWARDED_FOR);
        }
    }
    let sent = backend
        .http
        .request(parts.method, &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) => {
            let mut response = Response::builder().status(answer.status());
            if let Some(out) = response.headers_mut() {
                copy_headers(answer.headers(), out);
            }
            response
                .body(Body::from_stream(answer.bytes_stream()))
                .unwrap_or_else(|e| ApiError::internal(e).into_response())
        }
        Err(e) if e.is_timeout() => {
            tracing::error!(error = %e, "the backend did not answer in time");
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "backend_timeout",
                "the server took too long to answer",
            )
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the backend");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "backend_unavailable",
                "the server cannot be reached right now",
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_are_found_however_they_are_written() {
        for leaving in [
            "/api/../metrics",
            "/api/%2e%2e/metrics",
            "/api/%2E%2e/openapi.json",
            "/api/./../docs/",
            "/api/u1/tasks/..",
            "/api\\..\\metrics",
            "/api/%2e",
        ] {
            assert!(has_dot_segment(leaving), "{leaving}");
        }
        for staying in [
            "/api/u1/tasks",
            "/api/u1/tasks/7",
            "/api/auth/sign-in",
            "/api/a..b/c.d",
            "/api/...",
        ] {
            assert!(!has_dot_segment(staying), "{staying}");
        }
    }
}
