//! Task repository. Every statement is scoped by `user_id`, so one user's id can never reach
//! another user's row: a foreign task id behaves exactly like a missing one.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, FromRow, Row};

use super::{Backend, Db, StoreError, on_pool};
use crate::domain::{
    Cursor, CursorKey, NewTask, Priority, SortOrder, StatusFilter, Task, TaskChanges, TaskPage, TaskQuery, TaskSort,
};

/// Decodes by column position rather than by name: every task query selects
/// `id, user_id, title, description, completed, priority, tags, due_at, created_at, updated_at`
/// in this order, and a name lookup per column per row was a measurable share of listing 1,000
/// tasks.
impl<'r, R: Row> FromRow<'r, R> for Task
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        let tags: String = row.try_get(6)?;
        Ok(Task {
            id: row.try_get(0)?,
            user_id: row.try_get(1)?,
            title: row.try_get(2)?,
            description: row.try_get(3)?,
            completed: row.try_get(4)?,
            priority: stored_priority(row.try_get(5)?).map_err(|e| sqlx::Error::Decode(e.into()))?,
            tags: stored_tags(&tags).map_err(|e| sqlx::Error::Decode(e.into()))?,
            due_at: row.try_get(7)?,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
        })
    }
}

macro_rules! columns {
    () => {
        "id, user_id, title, description, completed, priority, tags, due_at, created_at, updated_at"
    };
}

macro_rules! returning {
    ($sql:literal) => {
        concat!($sql, " RETURNING ", columns!())
    };
}

/// A value bound to a listing's placeholder.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// Binds `binds` in order to `$2…` (`$1` is the user id, bound by the caller).
macro_rules! bind_each {
    ($query:expr, $binds:expr) => {{
        let mut query = $query;
        for bind in $binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.as_str()),
                Bind::Int(n) => query.bind(*n),
                Bind::Bool(b) => query.bind(*b),
                Bind::Time(t) => query.bind(*t),
            };
        }
        query
    }};
}

/// Binds what [`insert_tags_sql`] expects of `$task`.
macro_rules! bind_tags {
    ($query:expr, $task:expr) => {{
        let task: &Task = $task;
        let mut query = $query.bind(task.user_id.as_str()).bind(task.id);
        for tag in &task.tags {
            query = query.bind(tag.as_str());
        }
        query
    }};
}

/// `$1`…`$7` of a task's insert, on either engine's query: the owner, title, description,
/// priority, tags (JSON), due date and the time (created and updated).
macro_rules! bind_new_task {
    ($query:expr, $user_id:expr, $task:expr, $tags:expr, $now:expr) => {{
        let task: &NewTask = $task;
        $query
            .bind($user_id)
            .bind(&task.title)
            .bind(&task.description)
            .bind(task.priority.rank())
            .bind($tags)
            .bind(task.due_at)
            .bind($now)
    }};
}

impl Db {
    /// Every task of a user with a status, oldest first: the original listing.
    pub async fn list_tasks(&self, user_id: &str, status: StatusFilter) -> Result<Vec<Task>, StoreError> {
        let query = TaskQuery {
            status,
            ..TaskQuery::default()
        };
        Ok(self.query_tasks(user_id, &query).await?.tasks)
    }

    /// A filtered, sorted page of a user's tasks, the number of tasks on all pages, and where the
    /// next page starts. Without a limit, every matching task.
    pub async fn query_tasks(&self, user_id: &str, query: &TaskQuery) -> Result<TaskPage, StoreError> {
        let listing = Listing::new(query, Utc::now(), self.backend());
        let (mut tasks, counted) = match self {
            Db::Postgres(pool) => list_rows(pool, user_id, &listing).await?,
            Db::Sqlite(pool, _) => (list_as_json(pool, user_id, &listing).await?, None),
        };
        let Some(limit) = query.limit else {
            let total = tasks.len() as u64;
            return Ok(TaskPage {
                tasks,
                total,
                next_cursor: None,
            });
        };
        // One more row than the page was read: whether it came says whether another page follows.
        let more = tasks.len() > limit as usize;
        tasks.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                tasks
                    .last()
                    .map(|last| Cursor::after(last, query.sort, query.order()).encode())
            })
            .flatten();
        let total = if let Some(counted) = counted {
            counted
        } else if query.cursor.is_none() && !more {
            tasks.len() as u64
        } else {
            let sql = listing.count_sql.clone();
            let count: i64 = on_pool!(self, pool => {
                let query = sqlx::query_scalar(AssertSqlSafe(sql.clone())).bind(user_id);
                bind_each!(query, &listing.count_binds).fetch_one(pool).await
            })?;
            count as u64
        };
        Ok(TaskPage {
            tasks,
            total,
            next_cursor,
        })
    }

    /// How the database plans to read a page of `query`, one step per line: what a test reads to
    /// know that the indexes serve a listing.
    #[doc(hidden)]
    pub async fn explain_listing(&self, user_id: &str, query: &TaskQuery) -> Result<String, StoreError> {
        let listing = Listing::new(query, Utc::now(), self.backend());
        let steps: Vec<String> = match self {
            Db::Postgres(pool) => {
                let sql = format!("EXPLAIN {}", listing.postgres_page_sql());
                let query = sqlx::query_scalar(AssertSqlSafe(sql)).bind(user_id);
                bind_each!(query, &listing.page_binds).fetch_all(pool).await?
            }
            Db::Sqlite(pool, _) => {
                let sql = format!("EXPLAIN QUERY PLAN {}", listing.sqlite_page_sql());
                let query = sqlx::query(AssertSqlSafe(sql)).bind(user_id);
                let rows = bind_each!(query, &listing.page_binds).fetch_all(pool).await?;
                rows.iter().map(|row| row.try_get("detail")).collect::<Result<_, _>>()?
            }
        };
        Ok(steps.join("\n"))
    }

    pub async fn get_task(&self, user_id: &str, id: i64) -> Result<Task, StoreError> {
        const SQL: &str = concat!("SELECT ", columns!(), " FROM tasks WHERE id = $1 AND user_id = $2");
        let task =
            on_pool!(self, pool => sqlx::query_as::<_, Task>(SQL).bind(id).bind(user_id).fetch_optional(pool).await)?;
        task.ok_or(StoreError::NotFound)
    }

    pub async fn create_task(&self, user_id: &str, task: &NewTask) -> Result<Task, StoreError> {
        self.create_task_within(user_id, task, 0).await
    }

    /// Adds a task unless the user already holds `cap` of them (0: no cap). The count is part of
    /// the insert and reads at most `cap` index entries. On SQLite, where writes take turns, the
    /// cap is exact; on PostgreSQL two adds of one user in flight at once may each count the
    /// other's row as absent, so the cap can be passed by the adds in flight (bounded by the
    /// per-user write limit and the connection pool), never by a flood.
    pub async fn create_task_within(&self, user_id: &str, task: &NewTask, cap: u32) -> Result<Task, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = returning!(
            "INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_at, created_at, updated_at, \
             search_text) VALUES ($1, $2, $3, FALSE, $4, $5, $6, $7, $7, lower($2 || '\n' || COALESCE($3, '')))"
        );
        const CAPPED: &str = returning!(
            "INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_at, created_at, updated_at, \
             search_text) SELECT $1, $2, $3, FALSE, $4, $5, $6, $7, $7, lower($2 || '\n' || COALESCE($3, '')) \
             WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE user_id = $1 LIMIT $8) AS held) < $8"
        );
        // PostgreSQL: the same, and the tag rows ($8 the tags, the cap then $9), in one statement.
        const PG_SQL: &str = concat!(
            "WITH created AS (INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_at, \
             created_at, updated_at, search_text) VALUES ($1, $2, $3, FALSE, $4, $5, $6, $7, $7, \
             lower($2 || '\n' || COALESCE($3, ''))) RETURNING ",
            columns!(),
            "), tagged AS (INSERT INTO task_tags (user_id, tag, task_id) \
             SELECT $1, tag, created.id FROM created, unnest($8::text[]) AS tag) SELECT ",
            columns!(),
            " FROM created"
        );
        const PG_CAPPED: &str = concat!(
            "WITH created AS (INSERT INTO tasks (user_id, title, description, completed, priority, tags, due_at, \
             created_at, updated_at, search_text) SELECT $1, $2, $3, FALSE, $4, $5, $6, $7, $7, \
             lower($2 || '\n' || COALESCE($3, '')) \
             WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE user_id = $1 LIMIT $9) AS held) < $9 RETURNING ",
            columns!(),
            "), tagged AS (INSERT INTO task_tags (user_id, tag, task_id) \
             SELECT $1, tag, created.id FROM created, unnest($8::text[]) AS tag) SELECT ",
            columns!(),
            " FROM created"
        );
        let now = Utc::now();
        let tags = tags_json(&task.tags);
        let limit_reached = || {
            StoreError::LimitReached(format!(
                "you have {cap} tasks, the most an account may hold: delete finished ones to add more"
            ))
        };
        let pool = match self {
            // One statement, so one round trip and its own transaction: the task and its tag
            // rows commit together (a data-modifying WITH runs whether or not the query reads
            // it), where BEGIN, the inserts and COMMIT took three or four.
            Db::Postgres(pool) => {
                let sql = if cap == 0 { PG_SQL } else { PG_CAPPED };
                let mut insert = bind_new_task!(sqlx::query_as::<_, Task>(sql), user_id, task, &tags, now)
                    .bind(task.tags.as_slice());
                if cap != 0 {
                    insert = insert.bind(i64::from(cap));
                }
                return insert.fetch_optional(pool).await?.ok_or_else(limit_reached);
            }
            Db::Sqlite(pool, _) => pool,
        };
        let sql = if cap == 0 { SQL } else { CAPPED };
        let mut tx = pool.begin().await?;
        let mut insert = bind_new_task!(sqlx::query_as::<_, Task>(sql), user_id, task, &tags, now);
        if cap != 0 {
            insert = insert.bind(i64::from(cap));
        }
        let Some(created) = insert.fetch_optional(&mut *tx).await? else {
            return Err(limit_reached());
        };
        if let Some(sql) = insert_tags_sql(created.tags.len()) {
            bind_tags!(sqlx::query(AssertSqlSafe(sql)), &created)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    pub async fn update_task(&self, user_id: &str, id: i64, changes: &TaskChanges) -> Result<Task, StoreError> {
        let _turn = self.write_turn().await;
        // `$4` and `$9` say whether the description and the due date change at all, so that a
        // NULL in `$5` or `$10` can clear them. Columns on the right are the row before the update.
        const SQL: &str = returning!(
            "UPDATE tasks SET title = COALESCE($3, title), \
             description = CASE WHEN $4 THEN $5 ELSE description END, \
             search_text = lower(COALESCE($3, title) || '\n' || \
               COALESCE(CASE WHEN $4 THEN $5 ELSE description END, '')), \
             completed = COALESCE($6, completed), \
             priority = COALESCE($7, priority), \
             tags = COALESCE($8, tags), \
             due_at = CASE WHEN $9 THEN $10 ELSE due_at END, \
             updated_at = $11 \
             WHERE id = $1 AND user_id = $2"
        );
        let (set_description, description) = match &changes.description {
            Some(d) => (true, d.clone()),
            None => (false, None),
        };
        let (set_due, due_at) = match changes.due_at {
            Some(due) => (true, due),
            None => (false, None),
        };
        let tags = changes.tags.as_deref().map(tags_json);
        let task = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query_as::<_, Task>(SQL)
                .bind(id)
                .bind(user_id)
                .bind(&changes.title)
                .bind(set_description)
                .bind(&description)
                .bind(changes.completed)
                .bind(changes.priority.map(Priority::rank))
                .bind(&tags)
                .bind(set_due)
                .bind(due_at)
                .bind(Utc::now())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(updated) = &updated
                && changes.tags.is_some()
            {
                sqlx::query("DELETE FROM task_tags WHERE task_id = $1").bind(id).execute(&mut *tx).await?;
                if let Some(sql) = insert_tags_sql(updated.tags.len()) {
                    bind_tags!(sqlx::query(AssertSqlSafe(sql)), updated).execute(&mut *tx).await?;
                }
            }
            tx.commit().await.map(|()| updated)
        })?;
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

/// `task_tags` rows for a task with `count` tags: `$1` is the owner, `$2` the task, then the tags.
fn insert_tags_sql(count: usize) -> Option<String> {
    (count > 0).then(|| {
        let rows: Vec<String> = (0..count).map(|i| format!("($1, ${}, $2)", i + 3)).collect();
        format!(
            "INSERT INTO task_tags (user_id, tag, task_id) VALUES {}",
            rows.join(", ")
        )
    })
}

fn tags_json(tags: &[String]) -> String {
    serde_json::Value::from(tags).to_string()
}

fn stored_tags(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("tags {text:?}: {e}")))
}

fn stored_priority(rank: i32) -> Result<Priority, StoreError> {
    Priority::from_rank(rank).ok_or_else(|| StoreError::Corrupt(format!("priority rank {rank}")))
}

/// The SQL of one listing, with `$n` placeholders: the same text on both engines but for one
/// planner hint to SQLite.
struct Listing {
    /// The number of tasks on all pages: the filters alone…
    count_sql: String,
    count_binds: Vec<Bind>,
    /// …and for the page: the filters, then where the cursor left off.
    page_filters: String,
    page_binds: Vec<Bind>,
    /// On PostgreSQL, a page whose matches are gathered, counted and sorted in one statement (see
    /// [`Listing::postgres_page_sql`]): the filters alone, and where the cursor left off.
    counted_with_page: Option<CountedWithPage>,
    order_by: String,
    limit: Option<u32>,
}

/// The two halves of a page's conditions, for a statement that counts every match before the
/// cursor picks the page.
struct CountedWithPage {
    filters: String,
    cursor: Option<String>,
}

impl Listing {
    /// The conditions of `query`'s filters; `due_at` is how they name the due-date column.
    fn filters(query: &TaskQuery, now: DateTime<Utc>, due_at: &str) -> Conditions {
        let mut sql = Conditions::default();
        match query.status {
            StatusFilter::All => {}
            StatusFilter::Pending => sql.add("completed = $", Bind::Bool(false)),
            StatusFilter::Completed => sql.add("completed = $", Bind::Bool(true)),
        }
        if let Some(text) = &query.search {
            // `search_text` is the title and the description, lower-cased when written: PostgreSQL
            // folds every letter, SQLite ASCII letters.
            let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
            sql.add_with("search_text LIKE $", Bind::Text(pattern), " ESCAPE '\\'");
        }
        if let Some(priority) = query.priority {
            sql.add("priority = $", Bind::Int(priority.rank().into()));
        }
        if let Some(tag) = &query.tag {
            // Per candidate row, one lookup in `task_tags`' primary key: a page read in sort order
            // stops after its 51st match, where `id IN (…)` first gathered every tagged task.
            sql.add_with(
                "EXISTS (SELECT 1 FROM task_tags WHERE task_tags.user_id = $1 AND task_tags.tag = $",
                Bind::Text(tag.clone()),
                " AND task_tags.task_id = tasks.id)",
            );
        }
        if let Some(before) = query.due_before {
            sql.add(&format!("{due_at} < $"), Bind::Time(before));
        }
        if let Some(after) = query.due_after {
            sql.add(&format!("{due_at} >= $"), Bind::Time(after));
        }
        if query.overdue {
            sql.push("completed = FALSE".into());
            sql.add(&format!("{due_at} < $"), Bind::Time(now));
        }
        sql
    }

    fn new(query: &TaskQuery, now: DateTime<Utc>, backend: Backend) -> Listing {
        let counted = Listing::filters(query, now, "due_at");
        // Sorted by anything but the due date, a page is read in that sort's index order, skipping
        // tasks outside the due range. SQLite could also read the range by the due-date index and
        // sort all of it; which it picked for a wide range changed from one statistics sample to
        // the next, and the sort was the slow one (9 ms against 0.2 ms for 9,000 of 10,000 tasks).
        // `+due_at` keeps it from using that index for the page: its worst case is then reading
        // the user's tasks once, in order. (The count still uses it.) PostgreSQL's cost model
        // weighs the two well on its own.
        let mut sql = match backend {
            Backend::Sqlite if query.sort != TaskSort::Due => Listing::filters(query, now, "+due_at"),
            _ => Listing::filters(query, now, "due_at"),
        };
        let dated_only = query.due_before.is_some() || query.due_after.is_some() || query.overdue;
        // A tag alone is counted in `task_tags`' primary key, without reading a task.
        let count_sql = match (&query.tag, counted.parts.len()) {
            (Some(_), 1) => "SELECT COUNT(*) FROM task_tags WHERE user_id = $1 AND tag = $2".to_string(),
            _ => format!("SELECT COUNT(*) FROM tasks WHERE {}", counted.where_clause()),
        };
        let count_binds = counted.binds;
        let order = query.order();
        if let Some(cursor) = &query.cursor {
            sql.after(cursor, order);
        }
        // A search's matches lie anywhere in every sort order, so a page of them is read either
        // by walking a sort index past every task that does not match (in the benchmark's data,
        // 8,000 tasks before the first `report` by title: 3.5 ms) or by finding them all, as the
        // count does anyway. PostgreSQL's planner prices the walk as if matches were spread
        // evenly and picks it; gathering them once (by the trigram index of 0007 where it
        // exists), counting them and sorting the page out of them reads them once instead of
        // twice or more.
        let counted_with_page =
            (backend == Backend::Postgres && query.search.is_some() && query.limit.is_some()).then(|| {
                CountedWithPage {
                    filters: sql.filters_clause(),
                    cursor: sql.cursor.clone(),
                }
            });
        Listing {
            count_sql,
            count_binds,
            page_filters: sql.where_clause(),
            page_binds: sql.binds,
            counted_with_page,
            order_by: order_by(query.sort, order, dated_only),
            limit: query.limit,
        }
    }

    fn limit_clause(&self) -> String {
        self.limit.map(|n| format!(" LIMIT {}", n + 1)).unwrap_or_default()
    }

    /// The page, one row per task; where [`Listing::counted_with_page`] is set, every row also
    /// carries the number of matches on all pages, from the same reading of them (`MATERIALIZED`:
    /// else PostgreSQL would fold the matches into each of their two readers and find them
    /// twice).
    fn postgres_page_sql(&self) -> String {
        const COLUMNS: &str = "id, title, description, completed, priority, tags, due_at, created_at, updated_at";
        match &self.counted_with_page {
            None => format!(
                "SELECT {COLUMNS} FROM tasks WHERE {} ORDER BY {}{}",
                self.page_filters,
                self.order_by,
                self.limit_clause()
            ),
            Some(CountedWithPage { filters, cursor }) => format!(
                "WITH matches AS MATERIALIZED (SELECT {COLUMNS} FROM tasks WHERE {filters}) \
                 SELECT {COLUMNS}, (SELECT COUNT(*) FROM matches) FROM matches WHERE {} ORDER BY {}{}",
                cursor.as_deref().unwrap_or("TRUE"),
                self.order_by,
                self.limit_clause()
            ),
        }
    }

    /// The page as one JSON array built inside SQLite: one value to copy out instead of a row
    /// and nine columns per task.
    fn sqlite_page_sql(&self) -> String {
        format!(
            "SELECT json_group_array(json_array(id, title, description, completed, priority, json(tags), due_at, \
             created_at, updated_at) ORDER BY {order}) FROM (SELECT * FROM tasks WHERE {filters} ORDER BY {order}{limit})",
            order = self.order_by,
            filters = self.page_filters,
            limit = self.limit_clause()
        )
    }
}

/// `AND`-ed conditions; `$1` is the user id.
#[derive(Default)]
struct Conditions {
    parts: Vec<String>,
    /// Where a page after the first starts: see [`Conditions::after`].
    cursor: Option<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    /// Binds a value and returns its placeholder number.
    fn bind(&mut self, value: Bind) -> usize {
        self.binds.push(value);
        self.binds.len() + 1
    }

    fn push(&mut self, condition: String) {
        self.parts.push(condition);
    }

    /// `prefix` ends in `$`; the placeholder number follows it.
    fn add(&mut self, prefix: &str, value: Bind) {
        self.add_with(prefix, value, "");
    }

    /// As [`Conditions::add`], with `suffix` after the placeholder.
    fn add_with(&mut self, prefix: &str, value: Bind, suffix: &str) {
        let n = self.bind(value);
        self.parts.push(format!("{prefix}{n}{suffix}"));
    }

    /// The filters and the cursor.
    fn where_clause(&self) -> String {
        let mut clause = self.filters_clause();
        if let Some(cursor) = &self.cursor {
            clause.push_str(" AND ");
            clause.push_str(cursor);
        }
        clause
    }

    /// The filters alone: every match, on every page.
    fn filters_clause(&self) -> String {
        let mut clause = String::from("user_id = $1");
        for part in &self.parts {
            clause.push_str(" AND ");
            clause.push_str(part);
        }
        clause
    }

    /// Only the tasks after `cursor` in the listing's order: the sort key beyond the cursor's,
    /// or equal to it with a greater id (ties are always broken by id, ascending).
    fn after(&mut self, cursor: &Cursor, order: SortOrder) {
        let beyond = match order {
            SortOrder::Asc => ">",
            SortOrder::Desc => "<",
        };
        let id = self.bind(Bind::Int(cursor.id));
        let condition = match &cursor.key {
            CursorKey::None => format!("id {beyond} ${id}"),
            CursorKey::Rank(rank) => {
                let k = self.bind(Bind::Int((*rank).into()));
                format!("(priority {beyond} ${k} OR (priority = ${k} AND id > ${id}))")
            }
            CursorKey::Title(title) => {
                let k = self.bind(Bind::Text(title.clone()));
                format!("(lower(title) {beyond} lower(${k}) OR (lower(title) = lower(${k}) AND id > ${id}))")
            }
            // Undated tasks come after every dated one, whichever the direction.
            CursorKey::Due(Some(at)) => {
                let k = self.bind(Bind::Time(*at));
                format!(
                    "((due_at IS NOT NULL AND (due_at {beyond} ${k} OR (due_at = ${k} AND id > ${id}))) OR due_at IS NULL)"
                )
            }
            CursorKey::Due(None) => format!("(due_at IS NULL AND id > ${id})"),
        };
        self.cursor = Some(condition);
    }
}

/// `dated_only`: the filters admit only tasks with a due date, so a due-date sort need not put the
/// undated last, and the index of `(user_id, due_at, id)` serves the filter's range and the page's
/// order at once instead of a sort of every task in the range.
fn order_by(sort: TaskSort, order: SortOrder, dated_only: bool) -> String {
    let dir = match order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    match sort {
        TaskSort::Created => format!("id {dir}"),
        TaskSort::Priority => format!("priority {dir}, id ASC"),
        TaskSort::Title => format!("lower(title) {dir}, id ASC"),
        TaskSort::Due if dated_only && order == SortOrder::Asc => "due_at ASC, id ASC".into(),
        TaskSort::Due => format!("(due_at IS NULL) ASC, due_at {dir}, id ASC"),
    }
}

/// `LIKE` reads `%`, `_` and the escape character itself as patterns; these match them literally.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// PostgreSQL: one row per task, which arrive together in one reply, and the number of tasks on
/// all pages where the rows carry it. The owner is known, so listings do not select it: decoding
/// the same string 1,000 times was a measurable share of listing a long list.
async fn list_rows(
    pool: &sqlx::PgPool,
    user_id: &str,
    listing: &Listing,
) -> Result<(Vec<Task>, Option<u64>), StoreError> {
    let query = sqlx::query(AssertSqlSafe(listing.postgres_page_sql())).bind(user_id);
    let rows = bind_each!(query, &listing.page_binds).fetch_all(pool).await?;
    // A page past the last match has no row to carry the count: the caller counts on its own.
    let counted = match (&listing.counted_with_page, rows.first()) {
        (Some(_), Some(row)) => Some(row.try_get::<i64, _>(9)? as u64),
        _ => None,
    };
    let tasks = rows
        .iter()
        .map(|row| {
            Ok(Task {
                id: row.try_get(0)?,
                user_id: user_id.to_string(),
                title: row.try_get(1)?,
                description: row.try_get(2)?,
                completed: row.try_get(3)?,
                priority: stored_priority(row.try_get(4)?)?,
                tags: stored_tags(row.try_get(5)?)?,
                due_at: row.try_get(6)?,
                created_at: row.try_get(7)?,
                updated_at: row.try_get(8)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((tasks, counted))
}

/// SQLite: the whole page as one JSON array built by SQLite. sqlx-sqlite runs each connection on
/// a thread of its own and hands every row over to the async side separately (each column value
/// copied, a channel send and a wake-up per row), which for 50 tasks cost more than the query;
/// one row crosses once.
async fn list_as_json(pool: &sqlx::SqlitePool, user_id: &str, listing: &Listing) -> Result<Vec<Task>, StoreError> {
    let query = sqlx::query_scalar::<_, String>(AssertSqlSafe(listing.sqlite_page_sql())).bind(user_id);
    let json = bind_each!(query, &listing.page_binds).fetch_one(pool).await?;
    // Timestamps are stored as RFC 3339 text (sqlx's encoding), which holds nothing to unescape,
    // so they are borrowed rather than copied before parsing.
    type Json<'a> = (
        i64,
        String,
        Option<String>,
        u8,
        i32,
        Vec<String>,
        Option<&'a str>,
        &'a str,
        &'a str,
    );
    let rows: Vec<Json<'_>> =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("task list: {e}")))?;
    rows.into_iter()
        .map(
            |(id, title, description, completed, priority, tags, due_at, created_at, updated_at)| {
                Ok(Task {
                    id,
                    user_id: user_id.to_string(),
                    title,
                    description,
                    completed: completed != 0,
                    priority: stored_priority(priority)?,
                    tags,
                    due_at: due_at.map(stored_time).transpose()?,
                    created_at: stored_time(created_at)?,
                    updated_at: stored_time(updated_at)?,
                })
            },
        )
        .collect()
}

fn stored_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {text:?}: {e}")))
}
