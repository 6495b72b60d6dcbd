//! PostgreSQL's trigram index for task search (migration 0007): where `pg_trgm` can be installed
//! a search is found through it, and where it cannot the schema still migrates and searches
//! still answer, by reading the user's tasks.

use sqlx::{AssertSqlSafe, Connection as _, PgConnection};
use todo_core::db::{Db, DbOptions};
use todo_core::domain::{NewTask, TaskQuery, TaskSort};
use todo_core::test_support::{DEFAULT_TEST_DATABASE_URL, TestDb};

fn search(text: &str) -> TaskQuery {
    TaskQuery {
        search: Some(text.into()),
        sort: TaskSort::Title,
        limit: Some(50),
        ..TaskQuery::default()
    }
}

async fn execute(url: &str, statements: &[String]) {
    let mut conn = PgConnection::connect(url).await.expect("PostgreSQL reachable");
    for sql in statements {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await.unwrap();
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    let Db::Postgres(pool) = db else {
        panic!("a PostgreSQL test")
    };
    sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Whether the migrated schema behind `db` has the trigram index.
async fn has_trigram_index(db: &Db) -> bool {
    scalar(
        db,
        "SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'tasks_search_trgm_idx'",
    )
    .await
        == 1
}

#[tokio::test]
async fn a_search_of_many_tasks_is_found_through_the_trigram_index() {
    let Some(test_db) = TestDb::postgres().await else {
        return;
    };
    let db = Db::connect_lazy(&test_db.options()).unwrap();
    db.migrate().await.unwrap();
    assert!(has_trigram_index(&db).await, "the test database can install pg_trgm");
    // 4,000 tasks of u1 and as many of u2, 40 of u1's about the dentist (those through the
    // repository, the rest in bulk).
    let Db::Postgres(pool) = &db else { unreachable!() };
    for user in ["u1", "u2"] {
        sqlx::query(
            "INSERT INTO tasks (user_id, title, completed, priority, tags, created_at, updated_at, search_text) \
             SELECT $1, 'errand ' || n, FALSE, 2, '[]', now(), now(), 'errand ' || n || chr(10) \
             FROM generate_series(1, 4000) AS n",
        )
        .bind(user)
        .execute(pool)
        .await
        .unwrap();
    }
    for i in 0..40 {
        let task = NewTask::parse(&format!("Call the Dentist {i:02}"), Some("about the crown")).unwrap();
        db.create_task("u1", &task).await.unwrap();
    }
    sqlx::query("ANALYZE tasks").execute(pool).await.unwrap();

    let plan = db.explain_listing("u1", &search("dentist")).await.unwrap();
    assert!(
        plan.contains("tasks_search_trgm_idx"),
        "the search reads every task:\n{plan}"
    );
    let page = db.query_tasks("u1", &search("dentist")).await.unwrap();
    assert_eq!((page.tasks.len(), page.total), (40, 40));
    assert_eq!(page.tasks[0].title, "Call the Dentist 00");
    // Two letters make no trigram: the same statement, answered by reading the user's tasks.
    let short = db.query_tasks("u1", &search("00")).await.unwrap();
    let errands = (1..=4000).filter(|n: &u32| n.to_string().contains("00")).count() as u64;
    assert_eq!((short.tasks.len(), short.total), (50, errands + 1));
}

/// A fresh database and a role that may create nothing but in its own schemas: the migration
/// cannot install `pg_trgm`, says so, and carries on. Once the role may create in the database,
/// the next schema migrated gets the extension (in `public`, or in its own schema where `public`
/// is not the role's to create in, as from PostgreSQL 15) and the index.
#[tokio::test]
async fn without_pg_trgm_the_schema_migrates_and_searches_still_answer() {
    // Skips (or fails, in CI) as every PostgreSQL test does when there is no server.
    let Some(_reachable) = TestDb::postgres().await else {
        return;
    };
    let admin = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into());
    let name = format!("todo_no_trgm_{}", uuid::Uuid::new_v4().simple());
    let password = uuid::Uuid::new_v4().simple().to_string();
    execute(
        &admin,
        &[
            format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"),
            format!("CREATE DATABASE {name}"),
        ],
    )
    .await;
    let mut fresh = url::Url::parse(&admin).unwrap();
    fresh.set_path(&name);
    execute(
        fresh.as_str(),
        &[
            format!("CREATE SCHEMA lean AUTHORIZATION {name}"),
            format!("CREATE SCHEMA later AUTHORIZATION {name}"),
        ],
    )
    .await;
    let as_role = |schema: &str| {
        let mut url = fresh.clone();
        url.set_username(&name).unwrap();
        url.set_password(Some(&password)).unwrap();
        url.query_pairs_mut().append_pair("options[search_path]", schema);
        DbOptions::new(url.to_string())
    };

    let lean = Db::connect_lazy(&as_role("lean")).unwrap();
    lean.migrate().await.expect("the migration does not need pg_trgm");
    assert!(!has_trigram_index(&lean).await);
    lean.create_task("u1", &NewTask::parse("Call the dentist", None).unwrap())
        .await
        .unwrap();
    lean.create_task("u1", &NewTask::parse("Buy milk", None).unwrap())
        .await
        .unwrap();
    let page = lean.query_tasks("u1", &search("DENTIST")).await.unwrap();
    assert_eq!((page.tasks.len(), page.total), (1, 1));
    lean.close().await;

    execute(&admin, &[format!("GRANT CREATE ON DATABASE {name} TO {name}")]).await;
    let later = Db::connect_lazy(&as_role("later")).unwrap();
    later.migrate().await.unwrap();
    assert!(has_trigram_index(&later).await, "installed once the role may");
    later
        .create_task("u1", &NewTask::parse("Call the dentist", None).unwrap())
        .await
        .unwrap();
    assert_eq!(later.query_tasks("u1", &search("dentist")).await.unwrap().total, 1);
    later.close().await;

    execute(
        &admin,
        &[
            format!("DROP DATABASE {name} WITH (FORCE)"),
            format!("DROP ROLE {name}"),
        ],
    )
    .await;
}
