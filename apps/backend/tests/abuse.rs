//! Hostile clients over real sockets: password guessing and mass sign-up slowed per address,
//! argon2 floods refused rather than queued without end, and a deleted account's tokens refused.

mod common;

use common::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_core::both_backends;
use todo_core::test_support::TestDb;

/// Posts `body` to `path` as if through the frontend for a browser at `client` (the frontend
/// appends the address it saw to X-Forwarded-For; the server trusts that one hop).
async fn post_from(server: &TestServer, client: &str, path: &str, body: Value) -> (StatusCode, Option<u64>, Value) {
    let response = server
        .http
        .post(server.url(path))
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let retry_after = response.headers().get("retry-after").map(|v| {
        v.to_str()
            .unwrap()
            .parse::<u64>()
            .expect("Retry-After is a number of seconds")
    });
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}

fn sign_in(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

#[tokio::test]
async fn guessing_a_password_is_slowed_from_that_address_but_the_user_still_signs_in_from_theirs() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(
        &db,
        &[("AUTH_SIGN_IN_PER_MINUTE", "3"), ("TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    server.sign_up("ada@example.com").await;
    let attacker = "198.51.100.7";
    for guess in ["letmein1", "password1", "qwerty123"] {
        let (status, retry, _) = post_from(
            &server,
            attacker,
            "/api/auth/sign-in",
            sign_in("ada@example.com", guess),
        )
        .await;
        assert_eq!((status, retry), (StatusCode::UNAUTHORIZED, None));
    }
    // The fourth guess is refused before any password is checked, even the right one, in any case.
    let (status, retry, body) = post_from(
        &server,
        attacker,
        "/api/auth/sign-in",
        sign_in("ADA@example.com", "plum kettle orbit"),
    )
    .await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let retry = retry.expect("a 429 says when to retry");
    assert!(
        (1..=20).contains(&retry),
        "one attempt comes back every 20 s, not {retry}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{retry} s")),
        "{body}"
    );

    // Ada, at home, is not locked out by what happened elsewhere.
    let (status, _, body) = post_from(
        &server,
        "192.0.2.10",
        "/api/auth/sign-in",
        sign_in("ada@example.com", "plum kettle orbit"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A header the attacker writes itself is not trusted: the frontend's entry (the last) decides.
    let spoofed = format!("192.0.2.10, {attacker}");
    let (status, _, _) = post_from(
        &server,
        &spoofed,
        "/api/auth/sign-in",
        sign_in("ada@example.com", "plum kettle orbit"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_slowed_too() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(&db, &[("AUTH_SIGN_IN_PER_MINUTE", "2")]).await;
    // No proxy is trusted here, so X-Forwarded-For changes nothing: the TCP peer is the client.
    for n in 0..8 {
        let forged = format!("203.0.113.{n}");
        let (status, _, _) = post_from(
            &server,
            &forged,
            "/api/auth/sign-in",
            sign_in(&format!("user{n}@example.com"), "plum kettle orbit"),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "attempt {n} is within four times the per-account rate"
        );
    }
    let (status, retry, body) = post_from(
        &server,
        "203.0.113.99",
        "/api/auth/sign-in",
        sign_in("user9@example.com", "plum kettle orbit"),
    )
    .await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(retry.is_some_and(|s| (1..=8).contains(&s)), "{retry:?}");
}

#[tokio::test]
async fn sign_up_is_slowed_per_address_and_zero_turns_a_limit_off() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(&db, &[("AUTH_SIGN_UP_PER_HOUR", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let account =
        |n: u32| json!({"email": format!("new{n}@example.com"), "password": "plum kettle orbit", "name": "New"});
    for n in 0..2 {
        let (status, _, body) = post_from(&server, "198.51.100.20", "/api/auth/sign-up", account(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, retry, body) = post_from(&server, "198.51.100.20", "/api/auth/sign-up", account(2)).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(
        retry.is_some_and(|s| s > 60 && s <= 1800),
        "two an hour: one back in 30 minutes, not {retry:?}"
    );
    let (status, _, _) = post_from(&server, "192.0.2.20", "/api/auth/sign-up", account(2)).await;
    assert_eq!(status, StatusCode::CREATED, "another address signs up");

    let open = TestServer::start_with(&db, &[("AUTH_SIGN_IN_PER_MINUTE", "0"), ("AUTH_SIGN_UP_PER_HOUR", "0")]).await;
    for n in 10..35 {
        let (status, _, body) = post_from(&open, "198.51.100.20", "/api/auth/sign-up", account(n)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}

#[tokio::test]
async fn a_sign_in_flood_is_refused_at_once_past_the_argon2_queue_and_nothing_else_breaks() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(
        &db,
        &[
            ("AUTH_SIGN_IN_PER_MINUTE", "0"),
            ("PASSWORD_HASH_WORKERS", "1"),
            ("PASSWORD_HASH_QUEUE", "2"),
        ],
    )
    .await;
    let session = server.sign_up("flood@example.com").await;
    let attempts = (0..60).map(|n| {
        let server = &server;
        async move {
            post_from(
                server,
                "198.51.100.30",
                "/api/auth/sign-in",
                sign_in("flood@example.com", &format!("guess-{n}")),
            )
            .await
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let checked = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(busy.len() + checked, answers.len(), "only 401 or 503: {answers:?}");
    assert!(checked >= 3, "the worker and its queue were served: {checked}");
    assert!(
        !busy.is_empty(),
        "60 at once cannot all fit one worker and a queue of 2"
    );
    for (_, retry, body) in busy {
        assert_eq!(
            (body["error"]["code"].as_str(), *retry),
            (Some("busy"), Some(1)),
            "{body}"
        );
    }
    // The flood over, the user signs in and the API answers as before.
    let (status, _, body) = post_from(
        &server,
        "192.0.2.30",
        "/api/auth/sign-in",
        sign_in("flood@example.com", "plum kettle orbit"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = server
        .call(Method::GET, &session.tasks(), Some(&session.token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let metrics = server.metrics().await;
    assert!(metrics.contains("password_hashes_refused_total"), "{metrics}");
}

both_backends! {
    async fn a_deleted_accounts_token_stops_working_at_once(db) {
        let server = TestServer::start(&db).await;
        let gone = server.sign_up("gone@example.com").await;
        let stays = server.sign_up("stays@example.com").await;
        server.create_task(&gone, "secret plans").await;
        server.create_task(&stays, "buy milk").await;
        let (status, _) = server.call(Method::DELETE, "/api/auth/me", Some(&gone.token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        for (method, path) in [(Method::GET, gone.tasks()), (Method::GET, "/api/auth/me".to_string()), (Method::DELETE, "/api/auth/me".to_string())] {
            let (status, body) = server.call(method.clone(), &path, Some(&gone.token), None).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(body["error"]["message"].as_str().unwrap().contains("sign in again"), "{method} {path}: {body}");
        }
        let (status, body) = server.call(Method::POST, &gone.tasks(), Some(&gone.token), Some(json!({"title": "after"}))).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, _) = server.call(Method::POST, "/api/auth/sign-in", None, Some(sign_in("gone@example.com", "plum kettle orbit"))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // The other user is untouched, and the email can be registered afresh.
        let (status, tasks) = server.call(Method::GET, &stays.tasks(), Some(&stays.token), None).await;
        assert_eq!((status, tasks[0]["title"].as_str()), (StatusCode::OK, Some("buy milk")));
        let again = server.sign_up("gone@example.com").await;
        let (status, tasks) = server.call(Method::GET, &again.tasks(), Some(&again.token), None).await;
        assert_eq!((status, tasks.as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "nothing of the old account");
    }

    async fn an_account_holds_at_most_its_caps_and_deleting_makes_room(db) {
        let server = TestServer::start_with(&db, &[("MAX_TASKS_PER_USER", "3"), ("MAX_CONVERSATIONS_PER_USER", "1")]).await;
        let full = server.sign_up("full@example.com").await;
        let other = server.sign_up("other@example.com").await;
        let mut ids = Vec::new();
        for n in 0..3 {
            let (status, task) = server.call(Method::POST, &full.tasks(), Some(&full.token), Some(json!({"title": format!("t{n}")}))).await;
            assert_eq!(status, StatusCode::CREATED, "{task}");
            ids.push(task["id"].clone());
        }
        let (status, body) = server.call(Method::POST, &full.tasks(), Some(&full.token), Some(json!({"title": "one too many"}))).await;
        assert_error(status, &body, StatusCode::CONFLICT, "limit_reached");
        assert!(body["error"]["message"].as_str().unwrap().contains("3 tasks"), "{body}");
        let (status, _) = server.call(Method::POST, &other.tasks(), Some(&other.token), Some(json!({"title": "mine"}))).await;
        assert_eq!(status, StatusCode::CREATED, "the cap is per account");
        let (status, _) = server.call(Method::DELETE, &full.task(&ids[0]), Some(&full.token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = server.call(Method::POST, &full.tasks(), Some(&full.token), Some(json!({"title": "room again"}))).await;
        assert_eq!(status, StatusCode::CREATED);

        let chat = format!("/api/{}/chat", full.user_id);
        let (status, first) = server.call(Method::POST, &chat, Some(&full.token), Some(json!({"message": "hi"}))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "no agent here: {first}");
        let conversation = first["error"]["conversation_id"].clone();
        let (status, body) = server.call(Method::POST, &chat, Some(&full.token), Some(json!({"message": "a new one"}))).await;
        assert_error(status, &body, StatusCode::CONFLICT, "limit_reached");
        let (status, _) = server
            .call(Method::POST, &chat, Some(&full.token), Some(json!({"message": "go on", "conversation_id": conversation})))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "an existing conversation goes on");
    }
}

/// One user flooding writes or chats is slowed, the others are not; what is refused stores
/// nothing. (An outside probe made 3,000 tasks in 3.4 s and 40 conversations in 0.2 s.)
#[tokio::test]
async fn one_users_writes_and_chats_are_slowed_and_a_refused_message_stores_nothing() {
    let db = TestDb::sqlite_memory();
    let server = TestServer::start_with(&db, &[("WRITES_PER_MINUTE", "4"), ("CHATS_PER_MINUTE", "2")]).await;
    let flood = server.sign_up("flood@example.com").await;
    let calm = server.sign_up("calm@example.com").await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        let body = json!({"title": format!("task {n}")});
        statuses.push(
            server
                .call(Method::POST, &flood.tasks(), Some(&flood.token), Some(body))
                .await
                .0,
        );
    }
    assert_eq!(statuses[..4], [StatusCode::CREATED; 4]);
    let (status, body) = server
        .call(Method::DELETE, &flood.task(&json!(1)), Some(&flood.token), None)
        .await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let (status, listed) = server.call(Method::GET, &flood.tasks(), Some(&flood.token), None).await;
    assert_eq!(
        (status, listed.as_array().map(Vec::len)),
        (StatusCode::OK, Some(4)),
        "reads go on"
    );
    let (status, _) = server
        .call(
            Method::POST,
            &calm.tasks(),
            Some(&calm.token),
            Some(json!({"title": "mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "another user writes on");

    // No agent runs here, so an accepted chat is stored and answers 503; past the limit, 429.
    let chat = format!("/api/{}/chat", flood.user_id);
    for _ in 0..2 {
        let (status, body) = server
            .call(Method::POST, &chat, Some(&flood.token), Some(json!({"message": "hi"})))
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
    let response = server
        .http
        .post(server.url(&chat))
        .bearer_auth(&flood.token)
        .json(&json!({"message": "one more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let (_, conversations) = server
        .call(
            Method::GET,
            &format!("/api/{}/conversations", flood.user_id),
            Some(&flood.token),
            None,
        )
        .await;
    assert_eq!(
        conversations.as_array().map(Vec::len),
        Some(2),
        "the refused message started nothing"
    );
}
