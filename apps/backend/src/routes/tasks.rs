//! The task REST API: `/api/{user_id}/tasks…`, the contract of the original stack.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use todo_core::domain::{NewTask, StatusFilter, Task, TaskChanges};
use todo_core::http::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use utoipa::{IntoParams, ToSchema};

use crate::extract::Owner;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// `all` (default), `pending` or `completed`.
    pub status: Option<StatusFilter>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1 to 200 characters after trimming.
    #[schema(example = "Buy milk")]
    pub title: String,
    /// At most 1000 characters.
    pub description: Option<String>,
}

/// Fields to change; absent fields stay as they are, an empty description clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    pub title: Option<String>,
    pub description: Option<String>,
    pub completed: Option<bool>,
}

/// `/api/{user_id}/tasks/{id}`; `user_id` is checked by `Owner`.
#[derive(Debug, Deserialize)]
pub struct TaskPath {
    #[allow(dead_code)]
    pub user_id: String,
    pub id: i64,
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("task {id} not found"))
}

/// List the user's tasks, oldest first.
#[utoipa::path(get, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ListQuery),
    responses((status = 200, body = [Task]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    owner: Owner,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<ApiJson<Vec<Task>>, ApiError> {
    Ok(ApiJson(
        state
            .db
            .list_tasks(owner.id(), query.status.unwrap_or_default())
            .await?,
    ))
}

/// Create a task.
#[utoipa::path(post, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = CreateTask,
    responses((status = 201, body = Task), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    owner: Owner,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<(StatusCode, ApiJson<Task>), ApiError> {
    let task = NewTask::parse(&body.title, body.description.as_deref())?;
    Ok((
        StatusCode::CREATED,
        ApiJson(state.db.create_task(owner.id(), &task).await?),
    ))
}

/// Get one task.
#[utoipa::path(get, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(TaskPath { id, .. }): ApiPath<TaskPath>,
) -> Result<ApiJson<Task>, ApiError> {
    state
        .db
        .get_task(owner.id(), id)
        .await
        .map(ApiJson)
        .map_err(|e| or_not_found(e, id))
}

/// Update a task's title, description or completion.
#[utoipa::path(put, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)), request_body = UpdateTask,
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(TaskPath { id, .. }): ApiPath<TaskPath>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> Result<ApiJson<Task>, ApiError> {
    let changes = TaskChanges::parse(body.title.as_deref(), body.description.as_deref(), body.completed)?;
    state
        .db
        .update_task(owner.id(), id, &changes)
        .await
        .map(ApiJson)
        .map_err(|e| or_not_found(e, id))
}

/// Delete a task.
#[utoipa::path(delete, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(TaskPath { id, .. }): ApiPath<TaskPath>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .delete_task(owner.id(), id)
        .await
        .map_err(|e| or_not_found(e, id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Toggle a task between pending and completed.
#[utoipa::path(patch, path = "/api/{user_id}/tasks/{id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
pub async fn toggle_complete(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(TaskPath { id, .. }): ApiPath<TaskPath>,
) -> Result<ApiJson<Task>, ApiError> {
    state
        .db
        .toggle_task(owner.id(), id)
        .await
        .map(ApiJson)
        .map_err(|e| or_not_found(e, id))
}

fn or_not_found(err: todo_core::db::StoreError, id: i64) -> ApiError {
    match err {
        todo_core::db::StoreError::NotFound => not_found(id),
        other => other.into(),
    }
}
