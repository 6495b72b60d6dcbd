//! The offline engine's replies: friendly confirmations that say what changed, task lists, and
//! questions back when a request names no single task.

use jiff::Zoned;
use serde_json::Value;

use super::parse::{Filter, Intent, Position, Query};
use super::{Action, TaskRow, task_rows};

/// Why a request named no single task.
#[derive(Debug, Clone)]
pub(crate) enum Note {
    NotFound(String),
    Ambiguous(String, Vec<(i64, String)>),
    NoLastTask,
    /// A place in a list that has fewer tasks.
    NoSuchPlace(Position, usize),
}

const EXAMPLES: &str = "\"add buy milk\", \"what's pending?\", \"mark task 3 done\", \
                        \"rename task 2 to call mom tonight\" or \"delete the groceries task\"";

pub(crate) fn help(name: Option<&str>) -> String {
    let hello = name.map_or_else(|| "Hi!".to_string(), |n| format!("Hi {n}!"));
    format!("{hello} I keep your to-do list. You can say things like {EXAMPLES}.")
}

pub(crate) fn compose(
    intents: &[Intent],
    outcomes: &[(Action, &str)],
    notes: &[Note],
    name: Option<&str>,
    now: &Zoned,
) -> String {
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
            Intent::Refrain => lines.push("Okay, I'll leave your tasks as they are.".into()),
            Intent::Unknown => lines.push(format!(
                "Sorry, I didn't understand that. I can add, list, complete, rename and delete \
                 tasks: try {EXAMPLES}."
            )),
            _ => {}
        }
    }
    lines.extend(outcomes.iter().map(|(action, result)| describe(action, result, now)));
    lines.extend(notes.iter().map(explain));
    lines.join("\n")
}

fn describe(action: &Action, result: &str, now: &Zoned) -> String {
    if let Some(error) = result.strip_prefix("Error: ") {
        // The MCP server's hints are written for models ("call list_tasks…"); keep the fact.
        let fact = error.split(';').next().unwrap_or(error).trim();
        let what = match &action.intent {
            Intent::Add { title, .. } => format!("add \"{title}\""),
            Intent::List { .. } => "list your tasks".into(),
            Intent::Complete { .. } => format!("complete task {}", action.arguments["task_id"]),
            Intent::Delete { .. } => format!("delete task {}", action.arguments["task_id"]),
            Intent::Update { change, .. } if change.title.is_some() => {
                format!("rename task {}", action.arguments["task_id"])
            }
            Intent::Update { .. } => format!("update task {}", action.arguments["task_id"]),
            _ => "do that".into(),
        };
        return format!("I couldn't {what}: {fact}.");
    }
    let value: Value = serde_json::from_str(result).unwrap_or(Value::Null);
    let id = value["task_id"].as_i64().unwrap_or_default();
    let title = value["title"].as_str().unwrap_or_default();
    let extras = || {
        let mut parts = Vec::new();
        if let Some(p @ ("high" | "low")) = value["priority"].as_str() {
            parts.push(format!("{p} priority"));
        }
        if let Some(tags) = value["tags"].as_array().filter(|t| !t.is_empty()) {
            let tags: Vec<String> = tags.iter().filter_map(Value::as_str).map(|t| format!("#{t}")).collect();
            parts.push(tags.join(" "));
        }
        if let Some(due) = value["due_at"].as_str() {
            parts.push(format!("due {}", local_due(due, now)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(", {}", parts.join(", "))
        }
    };
    match &action.intent {
        Intent::Add { .. } => format!("Added \"{title}\" (task {id}){}.", extras()),
        Intent::Complete { .. } => format!("Marked \"{title}\" (task {id}) as done. Nice work!"),
        Intent::Delete { .. } => format!("Deleted \"{title}\" (task {id})."),
        Intent::Update { change, .. } if change.title.is_some() => {
            format!("Renamed task {id} to \"{title}\" (task {id}){}.", extras())
        }
        Intent::Update { change, .. } => {
            let mut done = Vec::new();
            if let Some(p) = change.details.priority {
                done.push(format!("priority {}", p.as_str()));
            }
            if !change.details.tags.is_empty() {
                done.push(format!("tagged {}", hashtags(&change.details.tags)));
            }
            if !change.remove_tags.is_empty() {
                done.push(format!("untagged {}", hashtags(&change.remove_tags)));
            }
            if change.details.due.is_some() {
                if let Some(due) = value["due_at"].as_str() {
                    done.push(format!("due {}", local_due(due, now)));
                }
            } else if change.clear_due {
                done.push("no due date".into());
            }
            format!("Updated \"{title}\" (task {id}): {}.", done.join(", "))
        }
        Intent::List { query } => list(query, result, now),
        _ => String::new(),
    }
}

fn hashtags(tags: &[String]) -> String {
    tags.iter().map(|t| format!("#{t}")).collect::<Vec<_>>().join(" ")
}

/// A UTC due date as the user reads it: "Fri 4 Dec" (by the end of that day) or "Fri 4 Dec 17:00".
fn local_due(utc: &str, now: &Zoned) -> String {
    let Ok(at) = utc.parse::<jiff::Timestamp>() else {
        return utc.to_string();
    };
    let local = at.to_zoned(now.time_zone().clone());
    let same_year = local.year() == now.year();
    let date = if same_year {
        local.strftime("%a %-d %b").to_string()
    } else {
        local.strftime("%a %-d %b %Y").to_string()
    };
    if (local.hour(), local.minute()) == (23, 59) {
        date
    } else {
        format!("{date} {}", local.strftime("%H:%M"))
    }
}

/// What the list holds, for its heading: "pending tasks due by Sun 6 Dec tagged #work".
fn describe_query(query: &Query, now: &Zoned) -> String {
    let status = match query.filter {
        Filter::All => "",
        Filter::Pending => "pending ",
        Filter::Completed => "completed ",
    };
    let priority = query
        .priority
        .map_or(String::new(), |p| format!("{} priority ", p.as_str()));
    let overdue = if query.overdue { "overdue " } else { "" };
    let mut text = format!("{overdue}{status}{priority}task");
    if let Some(days) = query.due_within_days {
        let by = now.date().checked_add(jiff::Span::new().days(i64::from(days))).ok();
        let by = by.map_or_else(String::new, |d| d.strftime("%a %-d %b").to_string());
        text.push_str(&format!("s due by {by}"));
    } else {
        text.push('s');
    }
    if let Some(tag) = &query.tag {
        text.push_str(&format!(" tagged #{tag}"));
    }
    if let Some(search) = &query.search {
        text.push_str(&format!(" matching \"{search}\""));
    }
    text
}

fn list(query: &Query, result: &str, now: &Zoned) -> String {
    let tasks = task_rows(result);
    let plain = query.priority.is_none()
        && query.tag.is_none()
        && query.search.is_none()
        && query.due_within_days.is_none()
        && !query.overdue;
    if query.count {
        let what = describe_query(query, now);
        let pending = tasks.iter().filter(|t| !t.completed).count();
        return match (tasks.len(), query.filter) {
            (0, _) => format!("You have no {what}."),
            (n, Filter::All) => format!(
                "You have {n} {}: {pending} pending and {} done.",
                if n == 1 {
                    what.trim_end_matches('s').to_string()
                } else {
                    what
                },
                n - pending
            ),
            (1, _) => format!("You have 1 {}.", what.trim_end_matches('s')),
            (n, _) => format!("You have {n} {what}."),
        };
    }
    if tasks.is_empty() {
        return match query.filter {
            _ if query.overdue => "Nothing is overdue. Well done!".into(),
            _ if !plain => format!("You have no {}.", describe_query(query, now)),
            Filter::Pending => "Nothing pending: you're all caught up!".into(),
            Filter::Completed => "You haven't completed any tasks yet.".into(),
            Filter::All => "Your list is empty. Add something with \"add …\".".into(),
        };
    }
    let what = describe_query(query, now);
    let count = if tasks.len() == 1 {
        format!("1 {}", what.replacen("tasks", "task", 1))
    } else {
        format!("{} {what}", tasks.len())
    };
    let mut text = format!("You have {count}:");
    for task in &tasks {
        text.push_str(&format!("\n{}", line(task, now)));
    }
    text
}

/// "☐ 3. Pay rent · high · #bills · due Fri 4 Dec 17:00 (overdue)".
fn line(task: &TaskRow, now: &Zoned) -> String {
    let mark = if task.completed { "✓" } else { "☐" };
    let mut text = format!("{mark} {}. {}", task.id, task.title);
    if task.priority != "medium" {
        text.push_str(&format!(" · {}", task.priority));
    }
    if !task.tags.is_empty() {
        text.push_str(&format!(" · {}", hashtags(&task.tags)));
    }
    if let Some(due) = &task.due_at {
        text.push_str(&format!(" · due {}", local_due(due, now)));
        if task.overdue {
            text.push_str(" (overdue)");
        }
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
        Note::NoSuchPlace(position, len) => {
            let place = match position {
                Position::From(n) => format!("number {n} in the list"),
                Position::Final => "the last one".into(),
            };
            format!("I can't find {place}: there are only {len} tasks. Say its number, e.g. \"task 2\".")
        }
    }
}
