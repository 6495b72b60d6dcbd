//! The API server's errors, as the `Status` objects clients read (k8s.io/apimachinery
//! `pkg/api/errors/errors.go`: NewNotFound, NewAlreadyExists, NewConflict, NewForbidden,
//! NewInvalid, NewBadRequest, NewMethodNotSupported). kubectl prints them as
//! `Error from server (Reason): message`.

use serde_json::{Value, json};

use crate::resources::Kind;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn not_found(kind: &Kind, name: &str) -> ApiError {
        ApiError::not_found_resource(&kind.group_resource(), kind.plural, kind.group, name)
    }

    pub fn not_found_resource(group_resource: &str, plural: &str, group: &str, name: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("{group_resource} \"{name}\" not found"),
            details: json!({"name": name, "group": group, "kind": plural}),
        }
    }

    pub fn namespace_not_found(namespace: &str) -> ApiError {
        ApiError::not_found_resource("namespaces", "namespaces", "", namespace)
    }

    pub fn already_exists(kind: &Kind, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} \"{name}\" already exists", kind.group_resource()),
            details: json!({"name": name, "group": kind.group, "kind": kind.plural}),
        }
    }

    pub fn conflict(kind: &Kind, name: &str) -> ApiError {
        ApiError {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                kind.group_resource()
            ),
            details: json!({"name": name, "group": kind.group, "kind": kind.plural}),
        }
    }

    pub fn forbidden(kind: &Kind, name: &str, why: &str) -> ApiError {
        ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!("{} \"{name}\" is forbidden: {why}", kind.group_resource()),
            details: json!({"name": name, "group": kind.group, "kind": kind.plural}),
        }
    }

    /// NamespaceLifecycle admission: no new objects in a namespace being deleted.
    pub fn namespace_terminating(kind: &Kind, name: &str, namespace: &str) -> ApiError {
        ApiError::forbidden(
            kind,
            name,
            &format!("unable to create new content in namespace {namespace} because it is being terminated"),
        )
    }

    pub fn invalid(kind: &Kind, name: &str, field: &str, why: &str) -> ApiError {
        ApiError {
            code: 422,
            reason: "Invalid",
            message: format!("{} \"{name}\" is invalid: {field}: {why}", kind.kind),
            details: json!({"name": name, "group": kind.group, "kind": kind.kind, "causes": [{"reason": "FieldValueInvalid", "message": why, "field": field}]}),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn unsupported_media(content_type: &str) -> ApiError {
        ApiError {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type})"
            ),
            details: Value::Null,
        }
    }

    pub fn not_found_path(path: &str) -> ApiError {
        ApiError {
            code: 404,
            reason: "NotFound",
            message: format!("the server could not find the requested resource ({path})"),
            details: Value::Null,
        }
    }

    pub fn body(&self) -> Value {
        let mut status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}

pub fn success(kind: &Kind, name: &str, uid: &Value) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": kind.group, "kind": kind.plural, "uid": uid},
    })
}
