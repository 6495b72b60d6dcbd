//! The data layer: one `Db` handle over PostgreSQL (deployments) or SQLite (the embedded
//! default), the same SQL for both, and the repositories that use it.
//!
//! Typed pools are used rather than sqlx's `Any` driver so that each backend keeps its native
//! types (TIMESTAMPTZ, BOOLEAN) and prepared-statement caching; `on_pool!` runs one query text on
//! whichever pool is configured. Every statement uses `$n` placeholders, which both drivers accept.

pub mod changes;
pub mod conversations;
mod error;
mod migrate;
pub mod standing;
pub mod tasks;
pub mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use error::StoreError;

/// Runs `$body` with `$pool` bound to the concrete pool, whichever backend is configured.
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool, _) => $body,
        }
    };
}
pub(crate) use on_pool;

/// How much of a SQLite file is memory-mapped: far beyond a single user's tasks, and a bound, not
/// an allocation (pages are mapped as they are read).
const SQLITE_MMAP_BYTES: u64 = 256 * 1024 * 1024;

/// How often a service refreshes SQLite's planner statistics: PostgreSQL's autovacuum looks for
/// stale statistics once a minute, and this does the same for SQLite, which has no daemon.
const SQLITE_STATISTICS_EVERY: Duration = Duration::from_secs(60);

/// Which database engine a `Db` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// Picks the backend from a `DATABASE_URL`, or explains which schemes are accepted.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(StoreError::Config(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
            ))
        }
    }
}

/// Pooled connections idle for longer than this are checked before use.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(1);

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it fails with 503.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// A cheap-to-clone handle on the connection pool.
#[derive(Clone, Debug)]
pub enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool, WriteGate),
}

/// SQLite takes one writer at a time. Connections that collide on its write lock wait in SQLite's
/// busy handler, which sleeps in steps of up to 100 ms: under concurrent writes that made the p99
/// of a write 20+ ms and its maximum over 200 ms. Writes of one process queue here instead, in
/// order, and each starts the moment the previous one commits. (Processes sharing a file, as in
/// `cargo xtask dev`, still meet in the busy handler, which is rare at development load.)
#[derive(Clone, Debug, Default)]
pub struct WriteGate(Arc<tokio::sync::Mutex<()>>);

impl Db {
    /// Opens the pool lazily: no connection is made until the first query, so a service can start
    /// (and report not-ready) while its database is still coming up.
    pub fn connect_lazy(options: &DbOptions) -> Result<Db, StoreError> {
        match Backend::from_url(&options.url)? {
            Backend::Postgres => {
                let connect = PgConnectOptions::from_str(&options.url)
                    .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout)
                    // sqlx already pings every connection when it is returned to the pool; pinging
                    // again on every acquire doubles the round trips under load. Only a connection
                    // that sat idle (and may have died with the server meanwhile) is checked.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > IDLE_CHECK_AFTER {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_lazy_with(connect);
                Ok(Db::Postgres(pool))
            }
            Backend::Sqlite => {
                let connect = SqliteConnectOptions::from_str(&options.url)
                    .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
                    .create_if_missing(true)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let in_memory = connect.get_filename().as_os_str() == ":memory:" || options.url.contains("mode=memory");
                let connect = if in_memory {
                    connect
                } else {
                    if let Some(parent) = connect.get_filename().parent()
                        && !parent.as_os_str().is_empty()
                    {
                        std::fs::create_dir_all(parent).map_err(|e| {
                            StoreError::Config(format!("cannot create the database folder {}: {e}", parent.display()))
                        })?;
                    }
                    connect
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        // Each connection's page cache is 2 MiB by default, less than a user with
                        // thousands of tasks and their indexes, so every count or scan re-read
                        // the file through system calls. Mapped, the file is read in place and
                        // shared by all connections (measured by `cargo xtask bench api`).
                        .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                };
                let mut pool = SqlitePoolOptions::new()
                    .max_connections(options.max_connections)
                    .acquire_timeout(options.acquire_timeout);
                if in_memory {
                    // An in-memory database lives as long as one connection to it does.
                    pool = pool.min_connections(1).idle_timeout(None).max_lifetime(None);
                }
                Ok(Db::Sqlite(pool.connect_lazy_with(connect), WriteGate::default()))
            }
        }
    }

    /// Connects, retrying until `deadline` passes, then applies pending migrations.
    pub async fn connect_and_migrate(options: &DbOptions, deadline: Duration) -> Result<Db, StoreError> {
        let db = Db::connect_lazy(options)?;
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            match db.ping().await {
                Ok(()) => break,
                Err(err) if started.elapsed() < deadline => {
                    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(err) => return Err(err),
            }
        }
        db.migrate().await?;
        db.refresh_statistics().await?;
        db.keep_statistics_fresh();
        Ok(db)
    }

    /// Brings the query planner's statistics up to date where they are missing or stale. Without
    /// them SQLite guesses, and for a filtered, sorted page it guessed a sort of every matching
    /// task over reading an index in page order: 9 ms instead of 0.2 ms for a user with 10,000
    /// tasks. `PRAGMA optimize` analyses only tables whose indexes were never analysed or that
    /// grew or shrank tenfold since, with a bounded sample, so it is cheap when nothing changed.
    /// PostgreSQL's autovacuum does this on its own.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        if let Db::Sqlite(pool, _) = self {
            // 0x10002: analyse (0x2) after checking every table, not only those this connection
            // queried (0x10000); SQLite's own advice for long-lived connections.
            let _turn = self.write_turn().await;
            sqlx::query("PRAGMA optimize = 0x10002").execute(pool).await?;
        }
        Ok(())
    }

    /// Refreshes SQLite's statistics every [`SQLITE_STATISTICS_EVERY`] until the pool closes, so
    /// that a user who imports thousands of tasks gets good plans within a minute, not after a
    /// restart.
    fn keep_statistics_fresh(&self) {
        let Db::Sqlite(pool, _) = self else { return };
        let (db, pool) = (self.clone(), pool.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SQLITE_STATISTICS_EVERY);
            every.tick().await; // the first tick is immediate, and startup has just refreshed
            loop {
                every.tick().await;
                if pool.is_closed() {
                    break;
                }
                if let Err(error) = db.refresh_statistics().await {
                    tracing::warn!(%error, "cannot refresh the database's planner statistics");
                }
            }
        });
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(..) => Backend::Sqlite,
        }
    }

    /// A round trip to the database; what `/readyz` reports.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Applies pending migrations. On PostgreSQL, sqlx holds an advisory lock meanwhile, so replicas
    /// starting together apply each migration exactly once. SQLite has no such lock, so an exclusive
    /// lock on a file beside the database serialises processes sharing it (`cargo xtask dev` starts
    /// several services on one file), and a mutex serialises pools within this process.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        static SQLITE_MIGRATIONS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let migrator = migrate::migrator(self.backend());
        match self {
            Db::Postgres(pool) => migrator.run(pool).await?,
            Db::Sqlite(pool, _) => {
                let _in_process = SQLITE_MIGRATIONS.lock().await;
                let filename = pool.connect_options().get_filename().to_path_buf();
                // In-memory databases (`:memory:`, `file:…?mode=memory`) are private to this process.
                let name = filename.to_string_lossy();
                let in_memory = name == ":memory:" || name.starts_with("file:");
                let _across_processes = if in_memory {
                    None
                } else {
                    Some(lock_file(filename.clone()).await?)
                };
                migrator.run(pool).await?;
            }
        }
        Ok(())
    }

    /// Applies the migrations up to and including `version` only: how a test makes a database as
    /// an older release left it, to check that the next release upgrades it in place.
    #[doc(hidden)]
    pub async fn migrate_up_to(&self, version: i64) -> Result<(), StoreError> {
        let all = migrate::migrator(self.backend());
        let older =
            sqlx::migrate::Migrator::with_migrations(all.iter().filter(|m| m.version <= version).cloned().collect());
        on_pool!(self, pool => older.run(pool).await)?;
        Ok(())
    }

    /// Held around every write statement: see [`WriteGate`]. PostgreSQL needs none.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self {
            Db::Postgres(_) => None,
            Db::Sqlite(_, gate) => Some(gate.0.lock().await),
        }
    }

    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// Takes an exclusive lock on `<database>.migrate-lock`, released when the file is dropped.
async fn lock_file(database: std::path::PathBuf) -> Result<std::fs::File, StoreError> {
    let mut path = database.into_os_string();
    path.push(".migrate-lock");
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| StoreError::Config(format!("migration lock task failed: {e}")))?
    .map_err(|e| StoreError::Config(format!("cannot lock the database for migrations: {e}")))
}
