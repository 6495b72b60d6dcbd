//! The offline provider: a deterministic engine that plays the model's part in the same loop, so
//! the product works with no API key and no network. Like a model, it reads the conversation,
//! asks for MCP tool calls (never the database), reads their results and writes the reply.
//!
//! Each call re-derives where it is from the messages alone, as a stateless model would:
//! 1. no tool calls yet: look tasks up by name with `list_tasks` when a request names one by its
//!    words, else make the calls directly;
//! 2. after the look-up: the calls for the tasks it resolved (several at once when asked for
//!    several things);
//! 3. after those: a reply saying what changed, and asking back about what it could not resolve.

mod parse;
mod reply;
mod slots;
mod text;
mod when;

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

pub use parse::{Change, Filter, Intent, Position, Query, Target, parse, parse_at};
pub use slots::Details;
pub use when::Due;

use crate::model::{ChatModel, Message, ModelFuture, ModelTurn, ToolCall, ToolSpec};
use crate::runner::LOCAL_TIME_LABEL;
use reply::{Note, compose};

const LOOKUP_ID: &str = "lookup";
const ACTION_PREFIX: &str = "act_";

#[derive(Debug, Default)]
pub struct OfflineModel;

impl ChatModel for OfflineModel {
    fn name(&self) -> &str {
        "offline"
    }

    fn complete<'a>(&'a self, messages: &'a [Message], _tools: &'a [ToolSpec]) -> ModelFuture<'a> {
        Box::pin(async move { Ok(next_turn(messages)) })
    }
}

/// A task as `list_tasks` reports it.
#[derive(Debug, Clone)]
pub(crate) struct TaskRow {
    pub id: i64,
    pub title: String,
    pub completed: bool,
    pub priority: String,
    pub tags: Vec<String>,
    pub due_at: Option<String>,
    pub overdue: bool,
}

/// One planned tool call and the request it serves.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub intent: Intent,
    pub tool: &'static str,
    pub arguments: Value,
}

fn next_turn(messages: &[Message]) -> ModelTurn {
    let Some(start) = messages.iter().rposition(|m| matches!(m, Message::User(_))) else {
        return text(reply::help(None));
    };
    let Message::User(user_text) = &messages[start] else {
        return text(reply::help(None));
    };
    let name = user_name(messages);
    let now = local_now(messages);
    let context = Context {
        last_task: last_task_mentioned(&messages[..start]),
        listed: last_listing(&messages[..start]),
    };
    let run = &messages[start + 1..];
    let results = tool_results(run);
    let intents = parse_at(user_text, &now);

    // A failed look-up reads as no tasks, so it is not repeated.
    let lookup = results
        .iter()
        .find(|(id, _, _)| id == LOOKUP_ID)
        .map(|(_, _, result)| task_rows(result));
    let needs_lookup = intents.iter().any(|i| match target_of(i) {
        Some(Target::Words(_)) => true,
        Some(Target::Nth(_)) => context.listed.is_none(),
        _ => false,
    });
    let acted = results.iter().any(|(id, _, _)| id.starts_with(ACTION_PREFIX));

    if needs_lookup && lookup.is_none() && !acted {
        return calls(vec![ToolCall {
            id: LOOKUP_ID.into(),
            name: "list_tasks".into(),
            arguments: json!({"status": "all"}).to_string(),
        }]);
    }
    let (actions, notes) = plan(&intents, lookup.as_deref().unwrap_or(&[]), &context);
    let pending = next_wave(&actions, &results);
    if !pending.is_empty() {
        return calls(pending);
    }
    let outcomes: Vec<(Action, &str)> = actions
        .into_iter()
        .enumerate()
        .filter_map(|(i, action)| {
            let id = format!("{ACTION_PREFIX}{i}");
            let (_, _, result) = results.iter().find(|(call_id, _, _)| *call_id == id)?;
            Some((action, *result))
        })
        .collect();
    text(compose(&intents, &outcomes, &notes, name.as_deref(), &now))
}

/// The calls still to make. Changes go out together, except that tasks are added one after the
/// other so that their ids follow the order the user gave; lists go out after every change, so
/// that a list asked for in the same message shows them.
fn next_wave(actions: &[Action], results: &[(String, String, &str)]) -> Vec<ToolCall> {
    let done = |i: usize| results.iter().any(|(id, _, _)| *id == format!("{ACTION_PREFIX}{i}"));
    let is_list = |a: &Action| matches!(a.intent, Intent::List { .. });
    let is_add = |a: &Action| matches!(a.intent, Intent::Add { .. });
    let changes_done = actions.iter().enumerate().all(|(i, a)| is_list(a) || done(i));
    let next_add = actions.iter().enumerate().position(|(i, a)| is_add(a) && !done(i));
    actions
        .iter()
        .enumerate()
        .filter(|&(i, _)| !done(i))
        .filter(|&(i, a)| {
            if is_list(a) {
                changes_done
            } else {
                !is_add(a) || Some(i) == next_add
            }
        })
        .map(|(i, a)| ToolCall {
            id: format!("{ACTION_PREFIX}{i}"),
            name: a.tool.into(),
            arguments: a.arguments.to_string(),
        })
        .collect()
}

fn text(reply: String) -> ModelTurn {
    ModelTurn {
        content: Some(reply),
        tool_calls: Vec::new(),
    }
}

fn calls(tool_calls: Vec<ToolCall>) -> ModelTurn {
    ModelTurn {
        content: None,
        tool_calls,
    }
}

/// What earlier turns said that later requests refer to.
struct Context {
    /// The task the assistant mentioned last ("it", "that one").
    last_task: Option<i64>,
    /// The ids of the list it showed last, in order ("the second one").
    listed: Option<Vec<i64>>,
}

fn target_of(intent: &Intent) -> Option<&Target> {
    match intent {
        Intent::Complete { target } | Intent::Delete { target } | Intent::Update { target, .. } => Some(target),
        _ => None,
    }
}

/// The tool calls for the requests, with a note for each request that names no single task.
fn plan(intents: &[Intent], tasks: &[TaskRow], context: &Context) -> (Vec<Action>, Vec<Note>) {
    let mut actions = Vec::new();
    let mut notes = Vec::new();
    for intent in intents {
        let action = |tool: &'static str, arguments: Value| Action {
            intent: intent.clone(),
            tool,
            arguments,
        };
        match intent {
            Intent::Add { title, details } => {
                let mut arguments = json!({"title": title});
                put_details(&mut arguments, details);
                actions.push(action("add_task", arguments));
            }
            Intent::List { query } => actions.push(action("list_tasks", list_arguments(query))),
            Intent::Complete { target } | Intent::Delete { target } | Intent::Update { target, .. } => {
                let prefer_pending = matches!(intent, Intent::Complete { .. });
                match resolve(target, tasks, context, prefer_pending) {
                    Ok(id) => {
                        let (tool, arguments) = match intent {
                            Intent::Complete { .. } => ("complete_task", json!({"task_id": id})),
                            Intent::Delete { .. } => ("delete_task", json!({"task_id": id})),
                            Intent::Update { change, .. } => ("update_task", update_arguments(id, change)),
                            _ => unreachable!("only task-changing intents reach here"),
                        };
                        actions.push(action(tool, arguments));
                    }
                    Err(note) => notes.push(note),
                }
            }
            Intent::Greet | Intent::Help | Intent::Thanks | Intent::DeleteAll | Intent::Refrain | Intent::Unknown => {}
        }
    }
    (actions, notes)
}

fn put_details(arguments: &mut Value, details: &Details) {
    if let Some(priority) = details.priority {
        arguments["priority"] = json!(priority.as_str());
    }
    if !details.tags.is_empty() {
        arguments["tags"] = json!(details.tags);
    }
    if let Some(due) = details.due {
        arguments["due"] = json!(due.argument());
    }
}

fn update_arguments(id: i64, change: &Change) -> Value {
    let mut arguments = json!({"task_id": id});
    if let Some(title) = &change.title {
        arguments["title"] = json!(title);
    }
    if let Some(priority) = change.details.priority {
        arguments["priority"] = json!(priority.as_str());
    }
    if !change.details.tags.is_empty() {
        arguments["add_tags"] = json!(change.details.tags);
    }
    if !change.remove_tags.is_empty() {
        arguments["remove_tags"] = json!(change.remove_tags);
    }
    if let Some(due) = change.details.due {
        arguments["due"] = json!(due.argument());
    } else if change.clear_due {
        arguments["due"] = json!("");
    }
    arguments
}

fn list_arguments(query: &Query) -> Value {
    let mut arguments = json!({"status": query.filter.as_str()});
    if let Some(priority) = query.priority {
        arguments["priority"] = json!(priority.as_str());
    }
    if let Some(tag) = &query.tag {
        arguments["tag"] = json!(tag);
    }
    if let Some(search) = &query.search {
        arguments["search"] = json!(search);
    }
    if let Some(days) = query.due_within_days {
        arguments["due_within_days"] = json!(days);
        arguments["sort"] = json!("due");
    }
    if query.overdue {
        arguments["overdue"] = json!(true);
        arguments["sort"] = json!("due");
    }
    arguments
}

/// A task id for a target, or why there is none.
fn resolve(target: &Target, tasks: &[TaskRow], context: &Context, prefer_pending: bool) -> Result<i64, Note> {
    match target {
        Target::Id(id) => Ok(*id),
        Target::Last => context.last_task.ok_or(Note::NoLastTask),
        Target::Nth(position) => {
            let ids: Vec<i64> = match &context.listed {
                Some(ids) => ids.clone(),
                None => tasks.iter().map(|t| t.id).collect(),
            };
            let picked = match position {
                Position::From(n) => n.checked_sub(1).and_then(|i| ids.get(i)),
                Position::Final => ids.last(),
            };
            picked.copied().ok_or(Note::NoSuchPlace(*position, ids.len()))
        }
        Target::Words(words) => {
            let query = normalize(words);
            let exact: Vec<&TaskRow> = tasks.iter().filter(|t| normalize(&t.title) == query).collect();
            let matching = if exact.is_empty() {
                tasks.iter().filter(|t| matches_words(&query, &t.title)).collect()
            } else {
                exact
            };
            let pending: Vec<&&TaskRow> = matching.iter().filter(|t| !t.completed).collect();
            match (matching.as_slice(), pending.as_slice()) {
                ([only], _) => Ok(only.id),
                (_, [only]) if prefer_pending => Ok(only.id),
                ([], _) => Err(Note::NotFound(words.clone())),
                (several, _) => Err(Note::Ambiguous(
                    words.clone(),
                    several.iter().map(|t| (t.id, t.title.clone())).collect(),
                )),
            }
        }
    }
}

const STOPWORDS: &[&str] = &["the", "a", "an", "my", "task", "tasks", "item", "to", "of", "for"];

fn normalize(text: &str) -> String {
    words(text).join(" ")
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn stem(word: &str) -> &str {
    word.strip_suffix("es")
        .filter(|w| w.len() >= 3)
        .or_else(|| word.strip_suffix('s').filter(|w| w.len() >= 3))
        .unwrap_or(word)
}

/// Every meaningful query word starts a word of the title ("groceries" ~ "Buy groceries",
/// "meet" ~ "Team meeting").
fn matches_words(query: &str, title: &str) -> bool {
    let title_words = words(title);
    let query_words: Vec<&str> = query.split(' ').filter(|w| !STOPWORDS.contains(w)).collect();
    !query_words.is_empty()
        && query_words
            .iter()
            .all(|q| title_words.iter().any(|t| stem(t).starts_with(stem(q))))
}

fn tool_results(run: &[Message]) -> Vec<(String, String, &str)> {
    let mut names = Vec::new();
    let mut results = Vec::new();
    for message in run {
        match message {
            Message::Assistant { tool_calls, .. } => {
                names.extend(tool_calls.iter().map(|c| (c.id.clone(), c.name.clone())));
            }
            Message::Tool { call_id, content } => {
                let name = names
                    .iter()
                    .find(|(id, _)| id == call_id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                results.push((call_id.clone(), name, content.as_str()));
            }
            _ => {}
        }
    }
    results
}

pub(crate) fn task_rows(result: &str) -> Vec<TaskRow> {
    let Ok(value) = serde_json::from_str::<Value>(result) else {
        return Vec::new();
    };
    value["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .filter_map(|t| {
                    Some(TaskRow {
                        id: t["id"].as_i64()?,
                        title: t["title"].as_str()?.to_string(),
                        completed: t["completed"].as_bool().unwrap_or(false),
                        priority: t["priority"].as_str().unwrap_or("medium").to_string(),
                        tags: t["tags"]
                            .as_array()
                            .map(|tags| tags.iter().filter_map(|t| t.as_str().map(str::to_string)).collect())
                            .unwrap_or_default(),
                        due_at: t["due_at"].as_str().map(str::to_string),
                        overdue: t["overdue"].as_bool().unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

static TASK_MENTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(task (\d+)\)").expect("the task-mention pattern is valid"));
static NAME_IN_PROMPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"to-do list of (.+?) \(user_id").expect("the prompt pattern is valid"));

/// The task the assistant's last replies mentioned last, for "it" and "that one".
fn last_task_mentioned(history: &[Message]) -> Option<i64> {
    history.iter().rev().find_map(|m| match m {
        Message::Assistant {
            content: Some(text), ..
        } => TASK_MENTION.captures_iter(text).last().and_then(|c| c[1].parse().ok()),
        _ => None,
    })
}

static LISTED_TASK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^[☐✓] (\d+)\. ").expect("the listed-task pattern is valid"));

/// The ids of the last list the assistant showed, in its order.
fn last_listing(history: &[Message]) -> Option<Vec<i64>> {
    history.iter().rev().find_map(|m| match m {
        Message::Assistant {
            content: Some(text), ..
        } => {
            let ids: Vec<i64> = LISTED_TASK
                .captures_iter(text)
                .filter_map(|c| c[1].parse().ok())
                .collect();
            (!ids.is_empty()).then_some(ids)
        }
        _ => None,
    })
}

/// The user's local date and time, from the system prompt's `Local time:` line; UTC now without one.
fn local_now(messages: &[Message]) -> jiff::Zoned {
    messages
        .iter()
        .find_map(|m| match m {
            Message::System(prompt) => prompt
                .lines()
                .find_map(|line| line.strip_prefix(LOCAL_TIME_LABEL))
                .and_then(|at| at.trim().parse().ok()),
            _ => None,
        })
        .unwrap_or_else(|| jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC))
}

/// The user's name, as the system prompt gives it.
fn user_name(messages: &[Message]) -> Option<String> {
    messages.iter().find_map(|m| match m {
        Message::System(prompt) => NAME_IN_PROMPT
            .captures(prompt)
            .map(|c| c[1].to_string())
            .filter(|n| n != "the user"),
        _ => None,
    })
}
