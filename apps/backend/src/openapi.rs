//! The OpenAPI document, served at `/openapi.json` and browsable at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, chat, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "todo-chatbot backend", description = "Accounts, tasks and chat for the todo-chatbot."),
    paths(auth::sign_up, auth::sign_in, auth::me, auth::delete_me, tasks::list, tasks::create, tasks::get_one, tasks::update, tasks::delete, tasks::toggle_complete, chat::send, chat::conversations, chat::messages),
    components(schemas(todo_core::http::ErrorBody, todo_core::http::ErrorDetail, todo_core::domain::Task, todo_core::domain::StatusFilter, todo_core::domain::Conversation, todo_core::domain::ChatMessage, todo_core::domain::ChatRole, chat::ChatRequest, chat::ChatResponse)),
    modifiers(&BearerAuth),
    tags((name = "auth", description = "Accounts and tokens"), (name = "tasks", description = "The signed-in user's tasks"), (name = "chat", description = "Conversations with the assistant"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
