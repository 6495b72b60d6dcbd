//! The change feed across processes: one handle writes, as the backend would, and another one's
//! feed hears it, as the MCP server's does. Each handle has its own pool, so on both engines the
//! change crosses connections the way it crosses services.

use std::time::Duration;

use chrono::Utc;
use todo_core::both_backends;
use todo_core::db::Db;
use todo_core::db::changes::{ChangeSubscription, TaskChange};
use todo_core::domain::{NewTask, TaskChanges, User};
use todo_core::test_support::TestDb;

async fn open(test_db: &TestDb) -> Db {
    let db = Db::connect_lazy(&test_db.options()).expect("valid url");
    db.migrate().await.expect("migrations apply");
    db
}

/// The next change, failing the test if none comes within a few seconds.
async fn next(changes: &mut ChangeSubscription) -> TaskChange {
    tokio::time::timeout(Duration::from_secs(5), changes.next())
        .await
        .expect("a change is heard within 5 s")
        .expect("the feed is running")
}

/// Nothing more is heard for a while (longer than SQLite's poll interval).
async fn quiet(changes: &mut ChangeSubscription) {
    if let Ok(change) = tokio::time::timeout(Duration::from_millis(800), changes.next()).await {
        panic!("expected no change, heard {change:?}");
    }
}

fn user(id: &str) -> TaskChange {
    TaskChange::User(id.into())
}

both_backends! {
    async fn every_kind_of_task_write_is_heard_by_another_process(test_db) {
        let writer = open(&test_db).await;
        let reader = open(&test_db).await;
        // Written before the feed started: never replayed.
        writer.create_task("ada", &NewTask::parse("Before", None).unwrap()).await.unwrap();
        let feed = reader.watch_task_changes().await.unwrap();
        let mut changes = feed.subscribe();
        quiet(&mut changes).await;

        let task = writer.create_task("ada", &NewTask::parse("Buy milk", None).unwrap()).await.unwrap();
        assert_eq!(next(&mut changes).await, user("ada"));
        let rename = TaskChanges::parse(Some("Buy oat milk"), None, None).unwrap();
        writer.update_task("ada", task.id, &rename).await.unwrap();
        assert_eq!(next(&mut changes).await, user("ada"));
        writer.toggle_task("ada", task.id).await.unwrap();
        assert_eq!(next(&mut changes).await, user("ada"));
        writer.delete_task("ada", task.id).await.unwrap();
        assert_eq!(next(&mut changes).await, user("ada"));
        quiet(&mut changes).await;
    }

    async fn a_change_names_its_user_only(test_db) {
        let writer = open(&test_db).await;
        let reader = open(&test_db).await;
        let feed = reader.watch_task_changes().await.unwrap();
        let mut changes = feed.subscribe();

        writer.create_task("grace", &NewTask::parse("Write compiler", None).unwrap()).await.unwrap();
        let heard = next(&mut changes).await;
        assert_eq!(heard, user("grace"));
        assert!(heard.concerns("grace"));
        assert!(!heard.concerns("ada"), "a change of grace's tasks is not ada's");
        // A write that touches nothing (a missing task) announces nothing.
        assert!(writer.toggle_task("grace", 999_999).await.is_err());
        quiet(&mut changes).await;
    }

    async fn deleting_an_account_is_heard_once_for_all_its_tasks(test_db) {
        let writer = open(&test_db).await;
        let reader = open(&test_db).await;
        writer
            .create_user(&User {
                id: "alan".into(),
                email: "alan@example.com".into(),
                name: "Alan".into(),
                password_hash: "$argon2id$…".into(),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
        for title in ["One", "Two", "Three"] {
            writer.create_task("alan", &NewTask::parse(title, None).unwrap()).await.unwrap();
        }
        let feed = reader.watch_task_changes().await.unwrap();
        let mut changes = feed.subscribe();
        quiet(&mut changes).await;

        writer.delete_account("alan").await.unwrap();
        assert_eq!(next(&mut changes).await, user("alan"));
        quiet(&mut changes).await;
    }

    async fn every_subscriber_hears_every_change(test_db) {
        let writer = open(&test_db).await;
        let reader = open(&test_db).await;
        let feed = reader.watch_task_changes().await.unwrap();
        let (mut first, mut second) = (feed.subscribe(), feed.subscribe());
        writer.create_task("ada", &NewTask::parse("Shared", None).unwrap()).await.unwrap();
        assert_eq!(next(&mut first).await, user("ada"));
        assert_eq!(next(&mut second).await, user("ada"));
    }
}
