//! The task REST API: `/api/{user_id}/tasks…`, the contract of the original stack.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, HeaderValue, Uri};
use serde::Deserialize;
use todo_core::domain::{
    NewTask, Priority, SortOrder, StatusFilter, Task, TaskChanges, TaskQuery, TaskSort, parse_timestamp, validate_tags,
};
use todo_core::http::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use utoipa::{IntoParams, ToSchema};

use crate::extract::Owner;
use crate::state::AppState;

/// The parameters of a listing, for the document: the handler reads them with
/// `TaskQuery::from_params`, which names the parameter at fault in a 422.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// `all` (default), `pending` or `completed`.
    #[param(value_type = StatusFilter, required = false)]
    pub status: Option<StatusFilter>,
    /// Text to find in the title or description, ignoring case.
    #[param(required = false, max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
    #[param(value_type = Priority, required = false)]
    pub priority: Option<Priority>,
    /// Tasks with this tag.
    #[param(
        required = false,
        min_length = 1,
        max_length = 30,
        pattern = r#"^[^\u0000-\u001f \u007f-\u009f\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff"\\,#][^\u0000-\u001f \u007f-\u009f\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff"\\,]*$"#
    )]
    pub tag: Option<String>,
    /// Tasks due before this instant (RFC 3339).
    #[param(required = false, value_type = String, format = DateTime)]
    pub due_before: Option<String>,
    /// Tasks due at or after this instant (RFC 3339).
    #[param(required = false, value_type = String, format = DateTime)]
    pub due_after: Option<String>,
    /// `true`: only pending tasks whose due date has passed.
    #[param(required = false)]
    pub overdue: Option<bool>,
    /// `created` (default, oldest first), `due` (soonest first; undated last), `priority`
    /// (most important first) or `title` (A to Z, ignoring case).
    #[param(value_type = TaskSort, required = false)]
    pub sort: Option<TaskSort>,
    /// Reverses the sort's natural direction when it is the other one; undated tasks stay last.
    #[param(value_type = SortOrder, required = false)]
    pub order: Option<SortOrder>,
    /// Tasks per page, 1 to 100; 50 when any parameter but `status` is given. A listing with
    /// no parameter but `status` is the original one: every task, unpaged.
    #[param(required = false, minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `X-Next-Cursor` of the previous page: the listing continues in that page's sort and
    /// order, whatever `sort` and `order` say.
    #[param(
        required = false,
        pattern = r"^(created\.(asc|desc)\.[0-9]{1,18}\.|priority\.(asc|desc)\.[0-9]{1,18}\.[1-3]|due\.(asc|desc)\.[0-9]{1,18}\.[0-9]{0,11}|title\.(asc|desc)\.[0-9]{1,18}\.([0-9a-f]{2})*)$"
    )]
    pub cursor: Option<String>,
}

/// The patterns are `domain::TITLE_PATTERN` (one visible line), `domain::TEXT_PATTERN` (no NUL,
/// not blank: `domain::trim_blank` trims what `\s` matches), `domain::NO_NUL_PATTERN` and
/// `domain::TAG_PATTERN`; a test holds them equal,
/// as attributes cannot name a constant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1 to 200 characters: one line, not all white space, no text-direction characters; stored trimmed.
    #[schema(
        example = "Buy milk",
        min_length = 1,
        max_length = 200,
        pattern = r"^[\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200b-\u200d\u2060-\u2064][^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*[\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*$"
    )]
    pub title: String,
    /// At most 1000 characters; blank or null means none.
    #[schema(max_length = 1000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    /// `medium` when absent.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Priority, required = false)]
    pub priority: Option<Priority>,
    /// At most 10, stored lower-cased without duplicates.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<Tag>, required = false, max_items = 10)]
    pub tags: Option<Vec<String>>,
    /// When it is due (RFC 3339), stored in UTC to the second; null or absent means never.
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-03-03T17:00:00+01:00")]
    pub due_at: Option<String>,
}

/// A tag: one word without spaces, commas, quotes or backslashes, not starting with `#`.
#[derive(ToSchema)]
#[schema(
    min_length = 1,
    max_length = 30,
    example = "groceries",
    pattern = r#"^[^\u0000-\u001f \u007f-\u009f\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff"\\,#][^\u0000-\u001f \u007f-\u009f\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u2069\u3000\ufeff"\\,]*$"#
)]
#[allow(dead_code)]
pub struct Tag(String);

/// Fields to change, at least one; absent fields stay as they are. An empty or null
/// description removes it, as a null due date does, and an empty list of tags; a title,
/// completion or priority cannot be null.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UpdateTask {
    /// 1 to 200 characters: one line, not all white space, no text-direction characters; stored trimmed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 200, pattern = r"^[\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*[^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff\u200b-\u200d\u2060-\u2064][^\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]*[\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*$")]
    pub title: Option<String>,
    /// At most 1000 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, max_length = 1000, pattern = r"^[^\u0000]*$")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool, required = false)]
    pub completed: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Priority, required = false)]
    pub priority: Option<Priority>,
    /// The whole new list, at most 10; `[]` removes every tag.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<Tag>, required = false, max_items = 10)]
    pub tags: Option<Vec<String>>,
    /// RFC 3339; null removes the due date.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = false, format = DateTime)]
    pub due_at: Option<Option<String>>,
}

impl UpdateTask {
    fn into_changes(self) -> Result<TaskChanges, ApiError> {
        // A null description removes it, as an empty one does.
        let description = self.description.as_ref().map(|d| d.as_deref().unwrap_or_default());
        let mut changes = TaskChanges::parse(self.title.as_deref(), description, self.completed)?;
        changes.priority = self.priority;
        changes.tags = self.tags.as_deref().map(validate_tags).transpose()?;
        changes.due_at = self
            .due_at
            .map(|due| due.as_deref().map(|d| parse_timestamp("due_at", d)).transpose())
            .transpose()?;
        Ok(changes.require_some()?)
    }
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

/// List the user's tasks: filtered, sorted and paged.
///
/// The body is the page, an array as it always was; `X-Total-Count` counts the matching tasks on
/// every page, and when more follow, `X-Next-Cursor` (and a `Link` with `rel="next"`) says where
/// the next page starts.
#[utoipa::path(get, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ListParams),
    responses(
        (status = 200, body = [Task], headers(
            ("X-Total-Count" = u64, description = "Matching tasks on all pages"),
            ("X-Next-Cursor" = String, description = "Send as `cursor` for the next page; absent on the last"),
            ("Link" = String, description = "The next page's URL, `rel=\"next\"`; absent on the last"),
        )),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "A parameter is not one of its values; the error names it")))]
pub async fn list(
    State(state): State<AppState>,
    owner: Owner,
    uri: Uri,
    ApiQuery(params): ApiQuery<Vec<(String, String)>>,
) -> Result<(HeaderMap, ApiJson<Vec<Task>>), ApiError> {
    let query = TaskQuery::from_params(&params)?;
    let page = state.db.query_tasks(owner.id(), &query).await?;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(page.total));
    if let Some(cursor) = &page.next_cursor {
        // Cursors are letters, digits and dots, which a header and a query string carry as they are.
        let mut next: Vec<String> = params
            .iter()
            .filter(|(name, _)| name != "cursor")
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect();
        next.push(format!("cursor={cursor}"));
        let link = format!("<{}?{}>; rel=\"next\"", uri.path(), next.join("&"));
        if let (Ok(cursor), Ok(link)) = (HeaderValue::from_str(cursor), HeaderValue::from_str(&link)) {
            headers.insert("x-next-cursor", cursor);
            headers.insert("link", link);
        }
    }
    Ok((headers, ApiJson(page.tasks)))
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Create a task.
#[utoipa::path(post, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = CreateTask,
    responses((status = 201, body = Task), (status = 409, description = "The account holds as many tasks as it may (`limit_reached`)", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    owner: Owner,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<(StatusCode, ApiJson<Task>), ApiError> {
    state.throttle.write(owner.id())?;
    let task = NewTask {
        priority: body.priority.unwrap_or_default(),
        tags: body.tags.as_deref().map(validate_tags).transpose()?.unwrap_or_default(),
        due_at: body
            .due_at
            .as_deref()
            .map(|d| parse_timestamp("due_at", d))
            .transpose()?,
        ..NewTask::parse(&body.title, body.description.as_deref())?
    };
    Ok((
        StatusCode::CREATED,
        ApiJson(
            state
                .db
                .create_task_within(owner.id(), &task, state.caps.tasks_per_user)
                .await?,
        ),
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

/// Change any of a task's fields; absent fields stay as they are (as with `PATCH`).
#[utoipa::path(put, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)), request_body = UpdateTask,
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(TaskPath { id, .. }): ApiPath<TaskPath>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> Result<ApiJson<Task>, ApiError> {
    change(&state, &owner, id, body).await
}

/// Change some of a task's fields; absent fields stay as they are.
#[utoipa::path(patch, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)), request_body = UpdateTask,
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    owner: Owner,
    ApiPath(TaskPath { id, .. }): ApiPath<TaskPath>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> Result<ApiJson<Task>, ApiError> {
    change(&state, &owner, id, body).await
}

async fn change(state: &AppState, owner: &Owner, id: i64, body: UpdateTask) -> Result<ApiJson<Task>, ApiError> {
    state.throttle.write(owner.id())?;
    let changes = body.into_changes()?;
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
    state.throttle.write(owner.id())?;
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
    state.throttle.write(owner.id())?;
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
