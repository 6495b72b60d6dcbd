//! Every way a bearer token can be wrong answers 401, for our HS256 tokens and for EdDSA tokens
//! from an external Better Auth server (served here by a fake that rotates keys).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use chrono::Utc;
use common::{SECRET, Session, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_core::test_support::TestDb;
use tokio::sync::RwLock;

fn claims(sub: &str, iss: &str, aud: &str, exp_offset: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + exp_offset})
}

fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn every_task_route_requires_a_token() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start(&db).await;
    let s = server.sign_up("route@example.com").await;
    let task = server.create_task(&s, "x").await;
    for (method, path) in [
        (Method::GET, s.tasks()),
        (Method::POST, s.tasks()),
        (Method::GET, s.task(&task["id"])),
        (Method::PUT, s.task(&task["id"])),
        (Method::DELETE, s.task(&task["id"])),
        (Method::PATCH, format!("{}/complete", s.task(&task["id"]))),
        (Method::GET, "/api/auth/me".to_string()),
    ] {
        let response = server
            .http
            .request(method.clone(), server.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn bad_tokens_answer_401() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start(&db).await;
    let s = server.sign_up("tokens@example.com").await;
    let uid = s.user_id.as_str();
    let valid = hs256(&claims(uid, "todo-chatbot", "todo-chatbot", 300), SECRET);
    let (status, _) = server.call(Method::GET, &s.tasks(), Some(&valid), None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a hand-made valid token works, so the cases below fail for their reason"
    );

    let mut parts: Vec<String> = valid.split('.').map(str::to_string).collect();
    parts[1] = b64(claims("someone-else", "todo-chatbot", "todo-chatbot", 300)
        .to_string()
        .as_bytes());
    let tampered = parts.join(".");
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(uid, "todo-chatbot", "todo-chatbot", 300).to_string().as_bytes())
    );
    let cases = [
        ("garbage", "not-a-jwt".to_string()),
        (
            "expired",
            hs256(&claims(uid, "todo-chatbot", "todo-chatbot", -3600), SECRET),
        ),
        ("tampered payload", tampered),
        (
            "wrong audience",
            hs256(&claims(uid, "todo-chatbot", "another-app", 300), SECRET),
        ),
        ("wrong issuer", hs256(&claims(uid, "evil", "todo-chatbot", 300), SECRET)),
        (
            "wrong secret",
            hs256(
                &claims(uid, "todo-chatbot", "todo-chatbot", 300),
                "another-secret-another-secret-0000",
            ),
        ),
        ("alg none", alg_none),
        (
            "no subject",
            hs256(
                &json!({"iss": "todo-chatbot", "aud": "todo-chatbot", "exp": Utc::now().timestamp() + 300}),
                SECRET,
            ),
        ),
        (
            "not valid for another hour (nbf)",
            hs256(
                &json!({"sub": uid, "iss": "todo-chatbot", "aud": "todo-chatbot",
                    "nbf": Utc::now().timestamp() + 3600, "exp": Utc::now().timestamp() + 7200}),
                SECRET,
            ),
        ),
        (
            "EdDSA without JWKS",
            eddsa(&claims(uid, "todo-chatbot", "todo-chatbot", 300), "k1", KEY_1),
        ),
    ];
    for (name, token) in cases {
        let (status, body) = server.call(Method::GET, &s.tasks(), Some(&token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{name}");
    }
    let expired = hs256(&claims(uid, "todo-chatbot", "todo-chatbot", -3600), SECRET);
    let (_, body) = server.call(Method::GET, &s.tasks(), Some(&expired), None).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"), "{body}");

    let response = server
        .http
        .get(server.url(&s.tasks()))
        .header("authorization", format!("Basic {}", s.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

// Ed25519 test keys (PKCS#8 DER) and their public halves, as a Better Auth JWKS would publish them.
const KEY_1: &str = "MC4CAQAwBQYDK2VwBCIEIGov2Mi26XWhD/2zMOWLb4L2uLTR3vW+N167umDUV9Z1";
const PUB_1: &str = "TvuyW_sfjnoD6Pnj-hW_RQ_A3Pb3Y6FJTjO76QvkeF8";
const KEY_2: &str = "MC4CAQAwBQYDK2VwBCIEIAs4Zlwg/bcrH4WQZ4ka/g5MN88O+l/dBstBwjrOts+e";
const PUB_2: &str = "AwnnEpXaHwmuocosVi_vZ2oIA4OlQVZ6hWwN3ZTGc9E";

fn eddsa(claims: &Value, kid: &str, key_b64: &str) -> String {
    let der = base64::engine::general_purpose::STANDARD.decode(key_b64).unwrap();
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
}

/// A stand-in for Better Auth's `/api/auth/jwks`, counting fetches; keys can be rotated.
struct FakeAuthServer {
    base: String,
    keys: Arc<RwLock<Vec<(String, String)>>>,
    fetches: Arc<AtomicUsize>,
}

impl FakeAuthServer {
    async fn start(keys: Vec<(String, String)>) -> Self {
        let keys = Arc::new(RwLock::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/api/auth/jwks",
            axum::routing::get(move || {
                let (keys, fetches) = (k.clone(), f.clone());
                async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let keys: Vec<Value> = keys
                        .read()
                        .await
                        .iter()
                        .map(|(kid, x)| json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}))
                        .collect();
                    axum::Json(json!({"keys": keys}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeAuthServer { base, keys, fetches }
    }
}

#[tokio::test]
async fn better_auth_tokens_are_verified_against_its_jwks_and_keys_rotate() {
    let auth = FakeAuthServer::start(vec![("k1".into(), PUB_1.to_string())]).await;
    let jwks_url = format!("{}/api/auth/jwks", auth.base);
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(&db, &[("AUTH_JWKS_URL", &jwks_url), ("AUTH_JWKS_REFETCH_SECS", "0")]).await;
    let user = Session {
        token: eddsa(&claims("ba-user-1", &auth.base, &auth.base, 900), "k1", KEY_1),
        user_id: "ba-user-1".into(),
    };

    let (status, task) = server
        .call(
            Method::POST,
            &user.tasks(),
            Some(&user.token),
            Some(json!({"title": "from Next.js"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let (status, me) = server.call(Method::GET, "/api/auth/me", Some(&user.token), None).await;
    assert_eq!((status, me["id"].as_str()), (StatusCode::OK, Some("ba-user-1")));
    assert_eq!(auth.fetches.load(Ordering::SeqCst), 1, "keys are cached");

    // The auth server rotates to a new key: an unknown kid triggers a refetch.
    auth.keys.write().await.push(("k2".into(), PUB_2.to_string()));
    let rotated = eddsa(&claims("ba-user-1", &auth.base, &auth.base, 900), "k2", KEY_2);
    let (status, list) = server.call(Method::GET, &user.tasks(), Some(&rotated), None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([task])));
    assert_eq!(auth.fetches.load(Ordering::SeqCst), 2);

    for (name, token) in [
        (
            "signed by another key",
            eddsa(&claims("ba-user-1", &auth.base, &auth.base, 900), "k1", KEY_2),
        ),
        (
            "expired",
            eddsa(&claims("ba-user-1", &auth.base, &auth.base, -900), "k1", KEY_1),
        ),
        (
            "wrong audience",
            eddsa(&claims("ba-user-1", &auth.base, "https://elsewhere", 900), "k1", KEY_1),
        ),
        (
            "unknown kid",
            eddsa(&claims("ba-user-1", &auth.base, &auth.base, 900), "k9", KEY_1),
        ),
    ] {
        let (status, body) = server.call(Method::GET, &user.tasks(), Some(&token), None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthorized")),
            "{name}: {body}"
        );
    }
    // Another Better Auth user cannot reach this one's tasks.
    let other = eddsa(&claims("ba-user-2", &auth.base, &auth.base, 900), "k1", KEY_1);
    let (status, _) = server.call(Method::GET, &user.tasks(), Some(&other), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unknown_kids_cannot_make_us_hammer_the_auth_server() {
    let auth = FakeAuthServer::start(vec![("k1".into(), PUB_1.to_string())]).await;
    let jwks_url = format!("{}/api/auth/jwks", auth.base);
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(&db, &[("AUTH_JWKS_URL", &jwks_url), ("AUTH_JWKS_REFETCH_SECS", "3600")]).await;
    for i in 0..5 {
        let forged = eddsa(&claims("x", &auth.base, &auth.base, 900), &format!("forged-{i}"), KEY_1);
        let (status, _) = server.call(Method::GET, "/api/x/tasks", Some(&forged), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(auth.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn signing_out_ends_that_token_at_once_and_renewal_gives_a_fresh_one() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start(&db).await;
    let first = server.sign_up("leaving@example.com").await;
    let (status, renewed) = server
        .call(Method::POST, "/api/auth/renew", Some(&first.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let second = Session {
        token: renewed["token"].as_str().unwrap().to_string(),
        user_id: renewed["user"]["id"].as_str().unwrap().to_string(),
    };
    assert_ne!(second.token, first.token);
    assert_eq!(second.user_id, first.user_id);

    let (status, _) = server
        .call(Method::POST, "/api/auth/sign-out", Some(&first.token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.call(Method::GET, &first.tasks(), Some(&first.token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("signed out"),
        "{body}"
    );
    let (status, _) = server
        .call(Method::POST, "/api/auth/renew", Some(&first.token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a signed-out token cannot be renewed");
    let (status, _) = server
        .call(Method::GET, &second.tasks(), Some(&second.token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the other session goes on");

    // Signing in again in the same second works: sign-out takes back one token, not a time.
    let (status, again) = server
        .call(
            Method::POST,
            "/api/auth/sign-in",
            None,
            Some(json!({"email": "leaving@example.com", "password": "plum kettle orbit"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (status, _) = server
        .call(
            Method::GET,
            &first.tasks(),
            Some(again["token"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn with_an_external_issuer_local_accounts_are_off_unless_asked_and_subjects_stay_apart() {
    let auth = FakeAuthServer::start(vec![("k1".into(), PUB_1.to_string())]).await;
    let jwks_url = format!("{}/api/auth/jwks", auth.base);
    let db = TestDb::sqlite_memory();
    let external_only = TestServer::start_with(&db, &[("AUTH_JWKS_URL", &jwks_url)]).await;
    let (status, body) = external_only
        .call(
            Method::POST,
            "/api/auth/sign-up",
            None,
            Some(json!({"email": "local@example.com", "password": "plum kettle orbit", "name": "L"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("local_accounts_off"))
    );
    let ours = hs256(&claims("local-1", "todo-chatbot", "todo-chatbot", 300), SECRET);
    let (status, _) = external_only
        .call(Method::GET, "/api/local-1/tasks", Some(&ours), None)
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no HS256 token is accepted with local accounts off"
    );

    // Both kinds on, by choice: an external token may not name a local account.
    let both = TestServer::start_with(&db, &[("AUTH_JWKS_URL", &jwks_url), ("AUTH_LOCAL_ACCOUNTS", "true")]).await;
    let local = both.sign_up("local@example.com").await;
    let (status, _) = both
        .call(
            Method::POST,
            &local.tasks(),
            Some(&local.token),
            Some(json!({"title": "private"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let impostor = eddsa(&claims(&local.user_id, &auth.base, &auth.base, 900), "k1", KEY_1);
    let (status, body) = both.call(Method::GET, &local.tasks(), Some(&impostor), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an external subject equal to a local id: {body}"
    );
    let external = eddsa(&claims("ba-user-9", &auth.base, &auth.base, 900), "k1", KEY_1);
    let (status, _) = both
        .call(Method::GET, "/api/ba-user-9/tasks", Some(&external), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the issuer's own users still work");
}
