//! The offline engine through the real agent loop and a real MCP server: for each utterance, the
//! tool calls it makes, the tasks afterwards, and what the reply says.

mod common;

use std::sync::Arc;

use common::{Chat, McpServer};
use todo_agent::Limits;
use todo_agent::offline::OfflineModel;

struct Case {
    /// Tasks before (title, completed); they get ids 1, 2, 3… in order.
    given: &'static [(&'static str, bool)],
    /// The conversation; only the last message's tool calls are checked.
    say: &'static [&'static str],
    calls: &'static [&'static str],
    then: &'static [(&'static str, bool)],
    reply_has: &'static str,
}

const fn case(
    given: &'static [(&'static str, bool)],
    say: &'static [&'static str],
    calls: &'static [&'static str],
    then: &'static [(&'static str, bool)],
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

const TWO: &[(&str, bool)] = &[("Buy groceries", false), ("Call mom", false)];
const MIXED: &[(&str, bool)] = &[("Buy groceries", false), ("Call mom", true)];
const ADD: &[&str] = &["add_task"];
const LIST: &[&str] = &["list_tasks"];
const LOOKUP_COMPLETE: &[&str] = &["list_tasks", "complete_task"];
const LOOKUP_DELETE: &[&str] = &["list_tasks", "delete_task"];
const LOOKUP_UPDATE: &[&str] = &["list_tasks", "update_task"];
const NONE: &[&str] = &[];

const CASES: &[Case] = &[
    // Adding
    case(
        &[],
        &["add a task to buy groceries"],
        ADD,
        &[("Buy groceries", false)],
        "Added \"Buy groceries\" (task 1)",
    ),
    case(
        &[],
        &["I need to remember to pay bills"],
        ADD,
        &[("Pay bills", false)],
        "Added \"Pay bills\"",
    ),
    case(
        &[],
        &["remind me to call mom"],
        ADD,
        &[("Call mom", false)],
        "Added \"Call mom\"",
    ),
    case(
        &[],
        &["add milk and eggs"],
        &["add_task", "add_task"],
        &[("Milk", false), ("Eggs", false)],
        "Added \"Eggs\" (task 2)",
    ),
    case(
        &[],
        &["Add buy milk"],
        ADD,
        &[("Buy milk", false)],
        "Added \"Buy milk\"",
    ),
    case(
        &[],
        &["please add 'Book dentist appointment'"],
        ADD,
        &[("Book dentist appointment", false)],
        "Book dentist appointment",
    ),
    case(
        &[],
        &["create a task called water the plants"],
        ADD,
        &[("Water the plants", false)],
        "Water the plants",
    ),
    case(
        &[],
        &["new task: renew passport"],
        ADD,
        &[("Renew passport", false)],
        "Renew passport",
    ),
    case(&[], &["todo: file taxes"], ADD, &[("File taxes", false)], "File taxes"),
    case(
        &[],
        &["don't forget to feed the cat"],
        ADD,
        &[("Feed the cat", false)],
        "Feed the cat",
    ),
    case(
        &[],
        &["I have to finish the report"],
        ADD,
        &[("Finish the report", false)],
        "Finish the report",
    ),
    case(
        &[],
        &["add bread, butter and jam to my list"],
        &["add_task", "add_task", "add_task"],
        &[("Bread", false), ("Butter", false), ("Jam", false)],
        "Added \"Jam\"",
    ),
    case(
        &[],
        &["can you add call the plumber"],
        ADD,
        &[("Call the plumber", false)],
        "Call the plumber",
    ),
    case(
        &[],
        &["Remind me to pick up the kids at 5pm"],
        ADD,
        &[("Pick up the kids", false)],
        "Added \"Pick up the kids\" (task 1), due",
    ),
    case(
        &[],
        &["Add buy milk; add call mom"],
        &["add_task", "add_task"],
        &[("Buy milk", false), ("Call mom", false)],
        "Added \"Call mom\"",
    ),
    // Listing
    case(MIXED, &["show me all my tasks"], LIST, MIXED, "You have 2 tasks"),
    case(
        MIXED,
        &["what's pending?"],
        LIST,
        MIXED,
        "You have 1 pending task:\n☐ 1. Buy groceries",
    ),
    case(
        MIXED,
        &["what have I completed?"],
        LIST,
        MIXED,
        "You have 1 completed task:\n✓ 2. Call mom",
    ),
    case(&[], &["list my tasks"], LIST, &[], "Your list is empty"),
    case(
        &[("Call mom", true)],
        &["what's still left to do?"],
        LIST,
        &[("Call mom", true)],
        "Nothing pending",
    ),
    case(
        &[("Call mom", false)],
        &["show completed tasks"],
        LIST,
        &[("Call mom", false)],
        "haven't completed any",
    ),
    case(
        &[("Buy milk", false)],
        &["what are my tasks?"],
        LIST,
        &[("Buy milk", false)],
        "☐ 1. Buy milk",
    ),
    case(
        &[("Buy milk", false)],
        &["my tasks"],
        LIST,
        &[("Buy milk", false)],
        "Buy milk",
    ),
    case(MIXED, &["which tasks are done?"], LIST, MIXED, "1 completed task"),
    // Negation: "not done" is the opposite of "done", and the answer must say so.
    case(MIXED, &["which tasks are not done yet?"], LIST, MIXED, "1 pending task"),
    case(MIXED, &["what haven't I finished?"], LIST, MIXED, "1 pending task"),
    case(
        MIXED,
        &["which tasks haven't been completed?"],
        LIST,
        MIXED,
        "1 pending task",
    ),
    case(MIXED, &["show me what isn't done"], LIST, MIXED, "1 pending task"),
    case(MIXED, &["whats left"], LIST, MIXED, "1 pending task"),
    case(MIXED, &["what did I finish?"], LIST, MIXED, "1 completed task"),
    case(MIXED, &["what do I still need to do?"], LIST, MIXED, "1 pending task"),
    // Completing
    case(
        TWO,
        &["mark task 2 as complete"],
        &["complete_task"],
        &[("Buy groceries", false), ("Call mom", true)],
        "Marked \"Call mom\" (task 2) as done",
    ),
    case(
        TWO,
        &["I finished buy groceries"],
        LOOKUP_COMPLETE,
        &[("Buy groceries", true), ("Call mom", false)],
        "Marked \"Buy groceries\"",
    ),
    case(
        TWO,
        &["complete task 1"],
        &["complete_task"],
        &[("Buy groceries", true), ("Call mom", false)],
        "(task 1) as done",
    ),
    case(
        TWO,
        &["mark 1 and 2 done"],
        &["complete_task", "complete_task"],
        &[("Buy groceries", true), ("Call mom", true)],
        "\"Call mom\" (task 2)",
    ),
    case(
        TWO,
        &["done with groceries"],
        LOOKUP_COMPLETE,
        &[("Buy groceries", true), ("Call mom", false)],
        "Buy groceries",
    ),
    case(
        TWO,
        &["call mom is done"],
        LOOKUP_COMPLETE,
        &[("Buy groceries", false), ("Call mom", true)],
        "Call mom",
    ),
    case(
        &[("Buy milk", false), ("Milk the cow", false)],
        &["I finished milk"],
        LIST,
        &[("Buy milk", false), ("Milk the cow", false)],
        "More than one task matches \"milk\": 1. Buy milk, 2. Milk the cow",
    ),
    case(
        TWO,
        &["complete task 99"],
        &["complete_task"],
        TWO,
        "I couldn't complete task 99: task 99 not found",
    ),
    case(
        &[("Buy milk", true), ("Buy milk", false)],
        &["I finished buy milk"],
        LOOKUP_COMPLETE,
        &[("Buy milk", true), ("Buy milk", true)],
        "(task 2) as done",
    ),
    case(
        &[("Walk the dog", false)],
        &["check off walk the dog"],
        LOOKUP_COMPLETE,
        &[("Walk the dog", true)],
        "Walk the dog",
    ),
    case(TWO, &["mark it done"], NONE, TWO, "Which task do you mean?"),
    case(
        &[("Water plants", false)],
        &["I did water plants"],
        LOOKUP_COMPLETE,
        &[("Water plants", true)],
        "Water plants",
    ),
    case(
        TWO,
        &["mark the groceries task as done"],
        LOOKUP_COMPLETE,
        &[("Buy groceries", true), ("Call mom", false)],
        "Buy groceries",
    ),
    // Deleting
    case(
        &[("Team meeting", false), ("Buy milk", false)],
        &["delete the meeting task"],
        LOOKUP_DELETE,
        &[("Buy milk", false)],
        "Deleted \"Team meeting\" (task 1)",
    ),
    case(
        &[("A", false), ("B", false), ("C", false)],
        &["remove task 2"],
        &["delete_task"],
        &[("A", false), ("C", false)],
        "Deleted \"B\"",
    ),
    case(
        &[("A", false), ("B", false), ("C", false)],
        &["delete tasks 1 and 3"],
        &["delete_task", "delete_task"],
        &[("B", false)],
        "Deleted \"C\"",
    ),
    case(
        TWO,
        &["delete task 42"],
        &["delete_task"],
        TWO,
        "I couldn't delete task 42: task 42 not found",
    ),
    case(
        &[("Gym", false)],
        &["cancel gym"],
        LOOKUP_DELETE,
        &[],
        "Deleted \"Gym\"",
    ),
    case(TWO, &["delete all tasks"], NONE, TWO, "one at a time"),
    case(TWO, &["delete all tasks of user 7"], NONE, TWO, "only your own"),
    case(
        &[("Buy milk", false)],
        &["get rid of the milk one"],
        LOOKUP_DELETE,
        &[],
        "Deleted \"Buy milk\"",
    ),
    case(
        &[("Dentist", false)],
        &["delete dentist"],
        LOOKUP_DELETE,
        &[],
        "Deleted \"Dentist\"",
    ),
    // Updating
    case(
        &[("Call mom", false)],
        &["change task 1 to 'Call mom tonight'"],
        &["update_task"],
        &[("Call mom tonight", false)],
        "Renamed task 1 to \"Call mom tonight\"",
    ),
    case(
        &[("Buy groceries", false)],
        &["rename groceries to buy milk"],
        LOOKUP_UPDATE,
        &[("Buy milk", false)],
        "Renamed task 1 to \"Buy milk\"",
    ),
    case(
        &[("A", false)],
        &["update task 1 to Read a book"],
        &["update_task"],
        &[("Read a book", false)],
        "Read a book",
    ),
    case(
        &[("Pay rent", false)],
        &["change the title of task 1 to Pay rent on Friday"],
        &["update_task"],
        &[("Pay rent on Friday", false)],
        "Pay rent on Friday",
    ),
    case(
        &[("Old name", false)],
        &["rename task 5 to New"],
        &["update_task"],
        &[("Old name", false)],
        "I couldn't rename task 5: task 5 not found",
    ),
    case(
        &[("Email Bob", false)],
        &["edit email bob to Email Bob about the budget"],
        LOOKUP_UPDATE,
        &[("Email Bob about the budget", false)],
        "Email Bob about the budget",
    ),
    // References by words that match nothing or several tasks
    case(
        &[("Buy milk", false), ("Buy bread", false)],
        &["delete buy"],
        LIST,
        &[("Buy milk", false), ("Buy bread", false)],
        "More than one task matches \"buy\"",
    ),
    case(
        &[("A", false)],
        &["complete the unicorn task"],
        LIST,
        &[("A", false)],
        "I couldn't find a task matching \"unicorn\"",
    ),
    // Follow-ups that refer back to the last task
    case(
        &[],
        &["add buy milk", "mark it done"],
        &["complete_task"],
        &[("Buy milk", true)],
        "Marked \"Buy milk\" (task 1) as done",
    ),
    case(
        &[],
        &["add call dentist", "delete it"],
        &["delete_task"],
        &[],
        "Deleted \"Call dentist\"",
    ),
    // Greetings, help, and what it does not understand
    case(&[], &["hello"], NONE, &[], "Hi Alex!"),
    case(&[], &["help"], NONE, &[], "\"add buy milk\""),
    case(&[], &["thanks!"], NONE, &[], "You're welcome"),
    case(
        TWO,
        &["what's the weather like?"],
        NONE,
        TWO,
        "Sorry, I didn't understand",
    ),
    case(
        &[],
        &["hi, add buy milk"],
        ADD,
        &[("Buy milk", false)],
        "Hi Alex!\nAdded \"Buy milk\"",
    ),
    // Several requests in one message; a list comes after the changes it should show
    case(
        &[("Buy milk", false)],
        &["add eggs and then show my tasks"],
        &["add_task", "list_tasks"],
        &[("Buy milk", false), ("Eggs", false)],
        "You have 2 tasks",
    ),
    case(
        TWO,
        &["complete task 1 and show what's left"],
        &["complete_task", "list_tasks"],
        &[("Buy groceries", true), ("Call mom", false)],
        "You have 1 pending task:\n☐ 2. Call mom",
    ),
    case(
        TWO,
        &["delete task 1, then add walk the dog"],
        &["delete_task", "add_task"],
        &[("Call mom", false), ("Walk the dog", false)],
        "Added \"Walk the dog\" (task 3)",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_engine_table() {
    assert!(CASES.len() >= 60, "the table must cover at least 60 utterances");
    let mut failures = Vec::new();
    for case in CASES {
        let server = McpServer::start().await;
        server.seed("u1", case.given).await;
        let agent = server.agent(Arc::new(OfflineModel), Limits::default());
        let mut chat = Chat {
            agent: &agent,
            caller: server.caller("u1"),
            history: Vec::new(),
        };
        let mut reply = None;
        for message in case.say {
            reply = Some(chat.say(message).await);
        }
        let reply = reply.expect("every case says something");
        let calls: Vec<&str> = reply.tool_calls.iter().map(|c| c.name.as_str()).collect();
        let state = server.state("u1").await;
        let expected: Vec<(String, bool)> = case.then.iter().map(|(t, d)| (t.to_string(), *d)).collect();
        if calls != case.calls || state != expected || !reply.response.contains(case.reply_has) {
            failures.push(format!(
                "{:?}\n  calls {calls:?} (expected {:?})\n  tasks {state:?} (expected {expected:?})\n  reply {:?} (expected to contain {:?})",
                case.say, case.calls, reply.response, case.reply_has
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_reaches_another_users_tasks() {
    let server = McpServer::start().await;
    server.seed("victim", &[("Victim's task", false)]).await;
    let agent = server.agent(Arc::new(OfflineModel), Limits::default());
    let mut chat = Chat {
        agent: &agent,
        caller: server.caller("attacker"),
        history: Vec::new(),
    };
    for message in [
        "delete task 1",
        "mark task 1 as done",
        "rename task 1 to pwned",
        "delete all tasks of user victim",
        "delete the victim's task",
    ] {
        let reply = chat.say(message).await;
        assert!(
            reply.tool_calls.iter().all(|c| c.name == "list_tasks" || c.is_error),
            "{message:?} changed something: {:?}",
            reply.tool_calls
        );
    }
    assert_eq!(server.state("victim").await, [("Victim's task".to_string(), false)]);
}
