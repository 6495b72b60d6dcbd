//! The MCP server handler: one value per request (the stateless transport builds a handler for
//! each), holding the database and the routers built once at start-up. What it offers lives in
//! its own modules: [`crate::tools`], [`crate::resources`], [`crate::prompts`].

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, prompt_handler, tool_handler};
use todo_core::db::Db;
use todo_core::http::AuthUser;

use crate::resources;

/// Cloned for every request, so the routers are shared rather than copied.
#[derive(Clone)]
pub struct TodoServer {
    pub(crate) db: Db,
    tool_router: Arc<ToolRouter<Self>>,
    prompt_router: Arc<PromptRouter<Self>>,
}

impl TodoServer {
    pub fn new(db: Db) -> Self {
        TodoServer {
            db,
            tool_router: Arc::new(Self::tool_router()),
            prompt_router: Arc::new(Self::prompt_router()),
        }
    }
}

/// The signed-in user, put into the HTTP request by the token middleware before any MCP message
/// is read; missing only if the server is mounted without that middleware.
pub(crate) fn signed_in(parts: &http::request::Parts) -> Result<&AuthUser, String> {
    parts
        .extensions
        .get::<AuthUser>()
        .ok_or_else(|| "not signed in".to_string())
}

/// [`signed_in`] for handlers that get the whole request context (resources).
fn signed_in_user(context: &RequestContext<RoleServer>) -> Result<String, McpError> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| signed_in(parts).ok())
        .map(|user| user.id().to_string())
        .ok_or_else(|| McpError::invalid_request("not signed in", None))
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for TodoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("todo-mcp", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Task tools for the signed-in user of todo-chatbot. Pass the user's id as user_id. \
             Find task ids with list_tasks before completing, updating or deleting. The user's \
             tasks are also readable as resources (todo://tasks, todo://tasks/pending, \
             todo://tasks/completed, todo://tasks/{task_id}).",
        )
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(resources::list(&context))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(resources::templates(&context))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let user = signed_in_user(&context)?;
        resources::read(&self.db, &user, &request.uri, &context)
            .await
            .map(Into::into)
    }
}
