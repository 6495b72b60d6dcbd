//! The JSON shapes of tasks that the tools, resources and prompts answer with, one definition
//! for all three (a resource reads as the list_tasks tool's result).

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use todo_core::domain::{Priority, Task};

/// What a change did.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskChange {
    pub task_id: i64,
    /// "created", "completed", "deleted" or "updated".
    pub status: String,
    pub title: String,
    pub priority: Priority,
    pub tags: Vec<String>,
    /// RFC 3339 in UTC, or null.
    pub due_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskItem {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: Priority,
    pub tags: Vec<String>,
    /// RFC 3339 in UTC, or null.
    pub due_at: Option<String>,
    /// Pending and past its due date.
    pub overdue: bool,
    pub created_at: String,
}

impl From<Task> for TaskItem {
    fn from(task: Task) -> Self {
        TaskItem {
            overdue: task.is_overdue(Utc::now()),
            id: task.id,
            title: task.title,
            description: task.description,
            completed: task.completed,
            priority: task.priority,
            tags: task.tags,
            due_at: task.due_at.map(rfc3339),
            created_at: task.created_at.to_rfc3339(),
        }
    }
}

pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskItem>,
    /// How many tasks are listed.
    pub count: usize,
    /// How many tasks match, listed or not (more than count when a limit cut the list).
    pub total: u64,
    pub pending: usize,
    pub completed: usize,
    pub overdue: usize,
}

impl From<Vec<Task>> for TaskList {
    fn from(tasks: Vec<Task>) -> Self {
        let total = tasks.len() as u64;
        TaskList::page(tasks, total)
    }
}

impl TaskList {
    pub fn page(tasks: Vec<Task>, total: u64) -> Self {
        let completed = tasks.iter().filter(|t| t.completed).count();
        let now = Utc::now();
        TaskList {
            count: tasks.len(),
            total,
            pending: tasks.len() - completed,
            completed,
            overdue: tasks.iter().filter(|t| t.is_overdue(now)).count(),
            tasks: tasks.into_iter().map(TaskItem::from).collect(),
        }
    }
}
