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
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `all` (default), `pending` or `completed`.
    #[param(value_type = StatusFilter, required = false)]
    pub status: Option<StatusFilter>,
}

/// The patterns are `domain::TEXT_PATTERN` (no NUL, not blank: `domain::trim_blank` trims what
/// `\s` matches) and `domain::NO_NUL_PATTERN`; a test holds them equal, as attributes cannot name
/// a constant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1 to 200 characters, not all white space; stored trimmed.
    #[schema(
        example = "Buy milk",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    pub title: String,
    /// At most 1000 characters; blank or null means none.
    #[schema(max_length = 1000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
}

/// Fields to change, at least one; absent fields stay as they are. An empty or null
/// description removes it; a title or completion cannot be null.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateTask {
    /// 1 to 200 characters, not all white space; stored trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub title: Option<String>,
    /// At most 1000 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, max_length = 1000, pattern = r"^[^\u0000]*$")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub completed: Option<bool>,
}

/// A field that was in the body (absent ones default to `None`): `null` is kept as the field's
/// own value, so it is refused where the type has no null, and kept apart from "absent" where
/// it does.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
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
    // A null description removes it, as an empty one does.
    let description = body.description.as_ref().map(|d| d.as_deref().unwrap_or_default());
    let changes = TaskChanges::parse(body.title.as_deref(), description, body.completed)?;
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
