//! Which transport serves a request at `/mcp`: 2025-11-25 clients that `initialize` get a session
//! (resource subscriptions live in one), and every request of theirs names it; everything else
//! is served statelessly, as it always was: 2026-07-28 requests, and one-off 2025-11-25 requests
//! that never initialized (scripts, probes, the cluster smoke test). rmcp serves one mode per
//! transport, so there are two, over one handler and one set of tools.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse as _, Response};
use http::{Method, StatusCode};
use rmcp::transport::streamable_http_server::StreamableHttpService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use todo_core::http::ApiError;

use crate::TodoServer;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// The first protocol version without sessions.
const STATELESS_VERSION: &str = "2026-07-28";
/// The limit every other API of ours has (64 KiB), not rmcp's own 4 MiB: rmcp reads the body
/// itself, past axum's body limit, so it is enforced here before a transport sees the request.
const MAX_BODY_BYTES: usize = todo_core::http::BODY_LIMIT_BYTES;

#[derive(Clone)]
pub struct Transports {
    pub stateless: StreamableHttpService<TodoServer, NeverSessionManager>,
    pub sessions: StreamableHttpService<TodoServer, LocalSessionManager>,
}

pub async fn route(State(transports): State<Transports>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
        .into_response();
    };
    let initialize = parts.method == Method::POST && is_initialize(&body);
    let request = Request::from_parts(parts, Body::from(body));
    if request.headers().contains_key(SESSION_HEADER) {
        return transports.sessions.handle(request).await.into_response();
    }
    if request.method() != Method::POST || speaks_stateless(&request) {
        return transports.stateless.handle(request).await.into_response();
    }
    if initialize {
        transports.sessions.handle(request).await.into_response()
    } else {
        transports.stateless.handle(request).await.into_response()
    }
}

/// A request that says it speaks 2026-07-28 or later: sessions are not part of that protocol.
fn speaks_stateless(request: &Request) -> bool {
    request
        .headers()
        .get(VERSION_HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|version| version >= STATELESS_VERSION)
}

fn is_initialize(body: &Bytes) -> bool {
    #[derive(serde::Deserialize)]
    struct Message<'a> {
        #[serde(borrow)]
        method: Option<&'a str>,
    }
    serde_json::from_slice::<Message<'_>>(body).is_ok_and(|message| message.method == Some("initialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_initialize_request_opens_a_session() {
        let initialize = Bytes::from_static(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
        assert!(is_initialize(&initialize));
        for other in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#[..],
            br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            br#"[{"jsonrpc":"2.0","id":1,"method":"initialize"}]"#,
            b"not json",
        ] {
            assert!(
                !is_initialize(&Bytes::copy_from_slice(other)),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
