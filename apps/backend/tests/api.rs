//! The backend's HTTP API over real sockets, on SQLite and on PostgreSQL.

mod common;

use common::{TestServer, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::json;
use todo_core::both_backends;

both_backends! {
    async fn tasks_carry_priority_tags_and_a_due_date_through_create_put_and_patch(db) {
        let server = TestServer::start(&db).await;
        let s = server.sign_up("fields@example.com").await;
        let t = Some(s.token.as_str());
        let (status, rent) = server.call(Method::POST, &s.tasks(), t, Some(json!({
            "title": "Pay rent", "priority": "high", "tags": ["Home", "money", "home"], "due_at": "2030-03-01T09:00:00+01:00"
        }))).await;
        assert_eq!(status, StatusCode::CREATED, "{rent}");
        assert_eq!((&rent["priority"], &rent["tags"], &rent["due_at"]), (&json!("high"), &json!(["home", "money"]), &json!("2030-03-01T08:00:00Z")));
        let plain = server.create_task(&s, "plain").await;
        assert_eq!((&plain["priority"], &plain["tags"], &plain["due_at"]), (&json!("medium"), &json!([]), &json!(null)));

        // PATCH changes what it is given and nothing else; PUT takes the same fields.
        let (status, patched) = server.call(Method::PATCH, &s.task(&rent["id"]), t, Some(json!({"priority": "low"}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!((&patched["priority"], &patched["tags"], &patched["due_at"], &patched["title"]), (&json!("low"), &rent["tags"], &rent["due_at"], &rent["title"]));
        let (_, put) = server.call(Method::PUT, &s.task(&rent["id"]), t, Some(json!({"tags": [], "due_at": null}))).await;
        assert_eq!((&put["priority"], &put["tags"], &put["due_at"]), (&json!("low"), &json!([]), &json!(null)));

        // Bad values: 422 naming the field, and nothing changed.
        for (body, field) in [
            (json!({"title": "x", "priority": "urgent"}), None),
            (json!({"title": "x", "priority": null}), None),
            (json!({"title": "x", "tags": ["two words"]}), Some("tags")),
            (json!({"title": "x", "tags": ["#work"]}), Some("tags")),
            (json!({"title": "x", "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}), Some("tags")),
            (json!({"title": "x", "tags": "work"}), None),
            (json!({"title": "x", "due_at": "tomorrow"}), Some("due_at")),
            (json!({"title": "x", "due_at": "2030-03-01"}), Some("due_at")),
        ] {
            let (status, error) = server.call(Method::POST, &s.tasks(), t, Some(body.clone())).await;
            // A value of the wrong type is refused by the JSON reader (400 or 422), a broken rule
            // by the domain (422, the field named).
            assert!(status == StatusCode::UNPROCESSABLE_ENTITY || (field.is_none() && status == StatusCode::BAD_REQUEST), "{body}: {error}");
            if let Some(field) = field {
                assert_eq!(error["error"]["field"], field, "{body}: {error}");
            }
            let (status, _) = server.call(Method::PATCH, &s.task(&plain["id"]), t, Some(body.as_object().unwrap().iter().filter(|(k, _)| *k != "title").map(|(k, v)| (k.clone(), v.clone())).collect())).await;
            assert!(status.is_client_error(), "PATCH {body}");
        }
        let (status, error) = server.call(Method::PATCH, &s.task(&plain["id"]), t, Some(json!({}))).await;
        assert_error(status, &error, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, error) = server.call(Method::PATCH, &format!("{}/999999", s.tasks()), t, Some(json!({"priority": "high"}))).await;
        assert_error(status, &error, StatusCode::NOT_FOUND, "not_found");
        let (_, list) = server.call(Method::GET, &s.tasks(), t, None).await;
        assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
        assert_eq!(list[1], plain);
    }

    async fn listings_filter_sort_and_page_with_a_total_and_a_cursor(db) {
        let server = TestServer::start(&db).await;
        let s = server.sign_up("filters@example.com").await;
        let t = Some(s.token.as_str());
        for (title, priority, tags, due) in [
            ("Pay rent", "high", json!(["home"]), json!("2030-03-01T09:00:00Z")),
            ("Buy milk", "low", json!(["groceries"]), json!(null)),
            ("Finish slides", "high", json!(["work"]), json!("2030-03-05T17:00:00Z")),
            ("Call the dentist", "medium", json!(["health"]), json!("2000-01-01T00:00:00Z")),
        ] {
            let (status, _) = server.call(Method::POST, &s.tasks(), t, Some(json!({"title": title, "priority": priority, "tags": tags, "due_at": due}))).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let titles = |list: &serde_json::Value| list.as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        for (query, expected) in [
            ("q=MILK", vec!["Buy milk"]),
            ("priority=high", vec!["Pay rent", "Finish slides"]),
            ("tag=work", vec!["Finish slides"]),
            ("overdue=true", vec!["Call the dentist"]),
            ("due_before=2030-03-02T00:00:00Z", vec!["Pay rent", "Call the dentist"]),
            ("due_after=2030-03-02T00:00:00%2B00:00", vec!["Finish slides"]),
            ("sort=due", vec!["Call the dentist", "Pay rent", "Finish slides", "Buy milk"]),
            ("sort=priority", vec!["Pay rent", "Finish slides", "Call the dentist", "Buy milk"]),
            ("sort=title&order=desc", vec!["Pay rent", "Finish slides", "Call the dentist", "Buy milk"]),
            ("status=pending&priority=high&sort=due&order=desc", vec!["Finish slides", "Pay rent"]),
        ] {
            let response = server.http.get(server.url(&format!("{}?{query}", s.tasks()))).bearer_auth(&s.token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{query}");
            assert_eq!(response.headers()["x-total-count"], expected.len().to_string().as_str(), "{query}");
            assert_eq!(titles(&response.json().await.unwrap()), expected, "{query}");
        }

        // Pages: the cursor in X-Next-Cursor (and the Link) leads through every task once.
        let mut seen = Vec::new();
        let mut next = Some(server.url(&format!("{}?sort=priority&limit=3", s.tasks())));
        while let Some(url) = next.take() {
            let response = server.http.get(&url).bearer_auth(&s.token).send().await.unwrap();
            assert_eq!(response.headers()["x-total-count"], "4");
            if let Some(link) = response.headers().get("link") {
                let link = link.to_str().unwrap();
                let target = link.strip_prefix('<').and_then(|l| l.split_once(">; rel=\"next\"")).unwrap().0;
                assert!(target.contains("sort=priority") && target.contains("cursor="), "{link}");
                assert!(target.ends_with(response.headers()["x-next-cursor"].to_str().unwrap()), "{link}");
                next = Some(server.url(target));
            }
            seen.extend(titles(&response.json().await.unwrap()));
        }
        assert_eq!(seen, ["Pay rent", "Finish slides", "Call the dentist", "Buy milk"]);

        // The original call is unpaged and unchanged: every task, oldest first, an array.
        let (_, all) = server.call(Method::GET, &s.tasks(), t, None).await;
        assert_eq!(titles(&all), ["Pay rent", "Buy milk", "Finish slides", "Call the dentist"]);

        // Bad values answer 422 naming the parameter.
        for (query, field) in [
            ("priority=urgent", "priority"), ("tag=a%20b", "tag"), ("due_before=friday", "due_before"),
            ("overdue=maybe", "overdue"), ("sort=size", "sort"), ("order=sideways", "order"), ("limit=0", "limit"),
            ("limit=101", "limit"), ("cursor=nonsense", "cursor"), ("q=a%00b", "q"), ("colour=red", "query"),
            ("limit=1&limit=2", "limit"),
        ] {
            let (status, body) = server.call(Method::GET, &format!("{}?{query}", s.tasks()), t, None).await;
            assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["error"]["field"], field, "{query}: {body}");
        }
    }

    async fn accounts_sign_up_sign_in_and_me(db) {
        let server = TestServer::start(&db).await;
        let session = server.sign_up("Ada@Example.com").await;

        let (status, body) = server.call(Method::POST, "/api/auth/sign-in", None,
            Some(json!({"email": "ada@example.COM", "password": "plum kettle orbit"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["id"], session.user_id.as_str());
        assert_eq!(body["user"]["email"], "ada@example.com");
        assert!(body["user"].get("password_hash").is_none(), "{body}");

        let (status, me) = server.call(Method::GET, "/api/auth/me", Some(&session.token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!((me["id"].as_str(), me["name"].as_str()), (Some(session.user_id.as_str()), Some("Tester")));

        let (status, body) = server.call(Method::POST, "/api/auth/sign-in", None,
            Some(json!({"email": "ada@example.com", "password": "wrong-password"}))).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, unknown) = server.call(Method::POST, "/api/auth/sign-in", None,
            Some(json!({"email": "nobody@example.com", "password": "plum kettle orbit"}))).await;
        assert_error(status, &unknown, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(body, unknown, "responses must not reveal which emails exist");
    }

    async fn sign_up_rejects_bad_input(db) {
        let server = TestServer::start(&db).await;
        server.sign_up("taken@example.com").await;
        let cases = [
            (json!({"email": "not-an-email", "password": "plum kettle orbit", "name": "A"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            (json!({"email": "a@example.com", "password": "short", "name": "A"}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            (json!({"email": "a@example.com", "password": "plum kettle orbit", "name": "  "}), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            (json!({"email": "a@example.com", "password": "plum kettle orbit"}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            (json!({"email": "a@example.com", "password": "plum kettle orbit", "name": "A", "admin": true}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            (json!({"email": "TAKEN@example.com", "password": "plum kettle orbit", "name": "A"}), StatusCode::CONFLICT, "conflict"),
        ];
        for (body, status, code) in cases {
            let (got, response) = server.call(Method::POST, "/api/auth/sign-up", None, Some(body.clone())).await;
            assert_error(got, &response, status, code);
        }
        let (status, body) = server.call(Method::POST, "/api/auth/sign-up", None, Some(json!({"email": "x", "password": "short", "name": "A"}))).await;
        assert_eq!(body["error"]["field"], "email", "{status} {body}");
    }

    async fn tasks_full_lifecycle(db) {
        let server = TestServer::start(&db).await;
        let s = server.sign_up("life@example.com").await;
        let t = Some(s.token.as_str());

        let (status, milk) = server.call(Method::POST, &s.tasks(), t, Some(json!({"title": "  Buy milk  ", "description": "2 litres"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{milk}");
        assert_eq!((milk["title"].as_str(), milk["description"].as_str(), milk["completed"].as_bool()), (Some("Buy milk"), Some("2 litres"), Some(false)));
        assert_eq!(milk["user_id"], s.user_id.as_str());
        let bills = server.create_task(&s, "Pay bills").await;

        let (status, fetched) = server.call(Method::GET, &s.task(&milk["id"]), t, None).await;
        assert_eq!((status, &fetched), (StatusCode::OK, &milk));

        let (status, toggled) = server.call(Method::PATCH, &format!("{}/complete", s.task(&milk["id"])), t, None).await;
        assert_eq!((status, toggled["completed"].as_bool()), (StatusCode::OK, Some(true)));

        for (filter, expected) in [("", vec![&milk["id"], &bills["id"]]), ("?status=all", vec![&milk["id"], &bills["id"]]),
                                   ("?status=completed", vec![&milk["id"]]), ("?status=pending", vec![&bills["id"]])] {
            let (status, list) = server.call(Method::GET, &format!("{}{filter}", s.tasks()), t, None).await;
            assert_eq!(status, StatusCode::OK);
            let ids: Vec<_> = list.as_array().unwrap().iter().map(|task| &task["id"]).collect();
            assert_eq!(ids, expected, "filter {filter:?}");
        }

        let (status, updated) = server.call(Method::PUT, &s.task(&milk["id"]), t,
            Some(json!({"title": "Buy oat milk", "description": "", "completed": false}))).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!((updated["title"].as_str(), updated["description"].is_null(), updated["completed"].as_bool()), (Some("Buy oat milk"), true, Some(false)));

        let (status, again) = server.call(Method::PATCH, &format!("{}/complete", s.task(&milk["id"])), t, None).await;
        assert_eq!((status, again["completed"].as_bool()), (StatusCode::OK, Some(true)));

        let (status, body) = server.call(Method::DELETE, &s.task(&milk["id"]), t, None).await;
        assert_eq!((status, body), (StatusCode::NO_CONTENT, serde_json::Value::Null));
        let (status, body) = server.call(Method::GET, &s.task(&milk["id"]), t, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = server.call(Method::DELETE, &s.task(&milk["id"]), t, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    async fn task_input_is_validated(db) {
        let server = TestServer::start(&db).await;
        let s = server.sign_up("valid@example.com").await;
        let t = Some(s.token.as_str());
        let task = server.create_task(&s, "keep me").await;
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let cases = [
            (Method::POST, s.tasks(), json!({"title": ""}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"title": "   "}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"title": "x".repeat(201)}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"title": "ok", "description": "d".repeat(1001)}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"description": "no title"}), unprocessable, "invalid_body"),
            (Method::POST, s.tasks(), json!({"title": 5}), unprocessable, "invalid_body"),
            (Method::POST, s.tasks(), json!({"title": "ok", "completed": true}), unprocessable, "invalid_body"),
            (Method::PUT, s.task(&task["id"]), json!({}), unprocessable, "validation_failed"),
            (Method::PUT, s.task(&task["id"]), json!({"title": ""}), unprocessable, "validation_failed"),
            (Method::PUT, s.task(&task["id"]), json!({"owner": "me"}), unprocessable, "invalid_body"),
            (Method::PUT, format!("{}/tasks/abc", s.tasks().trim_end_matches("/tasks")), json!({"title": "x"}), StatusCode::BAD_REQUEST, "invalid_path"),
            (Method::PUT, s.task(&json!(999_999)), json!({"title": "x"}), StatusCode::NOT_FOUND, "not_found"),
            // What the OpenAPI document forbids is refused: a null title or completion, NUL
            // (PostgreSQL's text cannot hold it), over 200 characters counted before trimming.
            (Method::PUT, s.task(&task["id"]), json!({"title": null}), unprocessable, "invalid_body"),
            (Method::PUT, s.task(&task["id"]), json!({"completed": null}), unprocessable, "invalid_body"),
            (Method::POST, s.tasks(), json!({"title": "milk\u{0}"}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"title": "ok", "description": "a\u{0}b"}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"title": format!(" {} ", "x".repeat(199))}), unprocessable, "validation_failed"),
            (Method::POST, s.tasks(), json!({"title": "\u{feff}\u{1c}"}), unprocessable, "validation_failed"),
        ];
        for (method, path, body, status, code) in cases {
            let (got, response) = server.call(method.clone(), &path, t, Some(body.clone())).await;
            assert_eq!(got, status, "{method} {path} {body} -> {response}");
            assert_eq!(response["error"]["code"], code, "{method} {path} {body} -> {response}");
        }
        // Exactly 200 characters (of two bytes each) is accepted.
        let (status, _) = server.call(Method::POST, &s.tasks(), t, Some(json!({"title": "é".repeat(200)}))).await;
        assert_eq!(status, StatusCode::CREATED);

        let raw = |body: &'static str, content_type: Option<&'static str>| {
            let mut request = server.http.post(server.url(&s.tasks())).bearer_auth(&s.token).body(body);
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            request.send()
        };
        let response = raw("{\"title\": ", Some("application/json")).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "malformed_json");
        let response = raw("{\"title\": \"x\"}", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

        let huge = json!({"title": "big", "description": "x".repeat(70 * 1024)});
        let (status, body) = server.call(Method::POST, &s.tasks(), t, Some(huge)).await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

        let (status, body) = server.call(Method::GET, &format!("{}?status=done", s.tasks()), t, None).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["error"]["field"], "status");

        // Nothing above created or changed anything else.
        let (_, list) = server.call(Method::GET, &s.tasks(), t, None).await;
        let titles: Vec<_> = list.as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().chars().count()).collect();
        assert_eq!(titles, vec![7, 200]);
    }

    async fn a_null_description_removes_it_and_a_nul_email_is_a_wrong_one(db) {
        let server = TestServer::start(&db).await;
        let s = server.sign_up("nulls@example.com").await;
        let t = Some(s.token.as_str());
        let (_, task) = server
            .call(Method::POST, &s.tasks(), t, Some(json!({"title": "call mum", "description": "Sunday"})))
            .await;
        let (status, changed) = server.call(Method::PUT, &s.task(&task["id"]), t, Some(json!({"description": null}))).await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!((changed["title"].as_str(), changed["description"].is_null()), (Some("call mum"), true));
        // No account's email holds NUL: signing in with one is a wrong email, not a database error.
        let (status, body) = server
            .call(Method::POST, "/api/auth/sign-in", None, Some(json!({"email": "a\u{0}@example.com", "password": "whatever it is"})))
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }

    async fn unicode_and_sql_looking_text_is_stored_verbatim(db) {
        let server = TestServer::start(&db).await;
        let s = server.sign_up("text@example.com").await;
        for title in ["買い物 🛒 — über café", "'; DROP TABLE tasks; --", "\" OR \"1\"=\"1", "<script>alert(1)</script>", "Robert'); DELETE FROM users;--"] {
            let created = server.create_task(&s, title).await;
            let (_, fetched) = server.call(Method::GET, &s.task(&created["id"]), Some(&s.token), None).await;
            assert_eq!(fetched["title"], title);
        }
        let (_, list) = server.call(Method::GET, &s.tasks(), Some(&s.token), None).await;
        assert_eq!(list.as_array().unwrap().len(), 5);
    }

    async fn users_never_see_or_change_each_others_tasks(db) {
        let server = TestServer::start(&db).await;
        let alice = server.sign_up("alice@example.com").await;
        let bob = server.sign_up("bob@example.com").await;
        let secret = server.create_task(&alice, "alice's secret").await;
        let b = Some(bob.token.as_str());

        // Bob naming Alice's task id under his own user id: it does not exist for him.
        let own_path = bob.task(&secret["id"]);
        for (method, path, body) in [
            (Method::GET, own_path.clone(), None),
            (Method::PUT, own_path.clone(), Some(json!({"title": "pwned"}))),
            (Method::PATCH, format!("{own_path}/complete"), None),
            (Method::DELETE, own_path.clone(), None),
        ] {
            let (status, response) = server.call(method, &path, b, body).await;
            assert_error(status, &response, StatusCode::NOT_FOUND, "not_found");
            assert!(!response.to_string().contains("secret"), "{response}");
        }
        // Bob using Alice's user id in the path: forbidden, whatever the body.
        let alice_path = alice.task(&secret["id"]);
        for (method, path, body) in [
            (Method::GET, alice.tasks(), None),
            (Method::POST, alice.tasks(), Some(json!({"title": "planted"}))),
            (Method::POST, alice.tasks(), Some(json!({"bogus": "body"}))),
            (Method::GET, alice_path.clone(), None),
            (Method::PUT, alice_path.clone(), Some(json!({"title": "pwned"}))),
            (Method::PATCH, format!("{alice_path}/complete"), None),
            (Method::DELETE, alice_path.clone(), None),
        ] {
            let (status, response) = server.call(method, &path, b, body).await;
            assert_error(status, &response, StatusCode::FORBIDDEN, "forbidden");
        }
        let (_, bobs) = server.call(Method::GET, &bob.tasks(), b, None).await;
        assert_eq!(bobs, json!([]));
        let (_, alices) = server.call(Method::GET, &alice.tasks(), Some(&alice.token), None).await;
        assert_eq!(alices, json!([secret]));
    }
}

/// Create tasks, stop the server, start a new one on the same database: the tasks are there.
async fn restart_keeps_tasks(db: &todo_core::test_support::TestDb) {
    let server = TestServer::start(db).await;
    let s = server.sign_up("restart@example.com").await;
    let first = server.create_task(&s, "first").await;
    let second = server.create_task(&s, "second").await;
    server.stop().await;

    let server = TestServer::start(db).await;
    let (status, list) = server.call(Method::GET, &s.tasks(), Some(&s.token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([first, second]));
    let (status, _) = server
        .call(
            Method::POST,
            "/api/auth/sign-in",
            None,
            Some(json!({"email": "restart@example.com", "password": "plum kettle orbit"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn sqlite_file_tasks_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    restart_keeps_tasks(&todo_core::test_support::TestDb::sqlite_file(
        &dir.path().join("todo.db"),
    ))
    .await;
}

#[tokio::test]
async fn postgres_tasks_survive_a_restart() {
    if let Some(db) = todo_core::test_support::TestDb::postgres().await {
        restart_keeps_tasks(&db).await;
    }
}

#[tokio::test]
async fn the_secret_must_be_long_enough() {
    let err =
        todo_backend::BackendConfig::from_env(todo_core::config::Env::from_pairs([("BETTER_AUTH_SECRET", "short")]))
            .unwrap_err()
            .to_string();
    assert!(err.contains("BETTER_AUTH_SECRET") && err.contains("32"), "{err}");
}
