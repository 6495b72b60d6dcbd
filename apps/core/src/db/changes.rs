//! The change feed: which users' tasks changed, as each change commits, whichever process made
//! it. The MCP server turns it into live resources (a subscribed host hears that `todo://tasks`
//! changed while its user chats in the web UI, whose writes the backend makes).
//!
//! The announcements themselves are made by triggers (`0006_task_change_feed.sql`); this module
//! reads them: PostgreSQL's `LISTEN`, or a poll of SQLite's `task_feed` table. One reader per
//! process fans out to every subscriber through a broadcast channel.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgPool, SqlitePool};
use tokio::sync::broadcast;

use super::{Db, StoreError};

/// The PostgreSQL channel the triggers notify, followed by `.` and the schema of the tables, with
/// the user's id as the payload.
const CHANNEL_PREFIX: &str = "todo_task_changes";

/// How often SQLite's `task_feed` is read: a change is heard within this long. The read is an
/// index lookup that finds nothing most of the time.
const SQLITE_POLL_EVERY: Duration = Duration::from_millis(250);

/// How long the reader waits before trying again after the database refused it.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Subscribers that fall this far behind are told [`TaskChange::Unknown`] rather than each change.
const BUFFERED: usize = 1024;

/// What a subscriber hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskChange {
    /// A change of this user's tasks has committed.
    User(Arc<str>),
    /// Changes may have been missed (the connection to the database was lost, or the subscriber
    /// fell behind): any user's tasks may have changed.
    Unknown,
}

impl TaskChange {
    /// Whether a subscriber acting for `user_id` must assume its tasks changed.
    pub fn concerns(&self, user_id: &str) -> bool {
        match self {
            TaskChange::User(user) => **user == *user_id,
            TaskChange::Unknown => true,
        }
    }
}

/// The process's reader of the feed; cheap to clone. The reader runs until the pool closes.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<TaskChange>,
}

/// One subscriber's view of the feed.
pub struct ChangeSubscription {
    receiver: broadcast::Receiver<TaskChange>,
}

impl ChangeSubscription {
    /// The next change; `None` once the feed has stopped (the pool was closed).
    pub async fn next(&mut self) -> Option<TaskChange> {
        match self.receiver.recv().await {
            Ok(change) => Some(change),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(TaskChange::Unknown),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl ChangeFeed {
    pub fn subscribe(&self) -> ChangeSubscription {
        ChangeSubscription {
            receiver: self.sender.subscribe(),
        }
    }
}

impl Db {
    /// Starts this process's reader of the change feed, and returns once it is reading: a change
    /// committed after this returns reaches every later subscriber. Call it once per process and
    /// subscribe as often as needed; changes are not replayed to a later subscription.
    pub async fn watch_task_changes(&self) -> Result<ChangeFeed, StoreError> {
        let (sender, _) = broadcast::channel(BUFFERED);
        let feed = ChangeFeed { sender: sender.clone() };
        match self {
            Db::Postgres(pool) => {
                let listener = connect_listener(pool, CHANNEL_PREFIX).await?;
                tokio::spawn(listen(pool.clone(), listener, sender));
            }
            Db::Sqlite(pool, _) => {
                let (_, latest) = read_feed(pool, None).await?;
                tokio::spawn(poll(pool.clone(), latest, sender));
            }
        }
        Ok(feed)
    }
}

/// PostgreSQL: `LISTEN` on one connection of the pool, reconnecting as needed. A lost connection
/// may have lost notifications with it, so subscribers are then told [`TaskChange::Unknown`].
async fn listen(pool: PgPool, mut listener: PgListener, sender: broadcast::Sender<TaskChange>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let _ = sender.send(TaskChange::User(notification.payload().into()));
            }
            // The connection was lost and has been re-established: what was sent meanwhile is
            // gone.
            Ok(None) => {
                tracing::warn!("the task change listener reconnected; changes may have been missed");
                let _ = sender.send(TaskChange::Unknown);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => {
                tracing::warn!(%error, "the task change listener failed; reconnecting");
                let _ = sender.send(TaskChange::Unknown);
                let Some(again) = relisten(&pool, CHANNEL_PREFIX).await else {
                    return;
                };
                listener = again;
            }
        }
    }
}

/// A connection listening on `<prefix>.<schema>`, the channel the triggers of the pool's schema
/// notify.
pub(super) async fn connect_listener(pool: &PgPool, prefix: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect_with(pool).await?;
    // The schema the pool's tables are found in, as the trigger names it.
    let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(pool).await?;
    listener.listen(&format!("{prefix}.{schema}")).await?;
    Ok(listener)
}

/// Listens again after a failure, retrying every `RETRY_AFTER`; `None` once the pool is closed.
pub(super) async fn relisten(pool: &PgPool, prefix: &str) -> Option<PgListener> {
    loop {
        tokio::time::sleep(RETRY_AFTER).await;
        if pool.is_closed() {
            return None;
        }
        match connect_listener(pool, prefix).await {
            Ok(listener) => return Some(listener),
            Err(error) => tracing::warn!(%error, channel = prefix, "cannot listen; retrying"),
        }
    }
}

/// SQLite: reads the users whose sequence number passed the last one seen.
async fn poll(pool: SqlitePool, mut seen: i64, sender: broadcast::Sender<TaskChange>) {
    let mut every = tokio::time::interval(SQLITE_POLL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        match read_feed(&pool, Some(seen)).await {
            Ok((changed, latest)) => {
                // A number below the last one seen: the file was replaced (restored from a
                // backup, say), and anything may have changed.
                if latest < seen {
                    let _ = sender.send(TaskChange::Unknown);
                }
                for user in changed {
                    let _ = sender.send(TaskChange::User(user.into()));
                }
                seen = latest;
            }
            Err(_) if pool.is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "cannot read the task change feed; retrying");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// The users changed after `seen` (none on the first read), and the latest sequence number.
async fn read_feed(pool: &SqlitePool, seen: Option<i64>) -> Result<(Vec<String>, i64), StoreError> {
    let latest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM task_feed")
        .fetch_one(pool)
        .await?;
    let Some(seen) = seen.filter(|seen| latest > *seen) else {
        return Ok((Vec::new(), latest));
    };
    let changed = sqlx::query_scalar("SELECT user_id FROM task_feed WHERE seq > $1 AND seq <= $2 ORDER BY seq")
        .bind(seen)
        .bind(latest)
        .fetch_all(pool)
        .await?;
    Ok((changed, latest))
}
