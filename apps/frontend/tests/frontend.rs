//! The frontend over real sockets: embedded assets with caching and compression, and `/api/*`
//! forwarded to a recording stand-in backend.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use todo_core::config::Env;
use todo_frontend::FrontendConfig;

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    authorization: Option<String>,
    forwarded_host: Option<String>,
    forwarded_for: Option<String>,
    body: Bytes,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A backend that records what reaches it and answers 201 with a header of its own.
async fn recording_backend() -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new()
        .fallback(move |request: Request| {
            let record = record.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap().to_string());
                record.lock().unwrap().push(Seen {
                    method: parts.method.to_string(),
                    path_and_query: parts.uri.path_and_query().unwrap().to_string(),
                    authorization: header("authorization"),
                    forwarded_host: header("x-forwarded-host"),
                    forwarded_for: header("x-forwarded-for"),
                    body,
                });
                (StatusCode::CREATED, [("x-backend", "yes")], r#"{"id":7}"#).into_response()
            }
        })
        .route("/readyz", axum::routing::get(|| async { "ready" }));
    (serve(app).await, seen)
}

async fn frontend(backend_url: &str) -> String {
    let config = FrontendConfig::from_env(Env::from_pairs([("BACKEND_URL", backend_url)])).unwrap();
    serve(todo_frontend::router(&config).unwrap()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

#[tokio::test]
async fn serves_the_page_and_assets_with_validators_and_compression() {
    let (backend, _) = recording_backend().await;
    let url = frontend(&backend).await;
    let page = client().get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains("<script src=\"/assets/app.js\" defer>"));
    assert!(html.contains("<label for=\"chat-input\""));

    let again = client()
        .get(format!("{url}/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    let script = client()
        .get(format!("{url}/assets/app.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(script.headers()["content-encoding"], "gzip");
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    for path in ["/assets/app.css", "/assets/favicon.svg"] {
        assert_eq!(
            client().get(format!("{url}{path}")).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    let missing = client().get(format!("{url}/assets/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "not_found");
}

#[tokio::test]
async fn forwards_api_requests_and_answers_untouched() {
    let (backend, seen) = recording_backend().await;
    let url = frontend(&backend).await;
    let answer = client()
        .post(format!("{url}/api/u1/tasks?status=all"))
        .header("authorization", "Bearer abc")
        .header("content-type", "application/json")
        .body(r#"{"title":"Buy milk"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.headers()["x-backend"], "yes");
    assert_eq!(answer.text().await.unwrap(), r#"{"id":7}"#);

    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first.method, "POST");
    assert_eq!(first.path_and_query, "/api/u1/tasks?status=all");
    assert_eq!(first.authorization.as_deref(), Some("Bearer abc"));
    assert!(first.forwarded_host.is_some_and(|h| h.starts_with("127.0.0.1:")));
    assert_eq!(
        first.forwarded_for.as_deref(),
        Some("127.0.0.1"),
        "the address the frontend saw"
    );
    assert_eq!(&first.body[..], br#"{"title":"Buy milk"}"#);

    // What a client wrote is dropped: trusting no proxy, the frontend names its peer alone, so the
    // backend, which believes the frontend, reads one address the client did not choose.
    client()
        .get(format!("{url}/api/auth/me"))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    let forwarded_for = seen.lock().unwrap()[1].forwarded_for.clone();
    assert_eq!(forwarded_for.as_deref(), Some("127.0.0.1"));

    let too_big = client()
        .post(format!("{url}/api/u1/tasks"))
        .body(vec![b'x'; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
}

#[tokio::test]
async fn an_unreachable_backend_is_a_json_502_and_not_ready() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let backend = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let url = frontend(&backend).await;
    let answer = client().get(format!("{url}/api/auth/me")).send().await.unwrap();
    assert_eq!(answer.status(), 502);
    let error: Value = answer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "backend_unavailable");
    assert_eq!(
        client().get(format!("{url}/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        client().get(format!("{url}/readyz")).send().await.unwrap().status(),
        503
    );

    let (backend, _) = recording_backend().await;
    let url = frontend(&backend).await;
    assert_eq!(
        client().get(format!("{url}/readyz")).send().await.unwrap().status(),
        200
    );
}

/// What `curl --path-as-is` sends: a path that leaves `/api` once resolved is refused before
/// anything reaches the backend (which would have been asked for its `/metrics`, say), and a
/// plain `/api` path still goes through. Raw HTTP: an HTTP client resolves dot segments itself.
#[tokio::test]
async fn a_path_that_walks_out_of_api_is_refused_and_never_forwarded() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let (backend, seen) = recording_backend().await;
    let url = frontend(&backend).await;
    let address = url.trim_start_matches("http://").to_string();
    let raw = |path: &'static str| {
        let address = address.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        }
    };
    for path in [
        "/api/../metrics",
        "/api/%2e%2e/metrics",
        "/api/%2E%2e/openapi.json",
        "/api/./../docs/",
    ] {
        let answer = raw(path).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains(r#""code":"bad_path""#), "{path}: {answer}");
    }
    assert!(seen.lock().unwrap().is_empty(), "reached the backend");
    let answer = raw("/api/u1/tasks").await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(seen.lock().unwrap()[0].path_and_query, "/api/u1/tasks");
}
