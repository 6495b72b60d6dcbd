//! The signed-in user's tasks as MCP resources, for hosts that attach context rather than call
//! tools (an MCP host's "add context" menu, a prompt that embeds the list). Read-only: changes go
//! through the tools. The same token-scoped identity applies: a URI names tasks of the caller only.

use rmcp::model::{
    CacheScope, ListResourceTemplatesResult, ListResourcesResult, ProtocolVersion, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use todo_core::db::{Db, StoreError};
use todo_core::domain::StatusFilter;

use crate::views::{TaskItem, TaskList};

const JSON: &str = "application/json";
const PREFIX: &str = "todo://tasks";
/// The one resource template: a single task by id.
pub const TASK_TEMPLATE: &str = "todo://tasks/{task_id}";

/// Whether `uri` names one of the task resources this server serves (a list, or a task by id),
/// to which a host may subscribe.
pub fn is_task_resource(uri: &str) -> bool {
    LISTS.iter().any(|list| list.uri == uri) || task_id(uri).is_some()
}

/// The id in `todo://tasks/{task_id}`.
fn task_id(uri: &str) -> Option<i64> {
    uri.strip_prefix(PREFIX)?.strip_prefix('/')?.parse().ok()
}

/// A task list a host can attach: the same JSON as the list_tasks tool's result.
struct TaskListResource {
    uri: &'static str,
    name: &'static str,
    filter: StatusFilter,
    title: &'static str,
    description: &'static str,
}

const LISTS: [TaskListResource; 3] = [
    TaskListResource {
        uri: "todo://tasks",
        name: "tasks",
        filter: StatusFilter::All,
        title: "All tasks",
        description: "Every task of the signed-in user, oldest first, with counts.",
    },
    TaskListResource {
        uri: "todo://tasks/pending",
        name: "pending_tasks",
        filter: StatusFilter::Pending,
        title: "Pending tasks",
        description: "The tasks still to do, oldest first, with counts.",
    },
    TaskListResource {
        uri: "todo://tasks/completed",
        name: "completed_tasks",
        filter: StatusFilter::Completed,
        title: "Completed tasks",
        description: "The tasks already done, oldest first, with counts.",
    },
];

/// 2026-07-28 results carry caching hints; older peers get the shape they know.
fn speaks_caching_hints(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28)
}

/// The list is the same for every user and every request: any cache may keep it.
pub fn list(context: &RequestContext<RoleServer>) -> ListResourcesResult {
    let resources = LISTS
        .iter()
        .map(|list| {
            Resource::new(list.uri, list.name)
                .with_title(list.title)
                .with_description(list.description)
                .with_mime_type(JSON)
        })
        .collect();
    let result = ListResourcesResult::with_all_items(resources);
    if speaks_caching_hints(context) {
        result.with_ttl_ms(0).with_cache_scope(CacheScope::Public)
    } else {
        result
    }
}

pub fn templates(context: &RequestContext<RoleServer>) -> ListResourceTemplatesResult {
    let template = ResourceTemplate::new(TASK_TEMPLATE, "task")
        .with_title("One task")
        .with_description("A single task of the signed-in user, by the id list_tasks shows.")
        .with_mime_type(JSON);
    let result = ListResourceTemplatesResult::with_all_items(vec![template]);
    if speaks_caching_hints(context) {
        result.with_ttl_ms(0).with_cache_scope(CacheScope::Public)
    } else {
        result
    }
}

/// Reads one of the user's lists or tasks. The answer is that user's own data, and tasks change at
/// any moment: only the user's client may cache it, and never as fresh.
pub async fn read(
    db: &Db,
    user: &str,
    uri: &str,
    context: &RequestContext<RoleServer>,
) -> Result<ReadResourceResult, McpError> {
    let json = render(db, user, uri).await?;
    let result = ReadResourceResult::new(vec![ResourceContents::text(json, uri).with_mime_type(JSON)]);
    Ok(if speaks_caching_hints(context) {
        result.with_ttl_ms(0).with_cache_scope(CacheScope::Private)
    } else {
        result
    })
}

/// The resource's JSON text, or the error a client can act on.
async fn render(db: &Db, user: &str, uri: &str) -> Result<String, McpError> {
    if let Some(list) = LISTS.iter().find(|list| list.uri == uri) {
        let tasks = db.list_tasks(user, list.filter).await.map_err(store_error)?;
        return to_json(&TaskList::from(tasks));
    }
    let not_found = || {
        McpError::resource_not_found(
            format!("no resource {uri:?}; read todo://tasks, or todo://tasks/{{task_id}} with an id list_tasks shows"),
            Some(serde_json::json!({ "uri": uri })),
        )
    };
    let id = task_id(uri).ok_or_else(not_found)?;
    match db.get_task(user, id).await {
        Ok(task) => to_json(&TaskItem::from(task)),
        // Another user's task is "not found" as well, exactly like a missing one.
        Err(StoreError::NotFound) => Err(not_found()),
        Err(other) => Err(store_error(other)),
    }
}

pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<String, McpError> {
    serde_json::to_string_pretty(value).map_err(|e| McpError::internal_error(format!("cannot encode tasks: {e}"), None))
}

/// A store failure as a protocol error (resources and prompts have no tool-error channel).
pub(crate) fn store_error(err: StoreError) -> McpError {
    match err {
        StoreError::Unavailable(_) => {
            McpError::internal_error("the task database is unavailable right now; try again shortly", None)
        }
        other => {
            tracing::error!(error = %other, "resource read failed");
            McpError::internal_error("internal error while reading tasks", None)
        }
    }
}
