//! The offline engine's replies: friendly confirmations that say what changed, task lists, and
//! questions back when a request names no single task.

use serde_json::Value;

use super::parse::{Filter, Intent};
use super::{Action, task_rows};

/// Why a request named no single task.
#[derive(Debug, Clone)]
pub(crate) enum Note {
    NotFound(String),
    Ambiguous(String, Vec<(i64, String)>),
    NoLastTask,
}

const EXAMPLES: &str = "\"add buy milk\", \"what's pending?\", \"mark task 3 done\", \
                        \"rename task 2 to call mom tonight\" or \"delete the groceries task\"";

pub(crate) fn help(name: Option<&str>) -> String {
    let hello = name.map_or_else(|| "Hi!".to_string(), |n| format!("Hi {n}!"));
    format!("{hello} I keep your to-do list. You can say things like {EXAMPLES}.")
}

pub(crate) fn compose(intents: &[Intent], outcomes: &[(Action, &str)], notes: &[Note], name: Option<&str>) -> String {
    let mut lines: Vec<String> = Vec::new();
    let only_chat = outcomes.is_empty() && notes.is_empty();
    for intent in intents {
        match intent {
            Intent::Greet if only_chat && intents.len() == 1 => lines.push(help(name)),
            Intent::Greet => {
                lines.push(name.map_or_else(|| "Hi!".to_string(), |n| format!("Hi {n}!")));
            }
            Intent::Help => lines.push(help(name)),
            Intent::Thanks => lines.push("You're welcome! Anything else on your list?".into()),
            Intent::DeleteAll => lines.push(
                "I only delete tasks one at a time, and only your own. Tell me which one, \
                 for example \"delete task 2\"."
                    .into(),
            ),
            Intent::Unknown => lines.push(format!(
                "Sorry, I didn't understand that. I can add, list, complete, rename and delete \
                 tasks: try {EXAMPLES}."
            )),
            _ => {}
        }
    }
    lines.extend(outcomes.iter().map(|(action, result)| describe(action, result)));
    lines.extend(notes.iter().map(explain));
    lines.join("\n")
}

fn describe(action: &Action, result: &str) -> String {
    if let Some(error) = result.strip_prefix("Error: ") {
        // The MCP server's hints are written for models ("call list_tasks…"); keep the fact.
        let fact = error.split(';').next().unwrap_or(error).trim();
        let what = match &action.intent {
            Intent::Add { title } => format!("add \"{title}\""),
            Intent::List { .. } => "list your tasks".into(),
            Intent::Complete { .. } => format!("complete task {}", action.arguments["task_id"]),
            Intent::Delete { .. } => format!("delete task {}", action.arguments["task_id"]),
            Intent::Update { .. } => format!("rename task {}", action.arguments["task_id"]),
            _ => "do that".into(),
        };
        return format!("I couldn't {what}: {fact}.");
    }
    let value: Value = serde_json::from_str(result).unwrap_or(Value::Null);
    let id = value["task_id"].as_i64().unwrap_or_default();
    let title = value["title"].as_str().unwrap_or_default();
    match &action.intent {
        Intent::Add { .. } => format!("Added \"{title}\" (task {id})."),
        Intent::Complete { .. } => format!("Marked \"{title}\" (task {id}) as done. Nice work!"),
        Intent::Delete { .. } => format!("Deleted \"{title}\" (task {id})."),
        Intent::Update { .. } => format!("Renamed task {id} to \"{title}\" (task {id})."),
        Intent::List { filter } => list(*filter, result),
        _ => String::new(),
    }
}

fn list(filter: Filter, result: &str) -> String {
    let tasks = task_rows(result);
    let which = match filter {
        Filter::All => "",
        Filter::Pending => "pending ",
        Filter::Completed => "completed ",
    };
    if tasks.is_empty() {
        return match filter {
            Filter::Pending => "Nothing pending: you're all caught up!".into(),
            Filter::Completed => "You haven't completed any tasks yet.".into(),
            Filter::All => "Your list is empty. Add something with \"add …\".".into(),
        };
    }
    let count = if tasks.len() == 1 {
        format!("1 {which}task")
    } else {
        format!("{} {which}tasks", tasks.len())
    };
    let mut text = format!("You have {count}:");
    for task in &tasks {
        let mark = if task.completed { "✓" } else { "☐" };
        text.push_str(&format!("\n{mark} {}. {}", task.id, task.title));
    }
    text
}

fn explain(note: &Note) -> String {
    match note {
        Note::NotFound(words) => {
            format!("I couldn't find a task matching \"{words}\". Say \"show my tasks\" to see them all.")
        }
        Note::Ambiguous(words, candidates) => {
            let options: Vec<String> = candidates.iter().map(|(id, t)| format!("{id}. {t}")).collect();
            format!(
                "More than one task matches \"{words}\": {}. Which one? Say its number, e.g. \"task {}\".",
                options.join(", "),
                candidates.first().map_or(0, |(id, _)| *id)
            )
        }
        Note::NoLastTask => "Which task do you mean? Say its number or some words of its title.".into(),
    }
}
