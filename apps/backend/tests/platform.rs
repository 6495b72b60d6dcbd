//! What every service promises operators: health, readiness, metrics, docs, request ids, JSON
//! fallbacks, CORS, and riding out a database outage without a restart.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use todo_core::test_support::TestDb;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[tokio::test]
async fn health_readiness_metrics_and_docs() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start(&db).await;
    let (status, body) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (status, body) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("ready")));

    let s = server.sign_up("metrics@example.com").await;
    server.create_task(&s, "counted").await;
    let metrics = server.metrics().await;
    assert!(
        metrics.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains(r#"route="/api/{user_id}/tasks""#)
            && l.contains(r#"method="POST""#)
            && l.contains(r#"status="201""#)),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket{"), "{metrics}");
    assert!(
        !metrics.contains(&s.user_id),
        "routes are labelled by template, not by user id"
    );

    let (status, spec) = server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/auth/sign-up",
        "/api/auth/sign-in",
        "/api/auth/me",
        "/api/{user_id}/tasks",
        "/api/{user_id}/tasks/{id}",
        "/api/{user_id}/tasks/{id}/complete",
    ] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    let docs = server.http.get(server.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start(&db).await;
    let response = server
        .http
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let response = server.http.get(server.url("/healthz")).send().await.unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start(&db).await;
    let (status, body) = server.call(Method::GET, "/nowhere", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body) = server.call(Method::DELETE, "/api/auth/sign-in", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(&db, &[("CORS_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        server
            .http
            .request(Method::OPTIONS, server.url("/api/auth/sign-in"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
}

/// A TCP proxy in front of PostgreSQL that can cut every connection, as an outage would.
struct Outage {
    addr: std::net::SocketAddr,
    up: watch::Sender<bool>,
}

impl Outage {
    async fn start(target: String) -> Outage {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, watcher) = watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !*watcher.borrow() {
                    continue; // dropped: the connection is refused mid-handshake
                }
                let mut watcher = watcher.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watcher.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Outage { addr, up }
    }
}

#[tokio::test]
async fn a_database_outage_gives_503s_and_the_service_recovers_by_itself() {
    let Some(db) = TestDb::postgres().await else { return };
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let outage = Outage::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(outage.addr.port())).unwrap();
    let proxied_url = url.to_string();
    let server = TestServer::start_with(
        &db,
        &[("DATABASE_URL", &proxied_url), ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000")],
    )
    .await;
    let s = server.sign_up("outage@example.com").await;
    let task = server.create_task(&s, "survives the outage").await;

    outage.up.send_replace(false);
    let (status, body) = server.call(Method::GET, &s.tasks(), Some(&s.token), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
        "{body}"
    );
    let (status, _) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "liveness must not fail: a restart would not help"
    );

    outage.up.send_replace(true);
    let started = Instant::now();
    loop {
        let (status, body) = server.call(Method::GET, &s.tasks(), Some(&s.token), None).await;
        if status == StatusCode::OK {
            assert_eq!(body, Value::Array(vec![task]));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not recover: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
}
