//! The task tools. Identity comes from the verified bearer token (put in the request by the auth
//! middleware); `user_id` stays in the arguments for compatibility with the original contract, but
//! any value other than the token's subject is refused, so no argument can reach another user.

use chrono::{Duration, Utc};
use rmcp::handler::server::common::Extension;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use todo_core::db::StoreError;
use todo_core::domain::{
    NewTask, Priority, StatusFilter, Task, TaskChanges, TaskQuery, TaskSort, UserZone, parse_due, validate_search,
    validate_tag, validate_tags,
};

use crate::identity::signed_in;
use crate::server::TodoServer;
use crate::views::{TaskChange, TaskList, rfc3339};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTaskArgs {
    /// The signed-in user's id.
    pub user_id: String,
    /// What needs doing, 1 to 200 characters, e.g. "Buy groceries".
    pub title: String,
    /// Optional details, at most 1000 characters.
    pub description: Option<String>,
    /// "high", "medium" (default) or "low".
    pub priority: Option<Priority>,
    /// Up to 10 one-word labels, e.g. ["groceries"]; a leading # is dropped, case is lowered.
    pub tags: Option<Vec<String>>,
    /// When it is due: a date ("2026-03-03", meaning the end of that day), a local date-time
    /// ("2026-03-03T17:00") or RFC 3339 with an offset. Local times are in time_zone.
    pub due: Option<String>,
    /// The user's IANA time zone, e.g. "Europe/Berlin"; defaults to the one the client sent, else UTC.
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// The signed-in user's id.
    pub user_id: String,
    /// Which tasks: "all" (default), "pending" or "completed".
    pub status: Option<StatusFilter>,
    /// Only tasks of this priority.
    pub priority: Option<Priority>,
    /// Only tasks with this tag (a leading # is dropped).
    pub tag: Option<String>,
    /// Only tasks whose title or description contains this text, ignoring case.
    pub search: Option<String>,
    /// Only tasks due by the end of the day this many days from today (0: today), overdue ones included.
    #[schemars(range(max = 3660))]
    pub due_within_days: Option<u32>,
    /// true: only pending tasks whose due date has passed.
    pub overdue: Option<bool>,
    /// "created" (default, oldest first), "due" (soonest first), "priority" (most important first) or "title".
    pub sort: Option<TaskSort>,
    /// At most this many tasks (1 to 100); `total` still counts every match.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// The user's IANA time zone for due_within_days; defaults to the one the client sent, else UTC.
    pub time_zone: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskIdArgs {
    /// The signed-in user's id.
    pub user_id: String,
    /// The task's id, as shown by list_tasks.
    pub task_id: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskArgs {
    /// The signed-in user's id.
    pub user_id: String,
    /// The task's id, as shown by list_tasks.
    pub task_id: i64,
    /// The new title, 1 to 200 characters; omit to keep the current one.
    pub title: Option<String>,
    /// The new description; an empty string removes it; omit to keep the current one.
    pub description: Option<String>,
    /// The new priority: "high", "medium" or "low".
    pub priority: Option<Priority>,
    /// Replaces every tag; [] removes them all.
    pub tags: Option<Vec<String>>,
    /// Tags to add to the ones the task has.
    pub add_tags: Option<Vec<String>>,
    /// Tags to take off.
    pub remove_tags: Option<Vec<String>>,
    /// The new due date, as add_task takes it; an empty string removes it.
    pub due: Option<String>,
    /// The user's IANA time zone for a local due; defaults to the one the client sent, else UTC.
    pub time_zone: Option<String>,
}

/// The zone that local times mean: the argument, else the `X-Time-Zone` the client sent with
/// the request (the agent forwards the browser's), else UTC.
fn user_zone(parts: &http::request::Parts, argument: Option<&str>) -> Result<UserZone, String> {
    if let Some(name) = argument {
        return UserZone::parse("time_zone", name).map_err(|e| e.to_string());
    }
    match parts.headers.get(TIME_ZONE_HEADER).and_then(|v| v.to_str().ok()) {
        Some(name) => UserZone::parse(TIME_ZONE_HEADER, name).map_err(|e| e.to_string()),
        None => Ok(UserZone::utc()),
    }
}

/// Tags as models write them: `#work` is the tag `work`.
fn tags_of(raw: &[String]) -> Result<Vec<String>, String> {
    let plain: Vec<String> = raw
        .iter()
        .map(|t| t.trim().trim_start_matches('#').to_string())
        .collect();
    validate_tags(&plain).map_err(|e| e.to_string())
}

/// The acting user: the token's subject, provided the `user_id` argument names the same user.
fn acting_user(parts: &http::request::Parts, user_id: &str) -> Result<String, String> {
    let user = signed_in(parts)?;
    if user.id() != user_id {
        return Err(format!(
            "user_id {user_id:?} is not the signed-in user; this connection can only act for {:?}",
            user.id()
        ));
    }
    Ok(user.id().to_string())
}

/// A store failure as a message a model can act on.
pub(crate) fn explain(err: StoreError, task_id: Option<i64>) -> String {
    match (err, task_id) {
        (StoreError::NotFound, Some(id)) => format!("task {id} not found; call list_tasks to see the task ids"),
        (StoreError::Unavailable(_), _) => "the task database is unavailable right now; try again shortly".into(),
        (StoreError::LimitReached(message), _) => message,
        (other, _) => {
            tracing::error!(error = %other, "tool failed");
            "internal error while accessing tasks".into()
        }
    }
}

/// A tool's structured output, with the serialized copy as text that the spec asks for (for
/// clients that read only `content`). rmcp's `Json` wrapper prints the text from the
/// `serde_json::Value` through `fmt`; serializing the struct itself is cheaper: 7 to 9% of the
/// instructions of listing 50 tasks (`cargo xtask bench mcp --instructions`). The output schemas,
/// which `Json` derives, are named in each `#[tool]` instead.
fn structured<T: Serialize>(output: &T) -> Result<CallToolResult, McpError> {
    let failed = |e: serde_json::Error| McpError::internal_error(format!("cannot serialize the result: {e}"), None);
    let text = serde_json::to_string(output).map_err(failed)?;
    let value = serde_json::to_value(output).map_err(failed)?;
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    Ok(result)
}

/// What a tool hands back: its output, or a message for the model (an `isError` result).
type ToolResult = Result<Result<CallToolResult, McpError>, String>;

fn change(task: Task, status: &str) -> Result<CallToolResult, McpError> {
    structured(&TaskChange {
        task_id: task.id,
        status: status.into(),
        title: task.title,
        priority: task.priority,
        tags: task.tags,
        due_at: task.due_at.map(rfc3339),
    })
}

/// The header a client sends its user's IANA time zone in.
pub const TIME_ZONE_HEADER: &str = "x-time-zone";

#[tool_router(vis = "pub(crate)")]
impl TodoServer {
    #[tool(
        description = "Create a task for the user, optionally with a priority, tags and a due date. Use when the user asks to add, remember or be reminded of something. Returns the new task.",
        annotations(
            title = "Add task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<TaskChange>()
    )]
    async fn add_task(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<AddTaskArgs>,
    ) -> ToolResult {
        let user = acting_user(&parts, &args.user_id)?;
        let zone = user_zone(&parts, args.time_zone.as_deref())?;
        let task = NewTask {
            priority: args.priority.unwrap_or_default(),
            tags: args.tags.as_deref().map(tags_of).transpose()?.unwrap_or_default(),
            due_at: args
                .due
                .as_deref()
                .map(|due| parse_due("due", due, &zone))
                .transpose()
                .map_err(|e| e.to_string())?,
            ..NewTask::parse(&args.title, args.description.as_deref()).map_err(|e| e.to_string())?
        };
        let task = self
            .db
            .create_task_within(&user, &task, self.caps.tasks_per_user)
            .await
            .map_err(|e| explain(e, None))?;
        Ok(change(task, "created"))
    }

    #[tool(
        description = "List the user's tasks with their ids, priorities, tags and due dates, filtered by status, priority, tag, text, due window or overdue, with counts. Use it to answer questions about tasks and to find a task's id before changing it.",
        annotations(title = "List tasks", read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<TaskList>()
    )]
    async fn list_tasks(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ListTasksArgs>,
    ) -> ToolResult {
        let user = acting_user(&parts, &args.user_id)?;
        let zone = user_zone(&parts, args.time_zone.as_deref())?;
        let due_before = match args.due_within_days {
            Some(days) => {
                let today = zone.local(Utc::now()).date();
                let last = today
                    .checked_add(jiff::Span::new().days(i64::from(days)))
                    .map_err(|e| e.to_string())?;
                // The first second after the last day: due_before is exclusive.
                Some(zone.end_of_day(last).ok_or("due_within_days is out of range")? + Duration::seconds(1))
            }
            None => None,
        };
        let query = TaskQuery {
            status: args.status.unwrap_or_default(),
            priority: args.priority,
            tag: args
                .tag
                .as_deref()
                .map(|t| validate_tag("tag", t.trim().trim_start_matches('#')))
                .transpose()
                .map_err(|e| e.to_string())?,
            search: args
                .search
                .as_deref()
                .map(|q| validate_search("search", q))
                .transpose()
                .map_err(|e| e.to_string())?
                .flatten(),
            due_before,
            overdue: args.overdue.unwrap_or(false),
            sort: args.sort.unwrap_or_default(),
            limit: args.limit.map(|n| n.clamp(1, todo_core::domain::PAGE_MAX)),
            ..TaskQuery::default()
        };
        let page = self.db.query_tasks(&user, &query).await.map_err(|e| explain(e, None))?;
        Ok(structured(&TaskList::page(page.tasks, page.total)))
    }

    #[tool(
        description = "Mark a task as completed, by id. Completing an already completed task leaves it completed.",
        annotations(
            title = "Complete task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<TaskChange>()
    )]
    async fn complete_task(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<TaskIdArgs>,
    ) -> ToolResult {
        let user = acting_user(&parts, &args.user_id)?;
        let changes = TaskChanges {
            completed: Some(true),
            ..TaskChanges::default()
        };
        let task = self
            .db
            .update_task(&user, args.task_id, &changes)
            .await
            .map_err(|e| explain(e, Some(args.task_id)))?;
        Ok(change(task, "completed"))
    }

    #[tool(
        description = "Delete a task permanently, by id.",
        annotations(
            title = "Delete task",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<TaskChange>()
    )]
    async fn delete_task(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<TaskIdArgs>,
    ) -> ToolResult {
        let user = acting_user(&parts, &args.user_id)?;
        let task = self
            .db
            .delete_task(&user, args.task_id)
            .await
            .map_err(|e| explain(e, Some(args.task_id)))?;
        Ok(change(task, "deleted"))
    }

    #[tool(
        description = "Change a task's title, description, priority, tags or due date, by id. Give only the fields to change.",
        annotations(
            title = "Update task",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = schema_for_output::<TaskChange>()
    )]
    async fn update_task(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<UpdateTaskArgs>,
    ) -> ToolResult {
        let user = acting_user(&parts, &args.user_id)?;
        let zone = user_zone(&parts, args.time_zone.as_deref())?;
        let mut changes =
            TaskChanges::parse(args.title.as_deref(), args.description.as_deref(), None).map_err(|e| e.to_string())?;
        changes.priority = args.priority;
        changes.due_at = match args.due.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(due) => Some(Some(parse_due("due", due, &zone).map_err(|e| e.to_string())?)),
        };
        let mut tags = args.tags.as_deref().map(tags_of).transpose()?;
        if args.add_tags.is_some() || args.remove_tags.is_some() {
            let current = match tags.take() {
                Some(given) => given,
                None => {
                    self.db
                        .get_task(&user, args.task_id)
                        .await
                        .map_err(|e| explain(e, Some(args.task_id)))?
                        .tags
                }
            };
            let add = tags_of(args.add_tags.as_deref().unwrap_or_default())?;
            let remove = tags_of(args.remove_tags.as_deref().unwrap_or_default())?;
            let mut merged: Vec<String> = current.into_iter().filter(|t| !remove.contains(t)).collect();
            merged.extend(add.into_iter().filter(|t| !remove.contains(t)));
            tags = Some(validate_tags(&merged).map_err(|e| e.to_string())?);
        }
        changes.tags = tags;
        let changes = changes.require_some().map_err(|e| e.to_string())?;
        let task = self
            .db
            .update_task(&user, args.task_id, &changes)
            .await
            .map_err(|e| explain(e, Some(args.task_id)))?;
        Ok(change(task, "updated"))
    }
}
