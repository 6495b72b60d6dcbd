//! Just enough of an MCP client (streamable HTTP) to ask a server for its tools: `initialize`,
//! then `tools/list`, each a JSON-RPC POST. The answer is JSON, or a server-sent event stream
//! whose `data:` lines carry it; both are read.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// The task tools every todo-chatbot MCP server offers.
pub const EXPECTED_TOOLS: [&str; 5] = ["add_task", "list_tasks", "complete_task", "delete_task", "update_task"];

const PROTOCOL_VERSION: &str = "2025-11-25";

/// The names of the tools the server at `url` lists for the holder of `token`.
pub fn list_tools(url: &str, token: &str) -> anyhow::Result<Vec<String>> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    let call = |id: u64, method: &str, params: Value| -> anyhow::Result<Value> {
        let mut response = agent
            .post(url)
            .header("authorization", &format!("Bearer {token}"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .send_json(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .with_context(|| format!("MCP {method} to {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            bail!("MCP {method} answered HTTP {status}: {text}");
        }
        let reply =
            json_rpc_reply(&text, id).with_context(|| format!("MCP {method}: no JSON-RPC reply in {text:?}"))?;
        if let Some(error) = reply.get("error") {
            bail!("MCP {method} failed: {error}");
        }
        Ok(reply["result"].clone())
    };
    let init = call(
        1,
        "initialize",
        json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "todo-smoke", "version": env!("CARGO_PKG_VERSION")},
        }),
    )?;
    if init["serverInfo"]["name"].as_str().is_none() {
        bail!("MCP initialize: no serverInfo in {init}");
    }
    let listed = call(2, "tools/list", json!({}))?;
    let tools = listed["tools"]
        .as_array()
        .with_context(|| format!("MCP tools/list: no tools in {listed}"))?;
    Ok(tools
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect())
}

/// The reply with this `id`, from a JSON body or from the `data:` lines of an event stream.
fn json_rpc_reply(text: &str, id: u64) -> Option<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return Some(value);
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|message| message["id"] == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_reply_from_json_or_from_an_event_stream() {
        assert_eq!(
            json_rpc_reply(r#"{"id":2,"result":{}}"#, 2),
            Some(json!({"id":2,"result":{}}))
        );
        let stream = "event: message\ndata: {\"id\":1,\"result\":1}\n\ndata: {\"id\":2,\"result\":{\"tools\":[]}}\n\n";
        assert_eq!(json_rpc_reply(stream, 2), Some(json!({"id":2,"result":{"tools":[]}})));
        assert_eq!(json_rpc_reply("event: ping\n\n", 2), None);
    }
}
