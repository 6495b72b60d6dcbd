//! The OpenAPI document, served at `/openapi.json` and browsable at `/docs`.

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, chat, tasks};

#[derive(OpenApi)]
#[openapi(
    info(title = "todo-chatbot backend", description = "Accounts, tasks and chat for the todo-chatbot."),
    paths(auth::sign_up, auth::sign_in, auth::sign_out, auth::renew, auth::me, auth::delete_me, tasks::list, tasks::create, tasks::get_one, tasks::update, tasks::patch, tasks::delete, tasks::toggle_complete, chat::send, chat::conversations, chat::messages),
    components(schemas(todo_core::http::ErrorBody, todo_core::http::ErrorDetail, todo_core::domain::Task, todo_core::domain::StatusFilter, todo_core::domain::Priority, todo_core::domain::TaskSort, todo_core::domain::SortOrder, tasks::Tag, todo_core::domain::Conversation, todo_core::domain::ChatMessage, todo_core::domain::ChatRole, chat::ChatRequest, chat::ChatResponse)),
    modifiers(&BearerAuth, &StandardErrors, &TimeZones),
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

/// A chat's `time_zone` is one of the built-in database's names (or null): listed as an enum, so
/// the document says exactly what is accepted.
struct TimeZones;

impl Modify for TimeZones {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Schema, SchemaType};
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut("ChatRequest") else {
            return;
        };
        let names = todo_core::domain::zone_names()
            .into_iter()
            .map(serde_json::Value::String);
        let zone = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(
                "The user's IANA time zone (`Intl.DateTimeFormat().resolvedOptions().timeZone`): what \
                 \"tomorrow\" and \"Friday 5pm\" mean. UTC when absent.",
            ))
            .examples(["Europe/Berlin"])
            .enum_values(Some(names.chain([serde_json::Value::Null])));
        request
            .properties
            .insert("time_zone".into(), RefOr::T(Schema::Object(zone.build())));
    }
}

/// The error answers an operation can give because of what it takes, declared here once instead
/// of on every route: the extractors and `ApiError` (todo_core::http) answer them the same way
/// everywhere. A JSON body: 400 (not JSON), 413 (over the limit), 415 (not sent as JSON), 422 (not
/// the schema, or a broken rule, the field named). A path or query parameter of the wrong type:
/// 400. A bearer token: 401 (missing, malformed, expired). A `{user_id}` in the path: 403 (another
/// user's), and on a write there, 429 (the user's write or chat limit). Any: 503 (the database
/// is unreachable).
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            for (operation, writes) in operations {
                if let Some(operation) = operation {
                    declare_standard_errors(path, operation, writes);
                }
            }
        }
    }
}

fn declare_standard_errors(path: &str, operation: &mut Operation, writes: bool) {
    let parameters: Vec<(String, ParameterIn)> = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(p) => Some((p.name.clone(), p.parameter_in.clone())),
            RefOr::Ref(_) => None,
        })
        .collect();
    let typed_path_parameter = parameters
        .iter()
        .any(|(name, at)| matches!(at, ParameterIn::Path) && name != "user_id");
    let query_parameter = parameters.iter().any(|(_, at)| matches!(at, ParameterIn::Query));
    let mut errors = Vec::new();
    if operation.request_body.is_some() {
        errors.extend([
            ("400", "The body is not JSON."),
            ("413", "The body is over the size limit."),
            ("415", "The body is not sent as application/json."),
            (
                "422",
                "The body does not match the schema or breaks a rule; the error names the field.",
            ),
        ]);
    }
    if typed_path_parameter || query_parameter {
        errors.push((
            "400",
            "A path or query parameter is not of its type or not one of its values.",
        ));
    }
    if operation.security.is_some() {
        errors.push((
            "401",
            "No valid bearer token: missing, malformed, expired, or its account deleted.",
        ));
    }
    if path.contains("{user_id}") {
        errors.push(("403", "The token belongs to another user."));
        if writes {
            errors.push((
                "429",
                "Too many task writes or chat messages from this user; Retry-After says when to go on.",
            ));
        }
    }
    errors.push(("503", "The database is unreachable."));
    for (status, description) in errors {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                let mut response = ResponseBuilder::new();
                if status == "503" || status == "429" {
                    response = response.header("Retry-After", retry_after());
                }
                response
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    }
}

/// The `Retry-After` header of a 429 or 503: seconds until a retry is worth it.
fn retry_after() -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1))))
        .description(Some("Seconds until trying again is worth it"))
        .build()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use todo_core::domain::{CURSOR_PATTERN, NO_NUL_PATTERN, TAG_PATTERN, TEXT_PATTERN, TITLE_PATTERN};

    use super::*;

    fn patterns(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(pattern)) = map.get("pattern") {
                    found.push(pattern.clone());
                }
                map.values().for_each(|v| patterns(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| patterns(v, found)),
            _ => {}
        }
    }

    /// The attributes spell the patterns out (they cannot name a constant): each must be one
    /// the domain's validation enforces.
    #[test]
    fn every_pattern_in_the_document_is_one_the_domain_enforces() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut found = Vec::new();
        patterns(&document, &mut found);
        assert!(found.len() >= 6, "{found:?}");
        for pattern in found {
            assert!(
                pattern == TEXT_PATTERN
                    || pattern == TITLE_PATTERN
                    || pattern == NO_NUL_PATTERN
                    || pattern == TAG_PATTERN
                    || pattern == CURSOR_PATTERN,
                "{pattern}"
            );
        }
    }

    #[test]
    fn every_operation_declares_the_errors_its_inputs_can_give() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let put = &document["paths"]["/api/{user_id}/tasks/{id}"]["put"]["responses"];
        for status in ["200", "400", "401", "403", "404", "413", "415", "422", "503"] {
            assert!(put.get(status).is_some(), "PUT task does not declare {status}");
        }
        let sign_in = &document["paths"]["/api/auth/sign-in"]["post"]["responses"];
        // Sign-in names no user, so its only 403 is local accounts being off.
        assert!(
            sign_in["403"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("local accounts"))
                && sign_in.get("415").is_some(),
            "{sign_in}"
        );
        for status in ["429", "503"] {
            assert!(sign_in[status]["headers"].get("Retry-After").is_some(), "{sign_in}");
        }
        let list = &document["paths"]["/api/{user_id}/tasks"]["get"]["responses"];
        assert!(list["503"]["headers"].get("Retry-After").is_some(), "{list}");
    }

    #[test]
    fn a_chats_time_zone_is_one_of_the_names_the_backend_accepts() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let zones = document["components"]["schemas"]["ChatRequest"]["properties"]["time_zone"]["enum"]
            .as_array()
            .unwrap()
            .clone();
        assert!(zones.len() > 300, "{} zones", zones.len());
        assert!(zones.contains(&serde_json::json!("Europe/Berlin")) && zones.contains(&serde_json::Value::Null));
        for zone in zones.iter().filter_map(|z| z.as_str()) {
            assert!(todo_core::domain::UserZone::parse("time_zone", zone).is_ok(), "{zone}");
        }
    }
}
