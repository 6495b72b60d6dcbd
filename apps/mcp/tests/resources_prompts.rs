//! The tasks as MCP resources and the prompts, through the official Rust MCP client over real
//! HTTP, on SQLite and PostgreSQL, with both protocol lifecycles: what a host such as Claude
//! Desktop lists, attaches and offers its user.

mod common;

use common::{call, legacy, start, stateless, structured};
use rmcp::model::{
    CacheScope, ContentBlock, GetPromptRequestParams, ListResourcesResult, ReadResourceRequestParams,
    ReadResourceResult, ResourceContents,
};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};
use todo_core::both_backends;

async fn read(client: &RunningService<RoleClient, ()>, uri: &str) -> Result<ReadResourceResult, String> {
    client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .map_err(|e| e.to_string())
}

/// The JSON text of a resource read, with its URI and MIME type checked.
fn json_of(result: &ReadResourceResult, uri: &str) -> Value {
    let [
        ResourceContents::TextResourceContents {
            uri: got,
            mime_type,
            text,
            ..
        },
    ] = result.contents.as_slice()
    else {
        panic!("one text content expected: {result:?}")
    };
    assert_eq!((got.as_str(), mime_type.as_deref()), (uri, Some("application/json")));
    serde_json::from_str(text).expect("resource text is JSON")
}

fn titles(list: &Value) -> Vec<&str> {
    list["tasks"]
        .as_array()
        .expect("tasks array")
        .iter()
        .map(|t| t["title"].as_str().expect("title"))
        .collect()
}

both_backends! {
    async fn resources_show_the_callers_tasks_only(db) {
        let server = start(&db).await;
        let alice = server.client("alice", stateless()).await;
        for title in ["Buy milk", "Call mom", "File taxes"] {
            call(&alice, "add_task", json!({"user_id": "alice", "title": title})).await;
        }
        let listed = call(&alice, "list_tasks", json!({"user_id": "alice"})).await;
        let milk = structured(&listed)["tasks"][0]["id"].as_i64().unwrap();
        call(&alice, "complete_task", json!({"user_id": "alice", "task_id": milk})).await;
        let mallory = server.client("mallory", legacy()).await;
        call(&mallory, "add_task", json!({"user_id": "mallory", "title": "mallory's own"})).await;

        for client in [&alice, &mallory] {
            let listed: ListResourcesResult = client.list_resources(None).await.unwrap();
            let uris: Vec<&str> = listed.resources.iter().map(|r| r.uri.as_str()).collect();
            assert_eq!(uris, ["todo://tasks", "todo://tasks/pending", "todo://tasks/completed"]);
            let templates = client.list_resource_templates(None).await.unwrap().resource_templates;
            assert_eq!(templates.len(), 1);
            assert_eq!(templates[0].uri_template, "todo://tasks/{task_id}");
        }

        let all = json_of(&read(&alice, "todo://tasks").await.unwrap(), "todo://tasks");
        assert_eq!(titles(&all), ["Buy milk", "Call mom", "File taxes"]);
        assert_eq!((all["count"].as_u64(), all["pending"].as_u64(), all["completed"].as_u64()), (Some(3), Some(2), Some(1)));
        let pending = json_of(&read(&alice, "todo://tasks/pending").await.unwrap(), "todo://tasks/pending");
        assert_eq!(titles(&pending), ["Call mom", "File taxes"]);
        let done = json_of(&read(&alice, "todo://tasks/completed").await.unwrap(), "todo://tasks/completed");
        assert_eq!(titles(&done), ["Buy milk"]);
        let uri = format!("todo://tasks/{milk}");
        let one = json_of(&read(&alice, &uri).await.unwrap(), &uri);
        assert_eq!((one["title"].as_str(), one["completed"].as_bool()), (Some("Buy milk"), Some(true)));

        // Mallory reads her own list, and Alice's task by its id is not found, like a missing one.
        let hers = json_of(&read(&mallory, "todo://tasks").await.unwrap(), "todo://tasks");
        assert_eq!(titles(&hers), ["mallory's own"]);
        let foreign = read(&mallory, &uri).await.unwrap_err();
        assert!(foreign.contains("no resource"), "{foreign}");
        for bad in ["todo://tasks/424242", "todo://tasks/three", "todo://users", "file:///etc/passwd"] {
            let error = read(&alice, bad).await.unwrap_err();
            assert!(error.contains("no resource"), "{bad}: {error}");
        }
    }

    async fn resource_reads_are_private_to_the_user_for_caches(db) {
        let server = start(&db).await;
        let client = server.client("u1", stateless()).await;
        let listed = client.list_resources(None).await.unwrap();
        assert_eq!(listed.cache_scope, Some(CacheScope::Public), "the list is the same for everyone");
        let read = read(&client, "todo://tasks").await.unwrap();
        assert_eq!((read.cache_scope, read.ttl_ms), (Some(CacheScope::Private), Some(0)));
    }

    async fn plan_my_day_embeds_the_callers_pending_tasks(db) {
        let server = start(&db).await;
        let alice = server.client("alice", legacy()).await;
        let prompts = alice.list_prompts(None).await.unwrap().prompts;
        let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["capture_tasks", "plan_my_day"]);
        let capture = prompts.iter().find(|p| p.name == "capture_tasks").unwrap();
        let arguments = capture.arguments.as_deref().unwrap_or_default();
        assert_eq!(arguments.len(), 1);
        assert_eq!((arguments[0].name.as_str(), arguments[0].required), ("notes", Some(true)));

        let empty = alice.get_prompt(GetPromptRequestParams::new("plan_my_day")).await.unwrap();
        let ContentBlock::Text(ask) = &empty.messages[1].content else { panic!("{empty:?}") };
        assert!(ask.text.contains("no pending tasks"), "{}", ask.text);

        call(&alice, "add_task", json!({"user_id": "alice", "title": "Water the plants"})).await;
        call(&alice, "add_task", json!({"user_id": "alice", "title": "Call the bank", "priority": "high"})).await;
        call(&alice, "add_task", json!({"user_id": "alice", "title": "File taxes", "due": "2031-01-01"})).await;
        call(&alice, "add_task", json!({"user_id": "alice", "title": "Renew passport", "due": "2020-01-01"})).await;
        let mallory = server.client("mallory", stateless()).await;
        call(&mallory, "add_task", json!({"user_id": "mallory", "title": "mallory's plan"})).await;

        let plan = alice.get_prompt(GetPromptRequestParams::new("plan_my_day")).await.unwrap();
        let ContentBlock::Resource(embedded) = &plan.messages[0].content else { panic!("{plan:?}") };
        let ResourceContents::TextResourceContents { uri, text, .. } = &embedded.resource else { panic!("{plan:?}") };
        assert_eq!(uri, "todo://tasks/pending");
        let embedded: Value = serde_json::from_str(text).unwrap();
        // Due first (overdue leading), then the undated by priority.
        assert_eq!(titles(&embedded), ["Renew passport", "File taxes", "Call the bank", "Water the plants"]);
        assert_eq!(embedded["tasks"][0]["overdue"], true);
        let ContentBlock::Text(ask) = &plan.messages[1].content else { panic!("{plan:?}") };
        assert!(ask.text.contains("4 pending tasks, soonest due first"), "{}", ask.text);
    }

    async fn capture_tasks_carries_the_notes_and_refuses_none(db) {
        let server = start(&db).await;
        let client = server.client("u1", stateless()).await;
        let notes = "Met Anna: she needs the budget by Friday. Book the room for the offsite.";
        let mut args = serde_json::Map::new();
        args.insert("notes".into(), json!(notes));
        let prompt = client
            .get_prompt(GetPromptRequestParams::new("capture_tasks").with_arguments(args))
            .await
            .unwrap();
        let ContentBlock::Text(ask) = &prompt.messages[0].content else { panic!("{prompt:?}") };
        assert!(ask.text.contains("add_task") && ask.text.ends_with(notes), "{}", ask.text);

        let missing = client.get_prompt(GetPromptRequestParams::new("capture_tasks")).await.unwrap_err();
        assert!(missing.to_string().contains("notes"), "{missing}");
        let mut blank = serde_json::Map::new();
        blank.insert("notes".into(), json!("   "));
        let blank = client
            .get_prompt(GetPromptRequestParams::new("capture_tasks").with_arguments(blank))
            .await
            .unwrap_err();
        assert!(blank.to_string().contains("notes is empty"), "{blank}");
        let unknown = client.get_prompt(GetPromptRequestParams::new("drop_everything")).await;
        assert!(unknown.is_err(), "{unknown:?}");
    }
}
