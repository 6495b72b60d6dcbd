//! The public edge as an attacker meets it: the frontend, the only service a cluster exposes, in
//! front of a backend that believes it about client addresses. An outside probe bypassed the
//! sign-in and sign-up limits by rotating `X-Forwarded-For` on a frontend reached around the
//! ingress; these tests replay that attack, through the real binaries, over loopback addresses
//! that stand for the client, the ingress controller and the frontend.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use todo_e2e::{Service, free_port, start_backend};

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}?mode=rwc", dir.path().join("edge.db").display())
}

/// The ingress controller of these tests: connections from 127.0.0.2.
const INGRESS: &str = "127.0.0.2";

struct Edge {
    _backend: Service,
    frontend: Service,
    metrics_port: u16,
}

/// A backend that trusts the frontend (on 127.0.0.1), and a frontend that trusts the ingress.
fn edge(dir: &tempfile::TempDir, limits: &[(&str, &str)]) -> Edge {
    let mut env: Vec<(&str, String)> = vec![("TRUSTED_PROXIES", "127.0.0.1".into())];
    env.extend(limits.iter().map(|(k, v)| (*k, v.to_string())));
    let backend = start_backend(&sqlite_url(dir), free_port(), &env);
    let metrics_port = free_port();
    let frontend = Service::start(
        "todo-frontend",
        free_port(),
        &[
            ("BACKEND_URL", format!("http://127.0.0.1:{}", backend.port)),
            ("TRUSTED_PROXIES", INGRESS.into()),
            ("METRICS_PORT", metrics_port.to_string()),
        ],
    );
    Edge {
        _backend: backend,
        frontend,
        metrics_port,
    }
}

/// A client connecting from `from`, sending `forwarded_for` as its X-Forwarded-For.
fn post(edge: &Edge, from: &str, forwarded_for: &str, path: &str, body: Value) -> u16 {
    let client = reqwest::blocking::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    client
        .post(format!("http://127.0.0.1:{}{path}", edge.frontend.port))
        .header("x-forwarded-for", forwarded_for)
        .json(&body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn sign_in(password: &str) -> Value {
    json!({"email": "ada@example.com", "password": password})
}

fn account(n: usize) -> Value {
    json!({"email": format!("new{n}@example.com"), "password": "correct horse battery", "name": "New"})
}

#[test]
fn a_client_around_the_ingress_cannot_choose_its_address_by_forging_x_forwarded_for() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(
        &dir,
        &[("AUTH_SIGN_IN_PER_MINUTE", "3"), ("AUTH_SIGN_UP_PER_HOUR", "2")],
    );
    assert_eq!(
        post(
            &edge,
            INGRESS,
            "192.0.2.1",
            "/api/auth/sign-up",
            json!({
                "email": "ada@example.com", "password": "correct horse battery", "name": "Ada"
            })
        ),
        201
    );

    // Straight to the frontend (127.0.0.1 is no trusted proxy), a new forged address each time:
    // all of them count as the one address the attacker connects from.
    let statuses: Vec<u16> = (0..6)
        .map(|n| {
            post(
                &edge,
                "127.0.0.1",
                &format!("203.0.113.{n}"),
                "/api/auth/sign-in",
                sign_in("guess"),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429, 429],
        "guesses with forged addresses"
    );
    let statuses: Vec<u16> = (0..3)
        .map(|n| {
            post(
                &edge,
                "127.0.0.1",
                &format!("198.51.100.{n}"),
                "/api/auth/sign-up",
                account(n),
            )
        })
        .collect();
    assert_eq!(statuses, [201, 201, 429], "sign-ups with forged addresses");

    // Through the ingress, which appends the address it saw after whatever the client wrote:
    // each client is its own address, so the attacker's lock-out is not the user's.
    let statuses: Vec<u16> = (0..4)
        .map(|n| {
            let forged = format!("198.51.100.{n}, 203.0.113.66");
            post(&edge, INGRESS, &forged, "/api/auth/sign-in", sign_in("guess"))
        })
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429], "the ingress's client 203.0.113.66");
    assert_eq!(
        post(
            &edge,
            INGRESS,
            "192.0.2.1",
            "/api/auth/sign-in",
            sign_in("correct horse battery")
        ),
        200,
        "the real user, from their own address"
    );
}

/// `count` failed sign-ins through the ingress, the n-th naming the client `forwarded(n)`.
fn failed_sign_ins(edge: &Edge, count: usize, forwarded: impl Fn(usize) -> String) -> Vec<u16> {
    (0..count)
        .map(|n| post(edge, INGRESS, &forwarded(n), "/api/auth/sign-in", sign_in("x")))
        .collect()
}

#[test]
fn an_address_with_a_port_is_its_address_and_garbage_from_the_ingress_is_the_ingress() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(&dir, &[("AUTH_SIGN_IN_PER_MINUTE", "2")]);
    // Some proxies write the client's port too: 203.0.113.7:4711 and :4712 are one client.
    let v4 = failed_sign_ins(&edge, 3, |n| format!("203.0.113.7:{}", 4711 + n));
    assert_eq!(v4, [401, 401, 429]);
    let v6 = failed_sign_ins(&edge, 3, |n| format!("[2001:db8::7]:{}", 4711 + n));
    assert_eq!(v6, [401, 401, 429]);
    // "unknown" is no fresh bucket per request: it counts as the ingress itself.
    let unknown = failed_sign_ins(&edge, 3, |n| format!("10.9.9.{n}, unknown"));
    assert_eq!(unknown, [401, 401, 429]);
    assert_eq!(
        failed_sign_ins(&edge, 1, |_| "203.0.113.8".into()),
        [401],
        "another client is not locked out"
    );
}

#[test]
fn the_frontend_shows_no_metrics_and_no_internal_address_to_the_public() {
    let dir = tempfile::tempdir().unwrap();
    let edge = edge(&dir, &[]);
    let http = reqwest::blocking::Client::new();
    let public = format!("http://127.0.0.1:{}", edge.frontend.port);
    let answer = http.get(format!("{public}/metrics")).send().unwrap();
    assert_eq!(answer.status(), 404);
    let metrics = http
        .get(format!("http://127.0.0.1:{}/metrics", edge.metrics_port))
        .send()
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().unwrap().contains("http_requests_total"));

    // With the backend gone, /readyz says what is missing, not where it lives.
    let backend_port = edge._backend.port;
    let Edge { _backend, frontend, .. } = edge;
    drop(_backend);
    let answer = http
        .get(format!("http://127.0.0.1:{}/readyz", frontend.port))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 503);
    let body = answer.text().unwrap();
    assert!(body.contains("the backend"), "{body}");
    assert!(
        !body.contains(&backend_port.to_string()) && !body.contains("127.0.0.1"),
        "{body}"
    );
}
