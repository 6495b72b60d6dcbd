//! Isolated databases for tests: a fresh in-memory SQLite database, or a fresh schema in the
//! PostgreSQL named by `TEST_DATABASE_URL`, so tests run in parallel without seeing each other.
//!
//! When PostgreSQL is unreachable the PostgreSQL variant of a test is skipped with a loud
//! message, except under `CI=true`, where that is a failure.

use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

use crate::db::{Backend, DbOptions};

pub const DEFAULT_TEST_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A private in-memory SQLite database.
    pub fn sqlite_memory() -> TestDb {
        let name = uuid::Uuid::new_v4().simple();
        TestDb {
            url: format!("sqlite:file:test-{name}?mode=memory&cache=shared"),
            backend: Backend::Sqlite,
            postgres: None,
        }
    }

    /// A SQLite database in a file, for tests that restart a service on the same data.
    pub fn sqlite_file(path: &std::path::Path) -> TestDb {
        TestDb {
            url: format!("sqlite:{}", path.display()),
            backend: Backend::Sqlite,
            postgres: None,
        }
    }

    /// A private schema in the test PostgreSQL, or `None` (after saying so) when it is unreachable.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_DATABASE_URL.into());
        let mut conn = match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return skip(&admin_url, &e.to_string()),
            Err(_) => return skip(&admin_url, "connection timed out"),
        };
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let create = format!("CREATE SCHEMA \"{schema}\"");
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut conn).await {
            panic!("cannot create a test schema in {admin_url}: {e}");
        }
        let _ = conn.close().await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{admin_url}{separator}options[search_path]={schema}"),
            backend: Backend::Postgres,
            postgres: Some((admin_url, schema)),
        })
    }

    pub fn options(&self) -> DbOptions {
        DbOptions::new(self.url.clone())
    }
}

fn skip(url: &str, reason: &str) -> Option<TestDb> {
    let message = format!("PostgreSQL at {url} is unreachable ({reason}); set TEST_DATABASE_URL");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}: PostgreSQL tests may not be skipped in CI");
    }
    eprintln!("\n*** SKIPPED (PostgreSQL variant): {message} ***\n");
    None
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, schema)) = self.postgres.take() else {
            return;
        };
        // Drop can't await; a short-lived runtime on its own thread removes the schema.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Declares each test twice, once on SQLite and once on PostgreSQL:
///
/// ```ignore
/// both_backends! {
///     async fn creates_a_task(db) { /* db: TestDb */ }
/// }
/// ```
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $db = $crate::test_support::TestDb::sqlite_memory();
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($db) = $crate::test_support::TestDb::postgres().await else { return };
                    $body
                }
            )*
        }
    };
}
