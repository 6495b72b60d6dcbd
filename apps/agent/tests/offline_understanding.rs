//! How well the offline engine understands people: priorities, tags, due dates, questions,
//! negation, typos, filler and references, each through the real agent loop and a real MCP
//! server, checked by the tool calls made, the tasks afterwards and what the reply says.
//!
//! Tasks are written `☐ Pay rent !high #bills due 2026-12-04T17:00` (see `common::render`).
//! Dates are relative to today in Europe/London, at 10:00: `{today}`, `{tomorrow}`, `{+2d}`,
//! `{fri}` (the coming Friday, today included), `{next-mon}` (Monday of next week), `{sun}`,
//! `{3-mar}` (the next 3 March, this year's or next).
//!
//! `TUNED` is the table the engine was built against. `HELD_OUT` was written before the engine was
//! run on it and has not been tuned for: its score is printed, and docs/agent.md quotes it.

mod common;

use std::sync::Arc;

use common::{Chat, McpServer, ZONE, ten_this_morning};
use jiff::ToSpan as _;
use jiff::civil::{Date, Weekday};
use todo_agent::Limits;
use todo_agent::offline::OfflineModel;

struct Case {
    given: &'static [&'static str],
    say: &'static [&'static str],
    calls: &'static [&'static str],
    then: &'static [&'static str],
    reply_has: &'static str,
}

const fn case(
    given: &'static [&'static str],
    say: &'static [&'static str],
    calls: &'static [&'static str],
    then: &'static [&'static str],
    reply_has: &'static str,
) -> Case {
    Case {
        given,
        say,
        calls,
        then,
        reply_has,
    }
}

const ADD: &[&str] = &["add_task"];
const LIST: &[&str] = &["list_tasks"];
const NONE: &[&str] = &[];
const LOOKUP_UPDATE: &[&str] = &["list_tasks", "update_task"];
const LOOKUP_COMPLETE: &[&str] = &["list_tasks", "complete_task"];
const LOOKUP_DELETE: &[&str] = &["list_tasks", "delete_task"];
const UPDATE: &[&str] = &["update_task"];

const ERRANDS: &[&str] = &[
    "☐ Buy groceries #home",
    "☐ Finish the report !high #work due {tomorrow}",
    "✓ Call mom",
    "☐ Dentist appointment due 2020-01-10",
    "☐ Pay rent due {+14d}",
];
const PLAIN: &[&str] = &["☐ Buy milk", "☐ Write the report", "✓ Call mom"];

const TUNED: &[Case] = &[
    // Priorities
    case(
        &[],
        &["add a high priority task to pay rent"],
        ADD,
        &["☐ Pay rent !high"],
        "Added \"Pay rent\" (task 1), high priority",
    ),
    case(
        &[],
        &["add pay rent, high priority"],
        ADD,
        &["☐ Pay rent !high"],
        "high priority",
    ),
    case(
        &[],
        &["add an urgent task: call the bank"],
        ADD,
        &["☐ Call the bank !high"],
        "Call the bank",
    ),
    case(
        &[],
        &["add water the plants, not urgent"],
        ADD,
        &["☐ Water the plants !low"],
        "low priority",
    ),
    case(
        &[],
        &["add low priority task clean the garage"],
        ADD,
        &["☐ Clean the garage !low"],
        "Clean the garage",
    ),
    case(
        PLAIN,
        &["make the report urgent"],
        LOOKUP_UPDATE,
        &["☐ Buy milk", "☐ Write the report !high", "✓ Call mom"],
        "priority high",
    ),
    case(
        PLAIN,
        &["set the priority of buy milk to low"],
        LOOKUP_UPDATE,
        &["☐ Buy milk !low", "☐ Write the report", "✓ Call mom"],
        "priority low",
    ),
    case(
        PLAIN,
        &["change task 2 to high priority"],
        UPDATE,
        &["☐ Buy milk", "☐ Write the report !high", "✓ Call mom"],
        "Updated \"Write the report\" (task 2): priority high",
    ),
    case(
        PLAIN,
        &["mark the milk as important"],
        LOOKUP_UPDATE,
        &["☐ Buy milk !high", "☐ Write the report", "✓ Call mom"],
        "priority high",
    ),
    case(
        ERRANDS,
        &["what's urgent?"],
        LIST,
        ERRANDS,
        "1 pending high priority task",
    ),
    case(
        ERRANDS,
        &["show my high priority tasks"],
        LIST,
        ERRANDS,
        "Finish the report",
    ),
    // Tags
    case(
        &["☐ Buy milk"],
        &["tag milk with groceries"],
        LOOKUP_UPDATE,
        &["☐ Buy milk #groceries"],
        "tagged #groceries",
    ),
    case(&[], &["#work finish slides"], ADD, &["☐ Finish slides #work"], "#work"),
    case(
        &[],
        &["add finish slides #work #q4"],
        ADD,
        &["☐ Finish slides #work #q4"],
        "#work #q4",
    ),
    case(
        &[],
        &["add milk tagged groceries"],
        ADD,
        &["☐ Milk #groceries"],
        "Added \"Milk\"",
    ),
    case(
        &["☐ Buy milk #groceries #home"],
        &["remove the tag home from buy milk"],
        LOOKUP_UPDATE,
        &["☐ Buy milk #groceries"],
        "untagged #home",
    ),
    case(
        &["☐ Buy milk"],
        &["label task 1 as errands"],
        UPDATE,
        &["☐ Buy milk #errands"],
        "tagged #errands",
    ),
    case(
        &["☐ Buy milk"],
        &["add the tag shopping to task 1"],
        UPDATE,
        &["☐ Buy milk #shopping"],
        "tagged #shopping",
    ),
    case(ERRANDS, &["show my work tasks"], LIST, ERRANDS, "1 task tagged #work"),
    case(ERRANDS, &["list #home tasks"], LIST, ERRANDS, "Buy groceries"),
    case(
        ERRANDS,
        &["show my garden tasks"],
        LIST,
        ERRANDS,
        "You have no tasks tagged #garden",
    ),
    // Due dates
    case(
        &[],
        &["add submit expenses due tomorrow"],
        ADD,
        &["☐ Submit expenses due {tomorrow}"],
        "due",
    ),
    case(
        &[],
        &["add call the plumber by friday 5pm"],
        ADD,
        &["☐ Call the plumber due {fri}T17:00"],
        "Call the plumber",
    ),
    case(
        &[],
        &["add plan the offsite next week"],
        ADD,
        &["☐ Plan the offsite due {next-mon}"],
        "Plan the offsite",
    ),
    case(
        &[],
        &["add renew insurance on 3 March"],
        ADD,
        &["☐ Renew insurance due {3-mar}"],
        "Renew insurance",
    ),
    case(
        &[],
        &["add book flights in 2 days"],
        ADD,
        &["☐ Book flights due {+2d}"],
        "Book flights",
    ),
    case(
        &[],
        &["remind me tomorrow to pay rent"],
        ADD,
        &["☐ Pay rent due {tomorrow}"],
        "Added \"Pay rent\"",
    ),
    case(
        &[],
        &["remind me to call grandma tonight"],
        ADD,
        &["☐ Call grandma due {today}T20:00"],
        "Call grandma",
    ),
    case(
        &[],
        &["add a high priority task to file taxes by the 3rd of march"],
        ADD,
        &["☐ File taxes !high due {3-mar}"],
        "File taxes",
    ),
    case(
        &[],
        &["add pick up the kids at 3pm"],
        ADD,
        &["☐ Pick up the kids due {today}T15:00"],
        "Pick up the kids",
    ),
    case(
        &[],
        &["add send invoice tomorrow at 9am #work"],
        ADD,
        &["☐ Send invoice #work due {tomorrow}T09:00"],
        "Send invoice",
    ),
    case(
        PLAIN,
        &["move the report to friday"],
        LOOKUP_UPDATE,
        &["☐ Buy milk", "☐ Write the report due {fri}", "✓ Call mom"],
        "Updated \"Write the report\"",
    ),
    case(
        PLAIN,
        &["the milk is due tomorrow"],
        LOOKUP_UPDATE,
        &["☐ Buy milk due {tomorrow}", "☐ Write the report", "✓ Call mom"],
        "due",
    ),
    case(
        PLAIN,
        &["postpone task 2 to next week"],
        UPDATE,
        &["☐ Buy milk", "☐ Write the report due {next-mon}", "✓ Call mom"],
        "Updated",
    ),
    case(
        &["☐ Buy milk due {tomorrow}"],
        &["remove the due date from buy milk"],
        LOOKUP_UPDATE,
        &["☐ Buy milk"],
        "no due date",
    ),
    // Questions
    case(ERRANDS, &["what's due this week?"], LIST, ERRANDS, "Finish the report"),
    case(ERRANDS, &["anything overdue?"], LIST, ERRANDS, "1 overdue pending task"),
    case(
        &["☐ Buy milk due {+14d}"],
        &["anything overdue?"],
        LIST,
        &["☐ Buy milk due {+14d}"],
        "Nothing is overdue",
    ),
    case(
        ERRANDS,
        &["find the dentist task"],
        LIST,
        ERRANDS,
        "Dentist appointment",
    ),
    case(ERRANDS, &["search for rent"], LIST, ERRANDS, "Pay rent"),
    case(
        ERRANDS,
        &["how many tasks do I have?"],
        LIST,
        ERRANDS,
        "You have 5 tasks: 4 pending and 1 done",
    ),
    case(
        ERRANDS,
        &["how many tasks are left?"],
        LIST,
        ERRANDS,
        "You have 4 pending tasks",
    ),
    case(ERRANDS, &["what's due tomorrow?"], LIST, ERRANDS, "Finish the report"),
    case(ERRANDS, &["what did I finish?"], LIST, ERRANDS, "✓ 3. Call mom"),
    case(ERRANDS, &["whats left"], LIST, ERRANDS, "4 pending tasks"),
    case(
        ERRANDS,
        &["which tasks are not done yet?"],
        LIST,
        ERRANDS,
        "4 pending tasks",
    ),
    case(ERRANDS, &["what haven't I finished?"], LIST, ERRANDS, "4 pending tasks"),
    case(ERRANDS, &["what's still open?"], LIST, ERRANDS, "4 pending tasks"),
    case(
        ERRANDS,
        &["did I finish the report?"],
        LIST,
        ERRANDS,
        "☐ 2. Finish the report",
    ),
    // New tasks, said the way people say them
    case(
        &[],
        &["don't let me forget to renew my passport"],
        ADD,
        &["☐ Renew my passport"],
        "Added \"Renew my passport\"",
    ),
    case(
        &[],
        &["could you please add call the vet"],
        ADD,
        &["☐ Call the vet"],
        "Call the vet",
    ),
    case(&[], &["oh and add buy stamps"], ADD, &["☐ Buy stamps"], "Buy stamps"),
    case(&[], &["pls ad buy bread"], NONE, &[], "Sorry, I didn't understand"),
    case(
        &[],
        &["creat a task to walk the dog"],
        ADD,
        &["☐ Walk the dog"],
        "Walk the dog",
    ),
    // Negation: nothing changes
    case(
        PLAIN,
        &["don't delete the milk task"],
        NONE,
        PLAIN,
        "I'll leave your tasks as they are",
    ),
    case(
        PLAIN,
        &["do not mark the report as done"],
        NONE,
        PLAIN,
        "I'll leave your tasks as they are",
    ),
    // Typos in commands
    case(
        PLAIN,
        &["delte the milk task"],
        LOOKUP_DELETE,
        &["☐ Write the report", "✓ Call mom"],
        "Deleted \"Buy milk\"",
    ),
    case(
        PLAIN,
        &["compelte the report"],
        LOOKUP_COMPLETE,
        &["☐ Buy milk", "✓ Write the report", "✓ Call mom"],
        "Marked \"Write the report\"",
    ),
    case(PLAIN, &["show my pending taks"], LIST, PLAIN, "2 pending tasks"),
    // References
    case(
        PLAIN,
        &["show my tasks", "mark the second one done"],
        &["complete_task"],
        &["☐ Buy milk", "✓ Write the report", "✓ Call mom"],
        "Marked \"Write the report\" (task 2)",
    ),
    case(
        PLAIN,
        &["what's pending?", "delete the last one"],
        &["delete_task"],
        &["☐ Buy milk", "✓ Call mom"],
        "Deleted \"Write the report\"",
    ),
    case(
        PLAIN,
        &["complete the first task"],
        LOOKUP_COMPLETE,
        &["✓ Buy milk", "☐ Write the report", "✓ Call mom"],
        "Marked \"Buy milk\"",
    ),
    case(
        &[],
        &["add call the bank", "make it urgent"],
        UPDATE,
        &["☐ Call the bank !high"],
        "priority high",
    ),
    case(
        &[],
        &["add pay rent", "it's due friday"],
        UPDATE,
        &["☐ Pay rent due {fri}"],
        "Updated \"Pay rent\"",
    ),
    case(
        PLAIN,
        &["show my tasks", "delete the fifth one"],
        NONE,
        PLAIN,
        "there are only 3 tasks",
    ),
    // Precision: unsure means asking, not guessing
    case(
        PLAIN,
        &["did I finish the unicorn?"],
        LIST,
        PLAIN,
        "no tasks matching \"unicorn\"",
    ),
    case(PLAIN, &["make it urgent"], NONE, PLAIN, "Which task do you mean?"),
];

/// Written before the engine was run on them, by phrasing requests the way users of other to-do
/// apps do; not tuned for.
const HELD_OUT: &[Case] = &[
    case(
        &[],
        &["put pay the electricity bill on my list for monday"],
        ADD,
        &["☐ Pay the electricity bill due {mon}"],
        "Pay the electricity bill",
    ),
    case(
        &[],
        &["new task buy a birthday present for sam, it's important"],
        ADD,
        &["☐ Buy a birthday present for sam !high"],
        "Buy a birthday present",
    ),
    case(
        &[],
        &["i need to email the landlord by tomorrow"],
        ADD,
        &["☐ Email the landlord due {tomorrow}"],
        "Email the landlord",
    ),
    case(
        &[],
        &["remind me on friday to take out the bins"],
        ADD,
        &["☐ Take out the bins due {fri}"],
        "Take out the bins",
    ),
    case(
        &[],
        &["add 'prepare slides' for next friday, high priority"],
        ADD,
        &["☐ Prepare slides !high due {next-fri}"],
        "Prepare slides",
    ),
    case(
        &[],
        &["please create a reminder to stretch in an hour"],
        ADD,
        &["☐ Stretch due {in-1h}"],
        "Stretch",
    ),
    case(
        ERRANDS,
        &["what do I have to do today?"],
        LIST,
        ERRANDS,
        "Dentist appointment",
    ),
    case(
        ERRANDS,
        &["is there anything I'm late on?"],
        LIST,
        ERRANDS,
        "Dentist appointment",
    ),
    case(
        ERRANDS,
        &["list everything tagged work"],
        LIST,
        ERRANDS,
        "Finish the report",
    ),
    case(
        ERRANDS,
        &["whats on my plate for this week"],
        LIST,
        ERRANDS,
        "Finish the report",
    ),
    case(
        ERRANDS,
        &["how many things have i completed"],
        LIST,
        ERRANDS,
        "1 completed task",
    ),
    case(ERRANDS, &["where's the rent task"], LIST, ERRANDS, "Pay rent"),
    case(ERRANDS, &["any tasks about groceries?"], LIST, ERRANDS, "Buy groceries"),
    case(
        ERRANDS,
        &["show me what's important"],
        LIST,
        ERRANDS,
        "Finish the report",
    ),
    case(
        PLAIN,
        &["bump the report to high priority"],
        LOOKUP_UPDATE,
        &["☐ Buy milk", "☐ Write the report !high", "✓ Call mom"],
        "priority high",
    ),
    case(
        PLAIN,
        &["the report can wait, make it low priority"],
        LOOKUP_UPDATE,
        &["☐ Buy milk", "☐ Write the report !low", "✓ Call mom"],
        "priority low",
    ),
    case(
        PLAIN,
        &["push buy milk to tomorrow"],
        LOOKUP_UPDATE,
        &["☐ Buy milk due {tomorrow}", "☐ Write the report", "✓ Call mom"],
        "Updated",
    ),
    case(
        PLAIN,
        &["tag the report as work"],
        LOOKUP_UPDATE,
        &["☐ Buy milk", "☐ Write the report #work", "✓ Call mom"],
        "#work",
    ),
    case(
        PLAIN,
        &["i've finished writing the report"],
        LOOKUP_COMPLETE,
        &["☐ Buy milk", "✓ Write the report", "✓ Call mom"],
        "Marked",
    ),
    case(
        PLAIN,
        &["I just bought the milk"],
        LOOKUP_COMPLETE,
        &["✓ Buy milk", "☐ Write the report", "✓ Call mom"],
        "Marked",
    ),
    case(
        PLAIN,
        &["scrap the milk one"],
        LOOKUP_DELETE,
        &["☐ Write the report", "✓ Call mom"],
        "Deleted \"Buy milk\"",
    ),
    case(
        PLAIN,
        &["ok the report is done"],
        LOOKUP_COMPLETE,
        &["☐ Buy milk", "✓ Write the report", "✓ Call mom"],
        "Marked",
    ),
    case(
        PLAIN,
        &["cross off milk pls"],
        LOOKUP_COMPLETE,
        &["✓ Buy milk", "☐ Write the report", "✓ Call mom"],
        "Marked \"Buy milk\"",
    ),
    case(PLAIN, &["what tasks r still open"], LIST, PLAIN, "2 pending tasks"),
    case(PLAIN, &["show what I havent done"], LIST, PLAIN, "2 pending tasks"),
    case(PLAIN, &["never mind, don't add anything"], NONE, PLAIN, ""),
    case(
        PLAIN,
        &["whats pending", "finish the second one"],
        &["complete_task"],
        &["☐ Buy milk", "✓ Write the report", "✓ Call mom"],
        "Marked \"Write the report\"",
    ),
    case(
        PLAIN,
        &["add buy eggs", "actually make that high priority"],
        UPDATE,
        &["☐ Buy milk", "☐ Write the report", "✓ Call mom", "☐ Buy eggs !high"],
        "priority high",
    ),
    case(
        PLAIN,
        &["remove milk"],
        LOOKUP_DELETE,
        &["☐ Write the report", "✓ Call mom"],
        "Deleted",
    ),
    case(
        PLAIN,
        &["what's the capital of france?"],
        NONE,
        PLAIN,
        "Sorry, I didn't understand",
    ),
];

/// Today's date in the tables' zone, as the agent's clock has it.
fn today() -> Date {
    ten_this_morning()
        .to_zoned(jiff::tz::TimeZone::get(ZONE).unwrap())
        .date()
}

fn coming(today: Date, weekday: Weekday) -> Date {
    if today.weekday() == weekday {
        today
    } else {
        today.nth_weekday(1, weekday).unwrap()
    }
}

/// The table's `{…}` dates, spelled out.
fn expand(text: &str) -> String {
    let today = today();
    let next_monday = today.nth_weekday(1, Weekday::Monday).unwrap();
    let march_3 = Date::new(today.year(), 3, 3).unwrap();
    let march_3 = if march_3 < today {
        Date::new(today.year() + 1, 3, 3).unwrap()
    } else {
        march_3
    };
    let in_an_hour = ten_this_morning()
        .to_zoned(jiff::tz::TimeZone::get(ZONE).unwrap())
        .checked_add(1.hour())
        .unwrap();
    let mut out = text.to_string();
    for (token, date) in [
        ("{today}", today.to_string()),
        ("{tomorrow}", today.tomorrow().unwrap().to_string()),
        ("{+2d}", today.checked_add(2.days()).unwrap().to_string()),
        ("{+14d}", today.checked_add(14.days()).unwrap().to_string()),
        ("{fri}", coming(today, Weekday::Friday).to_string()),
        ("{mon}", coming(today, Weekday::Monday).to_string()),
        ("{sun}", coming(today, Weekday::Sunday).to_string()),
        ("{next-mon}", next_monday.to_string()),
        ("{next-fri}", next_monday.checked_add(4.days()).unwrap().to_string()),
        ("{3-mar}", march_3.to_string()),
        ("{in-1h}", in_an_hour.strftime("%Y-%m-%dT%H:%M").to_string()),
    ] {
        out = out.replace(token, &date);
    }
    out
}

struct Outcome {
    passed: bool,
    /// Tasks changed that the case did not expect to change.
    unsafe_change: bool,
    report: String,
}

async fn run(case: &Case) -> Outcome {
    let server = McpServer::start().await;
    let given: Vec<String> = case.given.iter().map(|t| expand(t)).collect();
    server.seed_rendered("u1", &given).await;
    let agent = server
        .agent(Arc::new(OfflineModel), Limits::default())
        .with_clock(ten_this_morning);
    let mut caller = server.caller("u1");
    caller.time_zone = todo_core::domain::UserZone::parse("zone", ZONE).unwrap();
    let mut chat = Chat::new(&agent, caller);
    let mut reply = None;
    for message in case.say {
        reply = Some(chat.say(message).await);
    }
    let reply = reply.expect("every case says something");
    let calls: Vec<&str> = reply.tool_calls.iter().map(|c| c.name.as_str()).collect();
    let state = server.rendered("u1").await;
    let expected: Vec<String> = case.then.iter().map(|t| expand(t)).collect();
    let passed = calls == case.calls && state == expected && reply.response.contains(&expand(case.reply_has));
    // Unsafe: a task the case leaves alone was changed or removed, or anything changed when
    // nothing should have. A new task with imperfect words is a miss, not harm.
    let harmed_bystander = given
        .iter()
        .any(|task| expected.contains(task) && !state.contains(task));
    let changed_when_asked_not_to = expected == given && state != given;
    Outcome {
        passed,
        unsafe_change: harmed_bystander || changed_when_asked_not_to,
        report: format!(
            "{:?}\n  calls {calls:?} (expected {:?})\n  tasks {state:?}\n  (expected {expected:?})\n  reply {:?} (expected to contain {:?})",
            case.say, case.calls, reply.response, case.reply_has
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn understands_priorities_tags_dates_questions_and_references() {
    assert!(TUNED.len() >= 60, "at least 60 rows");
    let mut failures = Vec::new();
    for case in TUNED {
        let outcome = run(case).await;
        if !outcome.passed {
            failures.push(outcome.report);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        TUNED.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_out_utterances_are_scored_and_never_change_the_wrong_tasks() {
    let mut passed = 0u32;
    let mut unsafe_changes = Vec::new();
    let mut misses = Vec::new();
    for case in HELD_OUT {
        let outcome = run(case).await;
        if outcome.passed {
            passed += 1;
        } else {
            misses.push(outcome.report.clone());
        }
        if outcome.unsafe_change {
            unsafe_changes.push(outcome.report);
        }
    }
    let accuracy = f64::from(passed) / HELD_OUT.len() as f64 * 100.0;
    println!(
        "held-out accuracy: {passed} of {} ({accuracy:.0}%)\nmissed:\n{}",
        HELD_OUT.len(),
        misses.join("\n")
    );
    assert!(
        unsafe_changes.is_empty(),
        "held-out utterances changed tasks they should not have:\n{}",
        unsafe_changes.join("\n")
    );
}
