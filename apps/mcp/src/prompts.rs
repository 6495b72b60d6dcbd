//! Prompts: ready-made requests an MCP host offers its user (Claude Desktop shows them as slash
//! commands), each written so the host's model finishes the job with this server's own tools.

use rmcp::handler::server::common::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{GetPromptResult, PromptMessage, Role};
use rmcp::{ErrorData as McpError, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;
use todo_core::domain::StatusFilter;

use crate::identity::signed_in;
use crate::resources::{store_error, to_json};
use crate::server::TodoServer;
use crate::views::TaskList;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CaptureTasksArgs {
    /// Free-form notes, a meeting's minutes or an e-mail to turn into tasks.
    pub notes: String,
}

/// Notes longer than this are refused rather than sent to the model in part.
const MAX_NOTES: usize = 8_000;

#[prompt_router(vis = "pub(crate)")]
impl TodoServer {
    /// Plan today from the pending tasks: embeds them and asks for a short, ordered plan.
    #[prompt(
        name = "plan_my_day",
        description = "Plan today from my pending tasks: the few that matter most, in order, and what looks stale."
    )]
    async fn plan_my_day(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<GetPromptResult, McpError> {
        let user = signed_in(&parts).map_err(|e| McpError::invalid_request(e, None))?;
        let mut tasks = self
            .db
            .list_tasks(user.id(), StatusFilter::Pending)
            .await
            .map_err(store_error)?;
        // What is due first, then what matters most: overdue tasks lead, undated ones follow.
        tasks.sort_by_key(|t| (t.due_at.is_none(), t.due_at, std::cmp::Reverse(t.priority.rank()), t.id));
        let pending = TaskList::from(tasks);
        let list = to_json(&pending)?;
        let ask = if pending.count == 0 {
            "I have no pending tasks. Say so briefly and offer to add what I plan to do today with add_task."
                .to_string()
        } else {
            format!(
                "Here are my {} pending tasks, soonest due first, then by priority (overdue ones are \
                 marked). Help me plan today: pick at most three to do first, in order, with one line \
                 each on why. Then name any that look done or stale and ask whether \
                 to complete_task or delete_task them. Change nothing before I answer.",
                pending.count
            )
        };
        Ok(GetPromptResult::new(vec![
            PromptMessage::new_resource(
                Role::User,
                "todo://tasks/pending".into(),
                Some("application/json".into()),
                Some(list),
                None,
                None,
                None,
            ),
            PromptMessage::new_text(Role::User, ask),
        ])
        .with_description(format!("Plan the day from {} pending tasks", pending.count)))
    }

    /// Turn free-form notes into tasks with add_task.
    #[prompt(
        name = "capture_tasks",
        description = "Turn notes (minutes, an e-mail, a brain dump) into tasks, one add_task call per action."
    )]
    async fn capture_tasks(&self, Parameters(args): Parameters<CaptureTasksArgs>) -> Result<GetPromptResult, McpError> {
        let notes = args.notes.trim();
        if notes.is_empty() {
            return Err(McpError::invalid_params(
                "notes is empty: give the text to turn into tasks",
                None,
            ));
        }
        if notes.chars().count() > MAX_NOTES {
            return Err(McpError::invalid_params(
                format!("notes is longer than {MAX_NOTES} characters; split it into parts"),
                None,
            ));
        }
        let ask = format!(
            "Turn the notes below into tasks. For each distinct thing I have to do, call add_task once \
             with a short imperative title (at most 200 characters, e.g. \"Send Anna the budget\") and \
             any detail worth keeping as the description. Skip what is not an action of mine, and do not \
             add a task twice. Then list what you added, with the task ids.\n\nNotes:\n{notes}"
        );
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, ask)])
            .with_description("Capture tasks from notes"))
    }
}
