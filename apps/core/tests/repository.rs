//! The data layer against real engines: every test runs on SQLite and on PostgreSQL.

use chrono::Utc;
use todo_core::both_backends;
use todo_core::db::{Db, StoreError};
use todo_core::domain::{NewTask, StatusFilter, TaskChanges, User};
use todo_core::test_support::TestDb;

async fn open(test_db: &TestDb) -> Db {
    let db = Db::connect_lazy(&test_db.options()).expect("valid url");
    db.migrate().await.expect("migrations apply");
    db
}

fn new_task(title: &str) -> NewTask {
    NewTask::parse(title, None).expect("valid title")
}

fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: email.into(),
        name: "Ada".into(),
        password_hash: "$argon2id$…".into(),
        created_at: Utc::now(),
    }
}

both_backends! {
    async fn tasks_round_trip_through_every_operation(test_db) {
        let db = open(&test_db).await;
        let milk = db.create_task("u1", &NewTask::parse("Buy milk", Some("2 litres")).unwrap()).await.unwrap();
        let bills = db.create_task("u1", &new_task("Pay bills")).await.unwrap();
        assert_eq!((milk.title.as_str(), milk.description.as_deref(), milk.completed), ("Buy milk", Some("2 litres"), false));
        assert!(bills.id > milk.id);

        let done = db.toggle_task("u1", milk.id).await.unwrap();
        assert!(done.completed);
        assert!(done.updated_at >= milk.updated_at);

        let ids = |tasks: Vec<todo_core::domain::Task>| tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(db.list_tasks("u1", StatusFilter::All).await.unwrap()), vec![milk.id, bills.id]);
        assert_eq!(ids(db.list_tasks("u1", StatusFilter::Completed).await.unwrap()), vec![milk.id]);
        assert_eq!(ids(db.list_tasks("u1", StatusFilter::Pending).await.unwrap()), vec![bills.id]);

        let changes = TaskChanges::parse(Some("Buy oat milk"), Some(""), Some(false)).unwrap();
        let updated = db.update_task("u1", milk.id, &changes).await.unwrap();
        assert_eq!((updated.title.as_str(), updated.description, updated.completed), ("Buy oat milk", None, false));

        let only_title = TaskChanges::parse(Some("Buy soy milk"), None, None).unwrap();
        let kept = db.update_task("u1", bills.id, &only_title).await.unwrap();
        assert_eq!(kept.description, None);
        assert_eq!(kept.title, "Buy soy milk");

        let deleted = db.delete_task("u1", milk.id).await.unwrap();
        assert_eq!(deleted.title, "Buy oat milk");
        assert!(matches!(db.get_task("u1", milk.id).await, Err(StoreError::NotFound)));
    }

    async fn one_user_can_never_reach_another_users_task(test_db) {
        let db = open(&test_db).await;
        let task = db.create_task("alice", &new_task("secret plan")).await.unwrap();
        let changes = TaskChanges::parse(Some("hijacked"), None, None).unwrap();
        assert!(matches!(db.get_task("bob", task.id).await, Err(StoreError::NotFound)));
        assert!(matches!(db.update_task("bob", task.id, &changes).await, Err(StoreError::NotFound)));
        assert!(matches!(db.toggle_task("bob", task.id).await, Err(StoreError::NotFound)));
        assert!(matches!(db.delete_task("bob", task.id).await, Err(StoreError::NotFound)));
        assert!(db.list_tasks("bob", StatusFilter::All).await.unwrap().is_empty());
        let untouched = db.get_task("alice", task.id).await.unwrap();
        assert_eq!((untouched.title.as_str(), untouched.completed), ("secret plan", false));
    }

    async fn text_is_stored_verbatim(test_db) {
        let db = open(&test_db).await;
        for title in ["Robert'); DROP TABLE tasks;--", "买牛奶 🥛 — café", "$1 OR 1=1", "\\x00 %s %n"] {
            let task = db.create_task("u1", &new_task(title)).await.unwrap();
            assert_eq!(db.get_task("u1", task.id).await.unwrap().title, title);
        }
        assert_eq!(db.list_tasks("u1", StatusFilter::All).await.unwrap().len(), 4);
    }

    async fn a_listing_returns_every_field_as_stored(test_db) {
        // SQLite lists through SQLite's own JSON (one row for the whole list), so text that JSON
        // must escape, absent descriptions, both states and timestamps must come back unchanged.
        let db = open(&test_db).await;
        let texts = [
            ("quote \" and backslash \\ and /slash", Some("tab\there\nnew line")),
            ("买牛奶 🥛 — café", None),
            ("\u{feff}\u{1f}zero\u{200d}width joiner, blank around\u{2028}", Some("\u{7f} control")),
            ("[1, {\"json\": \"lookalike\"}]", Some("null")),
        ];
        for (title, description) in texts {
            let task = db.create_task("u1", &NewTask::parse(title, description).unwrap()).await.unwrap();
            if title.starts_with('买') {
                db.toggle_task("u1", task.id).await.unwrap();
            }
        }
        db.create_task("someone else", &new_task("not listed")).await.unwrap();
        let listed = db.list_tasks("u1", StatusFilter::All).await.unwrap();
        assert_eq!(listed.len(), texts.len());
        for task in &listed {
            assert_eq!(task, &db.get_task("u1", task.id).await.unwrap());
        }
        let completed = db.list_tasks("u1", StatusFilter::Completed).await.unwrap();
        assert_eq!(completed.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["买牛奶 🥛 — café"]);
        assert_eq!(db.list_tasks("u1", StatusFilter::Pending).await.unwrap().len(), texts.len() - 1);
        assert!(db.list_tasks("nobody", StatusFilter::Pending).await.unwrap().is_empty());
    }

    async fn deleted_ids_are_not_reused(test_db) {
        let db = open(&test_db).await;
        let first = db.create_task("u1", &new_task("one")).await.unwrap();
        db.delete_task("u1", first.id).await.unwrap();
        let second = db.create_task("u1", &new_task("two")).await.unwrap();
        assert!(second.id > first.id);
    }

    async fn emails_are_unique_whatever_their_case(test_db) {
        let db = open(&test_db).await;
        db.create_user(&user("u1", "ada@example.com")).await.unwrap();
        let err = db.create_user(&user("u2", "ADA@example.com")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        let found = db.find_user_by_email("Ada@Example.com").await.unwrap().unwrap();
        assert_eq!(found.id, "u1");
        assert_eq!(db.find_user("u1").await.unwrap().unwrap().email, "ada@example.com");
        assert!(db.find_user("nobody").await.unwrap().is_none());
    }

    async fn migrations_are_idempotent_and_safe_to_race(test_db) {
        let replicas: Vec<Db> = (0..4).map(|_| Db::connect_lazy(&test_db.options()).unwrap()).collect();
        let results = futures::future::join_all(replicas.iter().map(Db::migrate)).await;
        for result in results {
            result.expect("every replica starts");
        }
        replicas[0].migrate().await.expect("a second run is a no-op");
        replicas[1].create_task("u1", &new_task("works")).await.unwrap();
    }
}

#[tokio::test]
async fn a_file_database_keeps_its_data_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::sqlite_file(&dir.path().join("nested/todo.db"));
    let db = open(&test_db).await;
    let task = db.create_task("u1", &new_task("persist me")).await.unwrap();
    db.close().await;
    let reopened = open(&test_db).await;
    assert_eq!(reopened.get_task("u1", task.id).await.unwrap().title, "persist me");
}

#[tokio::test]
async fn an_unsupported_url_is_a_clear_error() {
    let err = Db::connect_lazy(&todo_core::db::DbOptions::new("mysql://localhost/x")).unwrap_err();
    assert!(err.to_string().contains("postgres://"), "{err}");
}

mod conversations {
    use super::*;

    both_backends! {
        async fn conversations_keep_messages_in_order_per_user(test_db) {
            use todo_core::domain::ChatRole;
            let db = open(&test_db).await;
            let first = db.create_conversation("u1", "add buy milk").await.unwrap();
            let second = db.create_conversation("u1", "second").await.unwrap();
            for i in 0..25 {
                let role = if i % 2 == 0 { ChatRole::User } else { ChatRole::Assistant };
                let calls = if i % 2 == 1 { vec![serde_json::json!({"name": "add_task", "is_error": false})] } else { vec![] };
                db.add_message("u1", first.id, role, &format!("message {i}"), &calls).await.unwrap();
            }
            let recent = db.recent_turns("u1", first.id, 20).await.unwrap();
            assert_eq!(recent.len(), 20);
            assert_eq!(recent[0].content, "message 5");
            assert_eq!(recent[19].content, "message 24");
            assert_eq!((recent[0].role, recent[1].role), (ChatRole::Assistant, ChatRole::User));
            assert!(db.recent_turns("u2", first.id, 20).await.unwrap().is_empty());
            let all = db.list_messages("u1", first.id).await.unwrap();
            assert_eq!(all.len(), 25);
            assert_eq!(all[5].tool_calls[0]["name"], "add_task");
            assert!(all[6].tool_calls.is_empty());

            // The conversation written to last comes first.
            let listed: Vec<i64> = db.list_conversations("u1").await.unwrap().iter().map(|c| c.id).collect();
            assert_eq!(listed, vec![first.id, second.id]);

            // Another user's conversation id behaves like a missing one.
            assert!(matches!(db.get_conversation("u2", first.id).await, Err(StoreError::NotFound)));
            assert!(matches!(
                db.add_message("u2", first.id, ChatRole::User, "hi", &[]).await,
                Err(StoreError::NotFound)
            ));
            assert!(db.list_messages("u2", first.id).await.unwrap().is_empty());
            assert!(db.list_conversations("u2").await.unwrap().is_empty());
        }
    }
}

mod organised_tasks {
    use chrono::{DateTime, Duration, TimeZone};
    use todo_core::domain::{Priority, SortOrder, Task, TaskPage, TaskQuery, TaskSort, validate_tags};

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 3, day, hour, 0, 0).unwrap()
    }

    fn task(title: &str, priority: Priority, tags: &[&str], due: Option<DateTime<Utc>>) -> NewTask {
        NewTask {
            priority,
            tags: validate_tags(&tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap(),
            due_at: due,
            ..NewTask::parse(title, None).unwrap()
        }
    }

    fn titles(page: &TaskPage) -> Vec<&str> {
        page.tasks.iter().map(|t| t.title.as_str()).collect()
    }

    /// Five tasks of u1 (and one of another user that no filter may return).
    async fn seeded(test_db: &TestDb) -> (Db, Vec<Task>) {
        let db = open(test_db).await;
        let mut made = Vec::new();
        for new in [
            task("Pay rent", Priority::High, &["home", "money"], Some(at(1, 9))),
            task("buy milk", Priority::Low, &["groceries"], None),
            task("Finish slides", Priority::High, &["work"], Some(at(5, 17))),
            task("Call the dentist", Priority::Medium, &["health"], Some(at(3, 12))),
            task("work_out 100% (gym)", Priority::Medium, &["work_out"], None),
        ] {
            made.push(db.create_task("u1", &new).await.unwrap());
        }
        db.create_task(
            "u2",
            &task("Pay rent too", Priority::High, &["home", "work"], Some(at(1, 9))),
        )
        .await
        .unwrap();
        (db, made)
    }

    both_backends! {
        async fn new_fields_round_trip_and_change_one_at_a_time(test_db) {
            let db = open(&test_db).await;
            let made = db.create_task("u1", &task("Pay rent", Priority::High, &["Home", "home", "money"], Some(at(1, 9)))).await.unwrap();
            assert_eq!((made.priority, made.tags.clone(), made.due_at), (Priority::High, vec!["home".to_string(), "money".into()], Some(at(1, 9))));
            assert_eq!(db.get_task("u1", made.id).await.unwrap(), made);
            let plain = db.create_task("u1", &new_task("plain")).await.unwrap();
            assert_eq!((plain.priority, plain.tags.len(), plain.due_at), (Priority::Medium, 0, None));

            let only_priority = TaskChanges { priority: Some(Priority::Low), ..TaskChanges::default() };
            let changed = db.update_task("u1", made.id, &only_priority).await.unwrap();
            assert_eq!((changed.priority, changed.tags.len(), changed.due_at, changed.title.as_str()), (Priority::Low, 2, Some(at(1, 9)), "Pay rent"));
            let clear = TaskChanges { tags: Some(vec![]), due_at: Some(None), ..TaskChanges::default() };
            let cleared = db.update_task("u1", made.id, &clear).await.unwrap();
            assert_eq!((cleared.priority, cleared.tags.len(), cleared.due_at), (Priority::Low, 0, None));
            let listed = db.list_tasks("u1", StatusFilter::All).await.unwrap();
            assert_eq!(listed[0], cleared);
        }

        async fn every_filter_returns_exactly_its_tasks(test_db) {
            let (db, made) = seeded(&test_db).await;
            db.toggle_task("u1", made[2].id).await.unwrap();
            let list = |query: TaskQuery| { let db = db.clone(); async move { db.query_tasks("u1", &query).await.unwrap() } };
            let q = |text: &str| TaskQuery { search: Some(text.into()), ..TaskQuery::default() };
            assert_eq!(titles(&list(q("PAY")).await), ["Pay rent"]);
            assert_eq!(titles(&list(q("100%")).await), ["work_out 100% (gym)"]);
            // `%` and `_` are literal, not patterns.
            assert!(list(q("1%0")).await.tasks.is_empty());
            assert_eq!(titles(&list(q("k_o")).await), ["work_out 100% (gym)"]);
            assert_eq!(titles(&list(TaskQuery { priority: Some(Priority::High), ..TaskQuery::default() }).await), ["Pay rent", "Finish slides"]);
            // A tag matches whole: `work` is not `work_out`.
            assert_eq!(titles(&list(TaskQuery { tag: Some("work".into()), ..TaskQuery::default() }).await), ["Finish slides"]);
            assert_eq!(titles(&list(TaskQuery { tag: Some("work_out".into()), ..TaskQuery::default() }).await), ["work_out 100% (gym)"]);
            // A page of one tag counts that tag's tasks of this user alone (u2 has a `home` task too).
            db.create_task("u1", &task("Fix the tap", Priority::Low, &["home"], None)).await.unwrap();
            let home = list(TaskQuery { tag: Some("home".into()), limit: Some(1), ..TaskQuery::default() }).await;
            assert_eq!((titles(&home), home.total), (vec!["Pay rent"], 2));
            let pending_home = TaskQuery { tag: Some("home".into()), status: StatusFilter::Pending, limit: Some(1), ..TaskQuery::default() };
            let pending_home = list(pending_home).await;
            assert_eq!((titles(&pending_home), pending_home.total), (vec!["Pay rent"], 2));
            let before = TaskQuery { due_before: Some(at(3, 12)), ..TaskQuery::default() };
            assert_eq!(titles(&list(before).await), ["Pay rent"]);
            let after = TaskQuery { due_after: Some(at(3, 12)), ..TaskQuery::default() };
            assert_eq!(titles(&list(after).await), ["Finish slides", "Call the dentist"]);
            // Overdue: pending and due before now (2030 is ahead; move two tasks into the past).
            for task in [&made[0], &made[2]] {
                let past = TaskChanges { due_at: Some(Some(Utc::now() - Duration::hours(1))), ..TaskChanges::default() };
                db.update_task("u1", task.id, &past).await.unwrap();
            }
            let overdue = TaskQuery { overdue: true, ..TaskQuery::default() };
            assert_eq!(titles(&list(overdue).await), ["Pay rent"], "a completed task is not overdue");
            let combined = TaskQuery { status: StatusFilter::Pending, priority: Some(Priority::Medium), search: Some("the".into()), ..TaskQuery::default() };
            assert_eq!(titles(&list(combined).await), ["Call the dentist"]);
        }

        async fn tag_and_search_filters_follow_edits_and_deletes(test_db) {
            let (db, made) = seeded(&test_db).await;
            let tagged = |tag: &str| TaskQuery { tag: Some(tag.into()), ..TaskQuery::default() };
            let found = |text: &str| TaskQuery { search: Some(text.into()), ..TaskQuery::default() };
            let list = |query: TaskQuery| { let db = db.clone(); async move { db.query_tasks("u1", &query).await.unwrap() } };
            // Retagging replaces the tags a filter finds; other changes leave them.
            let retag = TaskChanges { tags: Some(vec!["errands".into()]), ..TaskChanges::default() };
            db.update_task("u1", made[0].id, &retag).await.unwrap();
            assert!(list(tagged("money")).await.tasks.is_empty());
            assert_eq!(titles(&list(tagged("errands")).await), ["Pay rent"]);
            db.update_task("u1", made[0].id, &TaskChanges { priority: Some(Priority::Low), ..TaskChanges::default() }).await.unwrap();
            assert_eq!(titles(&list(tagged("errands")).await), ["Pay rent"]);
            // Search follows a new title and a new description, and forgets the old ones.
            let renamed = TaskChanges { title: Some("Pay the landlord".into()), description: Some(Some("Rent for MAY".into())), ..TaskChanges::default() };
            db.update_task("u1", made[0].id, &renamed).await.unwrap();
            assert_eq!(titles(&list(found("landlord")).await), ["Pay the landlord"]);
            assert_eq!(titles(&list(found("for may")).await), ["Pay the landlord"]);
            let described_only = TaskChanges { description: Some(None), ..TaskChanges::default() };
            db.update_task("u1", made[0].id, &described_only).await.unwrap();
            assert!(list(found("may")).await.tasks.is_empty());
            assert_eq!(titles(&list(found("landlord")).await), ["Pay the landlord"]);
            // A phrase does not run from the title on into the description.
            let both = db.create_task("u1", &NewTask::parse("ring", Some("bell")).unwrap()).await.unwrap();
            assert!(list(found("ringbell")).await.tasks.is_empty());
            assert!(list(found("ring bell")).await.tasks.is_empty());
            // A deleted task leaves its tags' listings and counts.
            db.delete_task("u1", made[3].id).await.unwrap();
            db.delete_task("u1", both.id).await.unwrap();
            let health = db.query_tasks("u1", &TaskQuery { limit: Some(1), ..tagged("health") }).await.unwrap();
            assert_eq!((health.tasks.len(), health.total), (0, 0));
            // The other user's tag rows were never u1's.
            assert_eq!(titles(&db.query_tasks("u2", &tagged("work")).await.unwrap()), ["Pay rent too"]);
            db.delete_account("u2").await.unwrap();
            assert!(db.query_tasks("u2", &tagged("work")).await.unwrap().tasks.is_empty());
        }

        async fn sorts_order_by_their_key_and_break_ties_by_age(test_db) {
            let (db, _) = seeded(&test_db).await;
            let sorted = |sort: TaskSort, order: Option<SortOrder>| { let db = db.clone(); async move {
                db.query_tasks("u1", &TaskQuery { sort, order, ..TaskQuery::default() }).await.unwrap()
            } };
            assert_eq!(titles(&sorted(TaskSort::Due, None).await), ["Pay rent", "Call the dentist", "Finish slides", "buy milk", "work_out 100% (gym)"]);
            assert_eq!(titles(&sorted(TaskSort::Due, Some(SortOrder::Desc)).await), ["Finish slides", "Call the dentist", "Pay rent", "buy milk", "work_out 100% (gym)"]);
            assert_eq!(titles(&sorted(TaskSort::Priority, None).await), ["Pay rent", "Finish slides", "Call the dentist", "work_out 100% (gym)", "buy milk"]);
            assert_eq!(titles(&sorted(TaskSort::Title, None).await), ["buy milk", "Call the dentist", "Finish slides", "Pay rent", "work_out 100% (gym)"]);
            assert_eq!(titles(&sorted(TaskSort::Created, Some(SortOrder::Desc)).await)[0], "work_out 100% (gym)");
        }

        async fn pages_follow_their_cursor_to_the_end_whatever_the_sort(test_db) {
            let (db, _) = seeded(&test_db).await;
            for sort in [TaskSort::Created, TaskSort::Due, TaskSort::Priority, TaskSort::Title] {
                for order in [SortOrder::Asc, SortOrder::Desc] {
                    let whole = db.query_tasks("u1", &TaskQuery { sort, order: Some(order), ..TaskQuery::default() }).await.unwrap();
                    let mut paged: Vec<String> = Vec::new();
                    let mut cursor = None;
                    loop {
                        let query = TaskQuery { sort, order: Some(order), limit: Some(2), cursor, ..TaskQuery::default() };
                        let page = db.query_tasks("u1", &query).await.unwrap();
                        assert_eq!(page.total, 5, "{sort:?} {order:?}");
                        assert!(page.tasks.len() <= 2);
                        paged.extend(page.tasks.iter().map(|t| t.title.clone()));
                        match page.next_cursor {
                            Some(next) => cursor = Some(todo_core::domain::Cursor::decode(&next).unwrap()),
                            None => break,
                        }
                    }
                    assert_eq!(paged, titles(&whole), "{sort:?} {order:?}");
                }
            }
            // The total counts the filtered tasks on every page, not this page.
            let page = db.query_tasks("u1", &TaskQuery { priority: Some(Priority::High), limit: Some(1), ..TaskQuery::default() }).await.unwrap();
            assert_eq!((page.tasks.len(), page.total, page.next_cursor.is_some()), (1, 2, true));
        }

        async fn searched_pages_follow_their_cursor_and_count_every_match(test_db) {
            // PostgreSQL gathers, counts and sorts a search's matches in one statement; the pages
            // and totals must be those of any other listing.
            let db = open(&test_db).await;
            let dues = [Some(at(4, 9)), None, Some(at(2, 9)), Some(at(4, 9)), None, Some(at(1, 9)), Some(at(9, 9))];
            for (i, due) in dues.into_iter().enumerate() {
                let priority = [Priority::High, Priority::Low, Priority::Medium][i % 3];
                db.create_task("u1", &task(&format!("Report {}", 7 - i), priority, &[], due)).await.unwrap();
                db.create_task("u1", &task(&format!("call {i}"), priority, &[], due)).await.unwrap();
            }
            db.create_task("u2", &task("report of another user", Priority::High, &[], None)).await.unwrap();
            for sort in [TaskSort::Created, TaskSort::Due, TaskSort::Priority, TaskSort::Title] {
                for order in [SortOrder::Asc, SortOrder::Desc] {
                    let query = |limit: Option<u32>, cursor| TaskQuery {
                        search: Some("report".into()), sort, order: Some(order), limit, cursor, ..TaskQuery::default()
                    };
                    let whole = db.query_tasks("u1", &query(None, None)).await.unwrap();
                    assert_eq!(whole.tasks.len(), 7, "{sort:?} {order:?}");
                    let (mut paged, mut cursor) = (Vec::new(), None);
                    loop {
                        let page = db.query_tasks("u1", &query(Some(3), cursor)).await.unwrap();
                        assert_eq!(page.total, 7, "{sort:?} {order:?}");
                        paged.extend(page.tasks.iter().map(|t| t.title.clone()));
                        match page.next_cursor {
                            Some(next) => cursor = Some(todo_core::domain::Cursor::decode(&next).unwrap()),
                            None => break,
                        }
                    }
                    assert_eq!(paged, titles(&whole), "{sort:?} {order:?}");
                    // A cursor past the last match: no task, and still the total.
                    let last = whole.tasks.last().unwrap();
                    let beyond = Some(todo_core::domain::Cursor::after(last, sort, order));
                    let empty = db.query_tasks("u1", &query(Some(3), beyond)).await.unwrap();
                    assert_eq!((empty.tasks.len(), empty.total, empty.next_cursor), (0, 7, None), "{sort:?} {order:?}");
                }
            }
            // Other filters narrow the matches and their count alike.
            let high = TaskQuery { search: Some("report".into()), priority: Some(Priority::High), limit: Some(1), ..TaskQuery::default() };
            let page = db.query_tasks("u1", &high).await.unwrap();
            assert_eq!((titles(&page), page.total), (vec!["Report 7"], 3));
            let none = TaskQuery { search: Some("nothing like it".into()), limit: Some(1), ..TaskQuery::default() };
            let page = db.query_tasks("u1", &none).await.unwrap();
            assert_eq!((page.tasks.len(), page.total, page.next_cursor), (0, 0, None));
        }

        async fn tags_and_text_written_before_the_listing_indexes_are_found_after(test_db) {
            let db = Db::connect_lazy(&test_db.options()).unwrap();
            db.migrate_up_to(4).await.unwrap();
            // Rows as the release before tag rows and search text wrote them.
            let now = Utc::now();
            let insert = "INSERT INTO tasks (user_id, title, description, completed, priority, tags, created_at, updated_at) VALUES ($1, $2, $3, FALSE, 2, $4, $5, $5)";
            let rows = [("u1", "Quarterly REPORT", Some("for the Board"), r#"["work","q3"]"#), ("u1", "Milk", None, "[]"), ("u2", "report too", None, r#"["work"]"#)];
            match &db {
                Db::Postgres(pool) => for (user, title, description, tags) in rows {
                    sqlx::query(insert).bind(user).bind(title).bind(description).bind(tags).bind(now).execute(pool).await.unwrap();
                },
                Db::Sqlite(pool, _) => for (user, title, description, tags) in rows {
                    sqlx::query(insert).bind(user).bind(title).bind(description).bind(tags).bind(now).execute(pool).await.unwrap();
                },
            }
            db.migrate().await.unwrap();
            let list = |query: TaskQuery| { let db = db.clone(); async move { db.query_tasks("u1", &query).await.unwrap() } };
            assert_eq!(titles(&list(TaskQuery { tag: Some("q3".into()), ..TaskQuery::default() }).await), ["Quarterly REPORT"]);
            assert_eq!(titles(&list(TaskQuery { tag: Some("work".into()), ..TaskQuery::default() }).await), ["Quarterly REPORT"]);
            assert_eq!(titles(&list(TaskQuery { search: Some("report".into()), ..TaskQuery::default() }).await), ["Quarterly REPORT"]);
            assert_eq!(titles(&list(TaskQuery { search: Some("the board".into()), ..TaskQuery::default() }).await), ["Quarterly REPORT"]);
            assert_eq!(titles(&list(TaskQuery { search: Some("milk".into()), ..TaskQuery::default() }).await), ["Milk"]);
        }

        async fn a_database_of_the_previous_schema_upgrades_in_place(test_db) {
            let db = Db::connect_lazy(&test_db.options()).unwrap();
            db.migrate_up_to(3).await.unwrap();
            // Rows as the previous release wrote them, without the new columns.
            let now = Utc::now();
            let insert = "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)";
            match &db {
                Db::Postgres(pool) => for (title, done) in [("old one", false), ("old two", true)] {
                    sqlx::query(insert).bind("u1").bind(title).bind("kept").bind(done).bind(now).execute(pool).await.unwrap();
                },
                Db::Sqlite(pool, _) => for (title, done) in [("old one", false), ("old two", true)] {
                    sqlx::query(insert).bind("u1").bind(title).bind("kept").bind(done).bind(now).execute(pool).await.unwrap();
                },
            }
            db.migrate().await.unwrap();
            let tasks = db.list_tasks("u1", StatusFilter::All).await.unwrap();
            let seen: Vec<_> = tasks.iter().map(|t| (t.title.as_str(), t.description.as_deref(), t.completed, t.priority, t.tags.len(), t.due_at)).collect();
            assert_eq!(seen, [("old one", Some("kept"), false, Priority::Medium, 0, None), ("old two", Some("kept"), true, Priority::Medium, 0, None)]);
            // And the upgraded rows take the new fields.
            let change = TaskChanges { priority: Some(Priority::High), tags: Some(vec!["legacy".into()]), ..TaskChanges::default() };
            let changed = db.update_task("u1", tasks[0].id, &change).await.unwrap();
            assert_eq!((changed.priority, changed.tags), (Priority::High, vec!["legacy".to_string()]));
        }
    }

    /// The pages the task panel asks for most, read as the planner would read them for a user with
    /// thousands of tasks once a running service has refreshed SQLite's statistics: in index order,
    /// with no step that sorts every matching task. (PostgreSQL gathers its own statistics, and
    /// `cargo xtask bench api` measures both.)
    #[tokio::test]
    async fn sqlite_reads_pages_in_index_order_once_its_statistics_are_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&TestDb::sqlite_file(&dir.path().join("todo.db"))).await;
        const TAGS: [&str; 5] = ["work", "home", "errands", "health", "money"];
        const PRIORITIES: [Priority; 3] = [Priority::High, Priority::Medium, Priority::Low];
        for i in 0..1500_usize {
            let due = (i % 7 != 0).then(|| Utc::now() + Duration::days(i as i64 % 400 - 200));
            let title = if i % 5 == 0 {
                format!("report {i}")
            } else {
                format!("task {i}")
            };
            let made = db
                .create_task(
                    "u1",
                    &task(&title, PRIORITIES[i % 3], &[TAGS[i % 5], TAGS[(i + 2) % 5]], due),
                )
                .await
                .unwrap();
            if i % 2 == 0 {
                db.toggle_task("u1", made.id).await.unwrap();
            }
        }
        for i in 0..200 {
            db.create_task("u2", &task(&format!("theirs {i}"), Priority::Low, &["work"], None))
                .await
                .unwrap();
        }
        db.refresh_statistics().await.unwrap();
        let page = |query: TaskQuery| TaskQuery {
            limit: Some(50),
            ..query
        };
        let queries = [
            page(TaskQuery {
                tag: Some("work".into()),
                sort: TaskSort::Due,
                ..TaskQuery::default()
            }),
            page(TaskQuery {
                priority: Some(Priority::High),
                status: StatusFilter::Pending,
                sort: TaskSort::Due,
                ..TaskQuery::default()
            }),
            page(TaskQuery {
                search: Some("report".into()),
                sort: TaskSort::Title,
                ..TaskQuery::default()
            }),
            page(TaskQuery {
                overdue: true,
                sort: TaskSort::Due,
                ..TaskQuery::default()
            }),
            page(TaskQuery {
                due_before: Some(Utc::now() + Duration::days(150)),
                sort: TaskSort::Priority,
                ..TaskQuery::default()
            }),
            page(TaskQuery {
                sort: TaskSort::Due,
                order: Some(SortOrder::Desc),
                ..TaskQuery::default()
            }),
        ];
        for query in queries {
            let plan = db.explain_listing("u1", &query).await.unwrap();
            // (The page's own 51 rows are sorted again as they are gathered into JSON: that is
            // `TEMP B-TREE FOR json_group_array`, and cheap.)
            assert!(
                !plan.contains("TEMP B-TREE FOR ORDER BY"),
                "{query:?} sorts instead of reading an index in order:\n{plan}"
            );
        }
    }
}
