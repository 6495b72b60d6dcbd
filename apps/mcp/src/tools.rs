//! The task tools. Identity comes from the verified bearer token (put in the request by the auth
//! middleware); `user_id` stays in the arguments for compatibility with the original contract, but
//! any value other than the token's subject is refused, so no argument can reach another user.

use rmcp::handler::server::common::Extension;
use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use todo_core::db::StoreError;
use todo_core::domain::{NewTask, StatusFilter, Task, TaskChanges};

use crate::server::{TodoServer, signed_in};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTaskArgs {
    /// The signed-in user's id.
    pub user_id: String,
    /// What needs doing, 1 to 200 characters, e.g. "Buy groceries".
    pub title: String,
    /// Optional details, at most 1000 characters.
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTasksArgs {
    /// The signed-in user's id.
    pub user_id: String,
    /// Which tasks: "all" (default), "pending" or "completed".
    pub status: Option<StatusFilter>,
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
}

/// What a change did.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskChange {
    pub task_id: i64,
    /// "created", "completed", "deleted" or "updated".
    pub status: String,
    pub title: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskItem {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub created_at: String,
}

impl From<Task> for TaskItem {
    fn from(task: Task) -> Self {
        TaskItem {
            id: task.id,
            title: task.title,
            description: task.description,
            completed: task.completed,
            created_at: task.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskItem>,
    /// How many tasks are listed.
    pub count: usize,
    pub pending: usize,
    pub completed: usize,
}

impl From<Vec<Task>> for TaskList {
    fn from(tasks: Vec<Task>) -> Self {
        let completed = tasks.iter().filter(|t| t.completed).count();
        TaskList {
            count: tasks.len(),
            pending: tasks.len() - completed,
            completed,
            tasks: tasks.into_iter().map(TaskItem::from).collect(),
        }
    }
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
    })
}

#[tool_router(vis = "pub(crate)")]
impl TodoServer {
    #[tool(
        description = "Create a task for the user. Use when the user asks to add, remember or be reminded of something. Returns the new task's id and title.",
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
        let task = NewTask::parse(&args.title, args.description.as_deref()).map_err(|e| e.to_string())?;
        let task = self.db.create_task(&user, &task).await.map_err(|e| explain(e, None))?;
        Ok(change(task, "created"))
    }

    #[tool(
        description = "List the user's tasks with their ids, optionally only pending or only completed ones, with counts. Use it to answer questions about tasks and to find a task's id before changing it.",
        annotations(title = "List tasks", read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<TaskList>()
    )]
    async fn list_tasks(
        &self,
        Extension(parts): Extension<http::request::Parts>,
        Parameters(args): Parameters<ListTasksArgs>,
    ) -> ToolResult {
        let user = acting_user(&parts, &args.user_id)?;
        let tasks = self
            .db
            .list_tasks(&user, args.status.unwrap_or_default())
            .await
            .map_err(|e| explain(e, None))?;
        Ok(structured(&TaskList::from(tasks)))
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
        description = "Change a task's title and/or description, by id. Give only the fields to change.",
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
        let changes = TaskChanges::parse(args.title.as_deref(), args.description.as_deref(), None)
            .and_then(TaskChanges::require_some)
            .map_err(|e| e.to_string())?;
        let task = self
            .db
            .update_task(&user, args.task_id, &changes)
            .await
            .map_err(|e| explain(e, Some(args.task_id)))?;
        Ok(change(task, "updated"))
    }
}
