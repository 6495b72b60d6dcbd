//! Task repository. Every statement is scoped by `user_id`, so one user's id can never reach
//! another user's row: a foreign task id behaves exactly like a missing one.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, Row};

use super::{Db, StoreError, on_pool};
use crate::domain::{NewTask, StatusFilter, Task, TaskChanges};

/// Decodes by column position rather than by name: every task query selects
/// `id, user_id, title, description, completed, created_at, updated_at` in this order, and a name
/// lookup per column per row was a measurable share of listing 1,000 tasks.
impl<'r, R: Row> FromRow<'r, R> for Task
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    chrono::DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        Ok(Task {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            title: row.try_get(2)?,
            description: row.try_get(3)?,
            completed: row.try_get(4)?,
            created_at: row.try_get(5)?,
            updated_at: row.try_get(6)?,
        })
    }
}

macro_rules! returning {
    ($sql:literal) => {
        concat!(
            $sql,
            " RETURNING id, user_id, title, description, completed, created_at, updated_at"
        )
    };
}

impl Db {
    /// The owner is known, so listings do not select it: decoding the same string 1,000 times was
    /// a measurable share of listing a long list.
    pub async fn list_tasks(&self, user_id: &str, filter: StatusFilter) -> Result<Vec<Task>, StoreError> {
        let completed = match filter {
            StatusFilter::All => None,
            StatusFilter::Pending => Some(false),
            StatusFilter::Completed => Some(true),
        };
        match self {
            Db::Postgres(pool) => list_rows(pool, user_id, completed).await,
            Db::Sqlite(pool, _) => list_as_json(pool, user_id, completed).await,
        }
    }

    pub async fn get_task(&self, user_id: &str, id: i64) -> Result<Task, StoreError> {
        const SQL: &str = "SELECT id, user_id, title, description, completed, created_at, updated_at \
                           FROM tasks WHERE id = $1 AND user_id = $2";
        let task =
            on_pool!(self, pool => sqlx::query_as::<_, Task>(SQL).bind(id).bind(user_id).fetch_optional(pool).await)?;
        task.ok_or(StoreError::NotFound)
    }

    pub async fn create_task(&self, user_id: &str, task: &NewTask) -> Result<Task, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = returning!(
            "INSERT INTO tasks (user_id, title, description, completed, created_at, updated_at) \
             VALUES ($1, $2, $3, FALSE, $4, $4)"
        );
        let now = Utc::now();
        let task = on_pool!(self, pool => sqlx::query_as::<_, Task>(SQL)
            .bind(user_id)
            .bind(&task.title)
            .bind(&task.description)
            .bind(now)
            .fetch_one(pool)
            .await)?;
        Ok(task)
    }

    pub async fn update_task(&self, user_id: &str, id: i64, changes: &TaskChanges) -> Result<Task, StoreError> {
        let _turn = self.write_turn().await;
        // `$4` says whether the description changes at all, so that `$5 = NULL` can clear it.
        const SQL: &str = returning!(
            "UPDATE tasks SET title = COALESCE($3, title), \
             description = CASE WHEN $4 THEN $5 ELSE description END, \
             completed = COALESCE($6, completed), updated_at = $7 \
             WHERE id = $1 AND user_id = $2"
        );
        let (set_description, description) = match &changes.description {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let task = on_pool!(self, pool => sqlx::query_as::<_, Task>(SQL)
            .bind(id)
            .bind(user_id)
            .bind(&changes.title)
            .bind(set_description)
            .bind(&description)
            .bind(changes.completed)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await)?;
        task.ok_or(StoreError::NotFound)
    }

    /// Flips a task between pending and completed.
    pub async fn toggle_task(&self, user_id: &str, id: i64) -> Result<Task, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str =
            returning!("UPDATE tasks SET completed = NOT completed, updated_at = $3 WHERE id = $1 AND user_id = $2");
        let task = on_pool!(self, pool => sqlx::query_as::<_, Task>(SQL)
            .bind(id)
            .bind(user_id)
            .bind(Utc::now())
            .fetch_optional(pool)
            .await)?;
        task.ok_or(StoreError::NotFound)
    }

    /// Deletes a task and returns what it was.
    pub async fn delete_task(&self, user_id: &str, id: i64) -> Result<Task, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = returning!("DELETE FROM tasks WHERE id = $1 AND user_id = $2");
        let task =
            on_pool!(self, pool => sqlx::query_as::<_, Task>(SQL).bind(id).bind(user_id).fetch_optional(pool).await)?;
        task.ok_or(StoreError::NotFound)
    }
}

fn owned(user_id: &str, listed: Listed) -> Task {
    let (id, title, description, completed, created_at, updated_at) = listed;
    Task {
        id,
        user_id: user_id.to_string(),
        title,
        description,
        completed,
        created_at,
        updated_at,
    }
}

type Listed = (i64, String, Option<String>, bool, DateTime<Utc>, DateTime<Utc>);

/// PostgreSQL: one row per task, which arrive together in one reply.
async fn list_rows(pool: &sqlx::PgPool, user_id: &str, completed: Option<bool>) -> Result<Vec<Task>, StoreError> {
    const ALL: &str = "SELECT id, title, description, completed, created_at, updated_at \
                       FROM tasks WHERE user_id = $1 ORDER BY id";
    const BY_STATUS: &str = "SELECT id, title, description, completed, created_at, updated_at \
                             FROM tasks WHERE user_id = $1 AND completed = $2 ORDER BY id";
    let sql = if completed.is_some() { BY_STATUS } else { ALL };
    let mut query = sqlx::query_as::<_, Listed>(sql).bind(user_id);
    if let Some(done) = completed {
        query = query.bind(done);
    }
    let rows = query.fetch_all(pool).await?;
    Ok(rows.into_iter().map(|row| owned(user_id, row)).collect())
}

/// SQLite: the whole list as one JSON array built by SQLite. sqlx-sqlite runs each connection on
/// a thread of its own and hands every row over to the async side separately (each column value
/// copied, a channel send and a wake-up per row), which for 50 tasks cost more than the query;
/// one row crosses once.
async fn list_as_json(
    pool: &sqlx::SqlitePool,
    user_id: &str,
    completed: Option<bool>,
) -> Result<Vec<Task>, StoreError> {
    const ALL: &str = "SELECT json_group_array(json_array(id, title, description, completed, created_at, \
                       updated_at) ORDER BY id) FROM tasks WHERE user_id = $1";
    const BY_STATUS: &str = "SELECT json_group_array(json_array(id, title, description, completed, created_at, \
                             updated_at) ORDER BY id) FROM tasks WHERE user_id = $1 AND completed = $2";
    let sql = if completed.is_some() { BY_STATUS } else { ALL };
    let mut query = sqlx::query_scalar::<_, String>(sql).bind(user_id);
    if let Some(done) = completed {
        query = query.bind(done);
    }
    let json = query.fetch_one(pool).await?;
    // Timestamps are stored as RFC 3339 text (sqlx's encoding), which holds nothing to unescape,
    // so they are borrowed rather than copied before parsing.
    type Json<'a> = (i64, String, Option<String>, u8, &'a str, &'a str);
    let rows: Vec<Json<'_>> =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("task list: {e}")))?;
    rows.into_iter()
        .map(|(id, title, description, completed, created_at, updated_at)| {
            Ok(owned(
                user_id,
                (
                    id,
                    title,
                    description,
                    completed != 0,
                    stored_time(created_at)?,
                    stored_time(updated_at)?,
                ),
            ))
        })
        .collect()
}

fn stored_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}
