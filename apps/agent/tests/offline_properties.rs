//! Properties of the offline engine on any input, not only the phrasings of its table: it never
//! panics, never touches another user's tasks, and answers promptly (a guard against a runaway
//! pattern, not a performance target: those live in `cargo xtask bench`).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Chat, McpServer};
use proptest::prelude::*;
use todo_agent::Limits;
use todo_agent::offline::{Intent, OfflineModel, Target, parse};

/// A message that is not trivially rejected: words of the engine's own vocabulary, task ids
/// (including the other user's), filler and noise, in any order.
fn utterance() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("add"),
        Just("delete"),
        Just("remove"),
        Just("mark"),
        Just("done"),
        Just("complete"),
        Just("rename"),
        Just("to"),
        Just("task"),
        Just("tasks"),
        Just("all"),
        Just("my"),
        Just("it"),
        Just("that"),
        Just("one"),
        Just("and"),
        Just("then"),
        Just("also"),
        Just("not"),
        Just("pending"),
        Just("completed"),
        Just("list"),
        Just("show"),
        Just("what"),
        Just("please"),
        Just("user"),
        Just("victim"),
        Just("of"),
        Just("1"),
        Just("2"),
        Just("3"),
        Just("-1"),
        Just("99999999999999999999"),
        Just(","),
        Just("."),
        Just("?"),
        Just("!"),
        Just(";"),
        Just("\""),
        Just("'"),
        Just("\u{0}"),
        Just("買い物"),
        Just("🛒"),
        Just("\u{202e}"),
    ];
    let token = prop_oneof![4 => word.prop_map(str::to_string), 1 => "\\PC{1,12}"];
    proptest::collection::vec(token, 0..40).prop_map(|words| words.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The grammar alone, on anything up to the backend's 64 KiB body limit.
    #[test]
    fn parsing_any_text_terminates_quickly_without_panicking(text in prop_oneof!["\\PC{0,300}", utterance(), "(add |delete |mark |, and ){0,2000}",
        // As long as a body may be: 64 KiB of one generated utterance over and over.
        utterance().prop_map(|u| { let unit = format!("{u} and "); unit.repeat(64 * 1024 / unit.len()) })]) {
        let started = Instant::now();
        let intents = parse(&text);
        prop_assert!(!intents.is_empty(), "every message gets an intent, Unknown at worst");
        for intent in &intents {
            // A title or a task named by words is never blank or padded: it would be refused, or
            // match every task.
            let words = match intent {
                Intent::Add { title, .. } => Some(title),
                Intent::Update { change, .. } => change.title.as_ref(),
                Intent::Complete { target: Target::Words(w) } | Intent::Delete { target: Target::Words(w) } => Some(w),
                _ => None,
            };
            if let Some(words) = words {
                prop_assert!(!words.trim().is_empty() && words.trim() == words, "{intent:?} from {text:?}");
            }
        }
        prop_assert!(started.elapsed() < Duration::from_secs(2), "{:?} took {:?}", text.len(), started.elapsed());
    }
}

#[test]
fn no_message_changes_another_users_tasks_or_fails_the_loop() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(McpServer::start());
    let bystander = [("Victim's task", false), ("Victim's done task", true)];
    runtime.block_on(server.seed("victim", &bystander));
    runtime.block_on(server.seed("me", &[("Buy groceries", false), ("Call mom", true)]));
    let agent = server.agent(Arc::new(OfflineModel), Limits::default());
    let expected: Vec<(String, bool)> = bystander.iter().map(|(t, d)| (t.to_string(), *d)).collect();
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(messages in proptest::collection::vec(utterance(), 1..4))| {
        runtime.block_on(async {
            let mut chat = Chat::new(&agent, server.caller("me"));
            for message in &messages {
                let started = Instant::now();
                let reply = chat.say(message).await;
                assert!(!reply.response.trim().is_empty(), "{message:?}: an empty reply");
                assert!(started.elapsed() < Duration::from_secs(5), "{message:?} took {:?}", started.elapsed());
            }
            assert_eq!(server.state("victim").await, expected, "after {messages:?}");
        });
    });
}
