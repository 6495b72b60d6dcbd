//! The MCP server handler: one value per request (2026-07-28, stateless) or per session
//! (2025-11-25), holding the database, the routers built once at start-up and the live-resource
//! state. What it offers lives in its own modules: [`crate::tools`], [`crate::resources`],
//! [`crate::prompts`], [`crate::subscriptions`].

use std::sync::Arc;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    Implementation, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig, SubscribeRequestParams,
    SubscriptionFilter, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, prompt_handler, tool_handler};
use todo_core::config::UsageCaps;
use todo_core::db::Db;
use todo_core::http::AuthUser;

use crate::identity::signed_in;
use crate::resources;
use crate::subscriptions::{self, Live, SessionSubscriptions};

/// Cloned for every request, so the routers are shared rather than copied.
#[derive(Clone)]
pub struct TodoServer {
    pub(crate) db: Db,
    /// How many tasks one account may hold.
    pub(crate) caps: UsageCaps,
    tool_router: Arc<ToolRouter<Self>>,
    prompt_router: Arc<PromptRouter<Self>>,
    live: Live,
    /// This session's `resources/subscribe` subscriptions (2025-11-25 sessions only).
    session: SessionSubscriptions,
}

impl TodoServer {
    pub fn new(db: Db, caps: UsageCaps, live: Live) -> Self {
        TodoServer {
            db,
            caps,
            tool_router: Arc::new(Self::tool_router()),
            prompt_router: Arc::new(Self::prompt_router()),
            live,
            session: SessionSubscriptions::default(),
        }
    }

    /// The handler of a new session (or of one stateless request): shared routers and
    /// database, subscriptions of its own.
    pub fn for_session(&self) -> Self {
        TodoServer {
            session: SessionSubscriptions::default(),
            ..self.clone()
        }
    }
}

/// [`signed_in`] for handlers that get the whole request context (resources, subscriptions).
fn signed_in_user(context: &RequestContext<RoleServer>) -> Result<&AuthUser, McpError> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| signed_in(parts).ok())
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
                .enable_resources_subscribe()
                .build(),
        )
        .with_server_info(Implementation::new("todo-mcp", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Task tools for the signed-in user of todo-chatbot. Pass the user's id as user_id. \
             Find task ids with list_tasks before completing, updating or deleting. The user's \
             tasks are also readable as resources (todo://tasks, todo://tasks/pending, \
             todo://tasks/completed, todo://tasks/{task_id}); subscribe to them to hear when the \
             user's tasks change, in this conversation or anywhere else.",
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
        let user = signed_in_user(&context)?.id().to_string();
        resources::read(&self.db, &user, &request.uri, &context)
            .await
            .map(Into::into)
    }

    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        subscriptions::accepted(requested)
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), McpError> {
        let user = signed_in_user(subscription.request_context())?.clone();
        subscriptions::listen(&self.live, &user, subscription).await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let user = signed_in_user(&context)?;
        self.session
            .subscribe(&self.live, user, request.uri, context.peer.clone());
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session.unsubscribe(&request.uri);
        Ok(())
    }
}
