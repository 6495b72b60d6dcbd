//! The kinds the stand-in serves, and the discovery and OpenAPI documents that describe them.
//!
//! Shapes follow the real API server: legacy discovery (`/api`, `/apis`, `/api/v1`,
//! `/apis/{group}/{version}`; k8s.io/apimachinery `pkg/apis/meta/v1` APIVersions, APIGroupList,
//! APIResourceList). Clients that ask for aggregated discovery (`as=APIGroupDiscoveryList` in
//! Accept) fall back to these when the answer's Content-Type is plain `application/json`
//! (client-go `discovery/aggregated_discovery.go`, `discovery_client.go` checks the returned
//! media type).

use serde_json::{Value, json};

/// One resource of the API, as a discovery document lists it.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static [&'static str],
    /// Writes to the object itself keep its `status` (the resource has a status subresource).
    pub has_status: bool,
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods`: how the API server names the resource in messages
    /// (schema.GroupResource.String()).
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn singular(&self) -> String {
        self.kind.to_lowercase()
    }

    /// The path of the collection (`/apis/apps/v1/namespaces/NS/deployments`).
    pub fn collection_path(&self, namespace: &str) -> String {
        let base = if self.group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if self.namespaced {
            format!("{base}/namespaces/{namespace}/{}", self.plural)
        } else {
            format!("{base}/{}", self.plural)
        }
    }
}

macro_rules! kind {
    ($group:literal, $version:literal, $plural:literal, $kind:literal, $namespaced:literal, [$($short:literal),*], $status:literal) => {
        Kind { group: $group, version: $version, plural: $plural, kind: $kind, namespaced: $namespaced, short: &[$($short),*], has_status: $status }
    };
}

/// What the chart, `k8s/`, Helm's release storage and the xtask commands touch. Core events
/// only: the `events.k8s.io` copy would make `kubectl get events` ambiguous for nothing.
pub static KINDS: &[Kind] = &[
    kind!("", "v1", "namespaces", "Namespace", false, ["ns"], true),
    kind!("", "v1", "nodes", "Node", false, ["no"], true),
    kind!("", "v1", "pods", "Pod", true, ["po"], true),
    kind!("", "v1", "services", "Service", true, ["svc"], true),
    kind!("", "v1", "endpoints", "Endpoints", true, ["ep"], false),
    kind!("", "v1", "configmaps", "ConfigMap", true, ["cm"], false),
    kind!("", "v1", "secrets", "Secret", true, [], false),
    kind!("", "v1", "serviceaccounts", "ServiceAccount", true, ["sa"], false),
    kind!("", "v1", "events", "Event", true, ["ev"], false),
    kind!(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        ["pvc"],
        true
    ),
    kind!("", "v1", "resourcequotas", "ResourceQuota", true, ["quota"], true),
    kind!("", "v1", "limitranges", "LimitRange", true, ["limits"], false),
    kind!("apps", "v1", "deployments", "Deployment", true, ["deploy"], true),
    kind!("apps", "v1", "replicasets", "ReplicaSet", true, ["rs"], true),
    kind!("apps", "v1", "statefulsets", "StatefulSet", true, ["sts"], true),
    kind!("apps", "v1", "daemonsets", "DaemonSet", true, ["ds"], true),
    kind!(
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        [],
        false
    ),
    kind!("batch", "v1", "jobs", "Job", true, [], true),
    kind!("batch", "v1", "cronjobs", "CronJob", true, ["cj"], true),
    kind!(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        ["netpol"],
        false
    ),
    kind!("networking.k8s.io", "v1", "ingresses", "Ingress", true, ["ing"], true),
    kind!(
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        [],
        false
    ),
    kind!(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        ["pdb"],
        true
    ),
    kind!(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        ["hpa"],
        true
    ),
    kind!("rbac.authorization.k8s.io", "v1", "roles", "Role", true, [], false),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        [],
        false
    ),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        [],
        false
    ),
    kind!(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        [],
        false
    ),
];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)
}

pub fn named(group: &str, plural: &str) -> &'static Kind {
    KINDS
        .iter()
        .find(|k| k.group == group && k.plural == plural)
        .unwrap_or_else(|| panic!("the stand-in serves no {plural}.{group}"))
}

fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for k in KINDS.iter().filter(|k| !k.group.is_empty()) {
        if !seen.contains(&(k.group, k.version)) {
            seen.push((k.group, k.version));
        }
    }
    seen
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
}

pub fn api_group_list() -> Value {
    let groups: Vec<Value> = group_versions()
        .into_iter()
        .map(|(group, version)| {
            let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `None` when no kind of the stand-in is in that group version.
pub fn api_resource_list(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&Kind> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let verbs = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let mut resources = Vec::new();
    for k in &kinds {
        resources.push(json!({
            "name": k.plural, "singularName": k.singular(), "namespaced": k.namespaced,
            "kind": k.kind, "verbs": verbs, "shortNames": k.short,
        }));
        if k.has_status {
            resources.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
        }
        if k.plural == "pods" {
            for (sub, verbs) in [
                ("log", vec!["get"]),
                ("portforward", vec!["create", "get"]),
                ("exec", vec!["create", "get"]),
            ] {
                resources.push(json!({"name": format!("pods/{sub}"), "singularName": "", "namespaced": true, "kind": if sub == "log" { "Pod" } else { "PodPortForwardOptions" }, "verbs": verbs}));
            }
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

/// `/openapi/v3`: one entry per group version (k8s.io/kube-openapi `handler3`: `paths` maps
/// `api/v1`, `apis/apps/v1`, … to `serverRelativeURL`s).
pub fn openapi_v3_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=standin"}),
    );
    for (group, version) in group_versions() {
        paths.insert(
            format!("apis/{group}/{version}"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{group}/{version}?hash=standin")}),
        );
    }
    json!({"paths": paths})
}

/// One group version's OpenAPI v3 document, reduced to what the clients read of it: each kind's
/// PATCH operation with its `x-kubernetes-group-version-kind` and the `fieldValidation` query
/// parameter. kubectl and Helm ask it whether the server validates fields itself
/// (kubectl `pkg/cmd/util/factory_client_access.go` Validator → cli-runtime
/// `resource/query_param_verifier_v3.go` supportsQueryParamV3); when it does they send
/// `fieldValidation=Strict` and skip client-side schema validation, which would need the
/// whole schema. Kinds absent here make kubectl fall back to its compiled-in patch metadata
/// (apply's `patcher.buildMergePatch`), which is what a real server's schema says for built-in
/// kinds anyway.
pub fn openapi_v3_group(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&Kind> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for k in kinds {
        let path = format!("{}/{{name}}", k.collection_path("{namespace}"));
        paths.insert(
            path,
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind},
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean"}}
                ],
                "responses": {"200": {"description": "OK"}}
            }}),
        );
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.35.0"}, "paths": paths, "components": {"schemas": {}}}),
    )
}
