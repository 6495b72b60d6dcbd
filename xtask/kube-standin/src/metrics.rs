//! `metrics.k8s.io/v1beta1`, as metrics-server serves it (Minikube's `metrics-server` addon):
//! PodMetrics and NodeMetrics, which `kubectl top` reads (kubectl `pkg/cmd/top`: it first looks
//! for the group in discovery, and says "Metrics API not available" without it). Served only
//! when the test's cluster has a metrics server ([`crate::Fates::with_metrics_server`]).
//!
//! Each running container uses what an idle service does here: 1m of CPU and 4 MiB; the figures
//! are not the point, that `top` finds the pods and prints them is.

use serde_json::{Value, json};

use crate::apiserver::{ApiServer, now};
use crate::resources;
use crate::selectors::LabelSelector;
use crate::status::ApiError;

pub const GROUP: &str = "metrics.k8s.io";
pub const VERSION: &str = "v1beta1";

/// The group's entry in `/apis`.
pub fn group() -> Value {
    let gv = json!({"groupVersion": format!("{GROUP}/{VERSION}"), "version": VERSION});
    json!({"name": GROUP, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis/metrics.k8s.io/v1beta1`.
pub fn resource_list() -> Value {
    json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{GROUP}/{VERSION}"),
        "resources": [
            {"name": "nodes", "singularName": "", "namespaced": false, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": true, "kind": "PodMetrics", "verbs": ["get", "list"]},
        ],
    })
}

/// A path under the group version: `pods`, `namespaces/N/pods[/P]`, `nodes[/N]`.
pub fn serve(api: &ApiServer, rest: &[&str], selector: &LabelSelector) -> Result<Value, ApiError> {
    let txn = api.store.lock();
    let pods = txn.list(resources::named("", "pods"), None);
    let running = pods
        .into_iter()
        .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null());
    match rest {
        ["pods"] => Ok(list(
            "PodMetricsList",
            running.filter(|p| selector.matches(p)).map(|p| pod_metrics(&p)),
        )),
        ["namespaces", namespace, "pods"] => Ok(list(
            "PodMetricsList",
            running
                .filter(|p| p["metadata"]["namespace"] == *namespace && selector.matches(p))
                .map(|p| pod_metrics(&p)),
        )),
        ["namespaces", namespace, "pods", name] => running
            .filter(|p| p["metadata"]["namespace"] == *namespace && p["metadata"]["name"] == *name)
            .map(|p| pod_metrics(&p))
            .next()
            .ok_or_else(|| ApiError::not_found_resource("pods.metrics.k8s.io", "pods", GROUP, name)),
        ["nodes"] | ["nodes", _] => {
            let nodes = txn.list(resources::named("", "nodes"), None);
            let items: Vec<Value> = nodes
                .iter()
                .filter(|n| rest.get(1).is_none_or(|name| n["metadata"]["name"] == *name))
                .map(|n| {
                    json!({
                        "kind": "NodeMetrics", "apiVersion": format!("{GROUP}/{VERSION}"),
                        "metadata": {"name": n["metadata"]["name"], "labels": n["metadata"]["labels"]},
                        "timestamp": now(), "window": "20s",
                        "usage": {"cpu": "150m", "memory": "1024Mi"},
                    })
                })
                .collect();
            match rest.get(1) {
                Some(name) => items
                    .into_iter()
                    .next()
                    .ok_or_else(|| ApiError::not_found_resource("nodes.metrics.k8s.io", "nodes", GROUP, name)),
                None => Ok(list("NodeMetricsList", items.into_iter())),
            }
        }
        _ => Err(ApiError::not_found_path(&rest.join("/"))),
    }
}

fn list(kind: &str, items: impl Iterator<Item = Value>) -> Value {
    json!({
        "kind": kind, "apiVersion": format!("{GROUP}/{VERSION}"), "metadata": {},
        "items": items.collect::<Vec<_>>(),
    })
}

fn pod_metrics(pod: &Value) -> Value {
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({"name": c["name"], "usage": {"cpu": "1m", "memory": "4Mi"}}))
        .collect();
    json!({
        "kind": "PodMetrics", "apiVersion": format!("{GROUP}/{VERSION}"),
        "metadata": {
            "name": pod["metadata"]["name"], "namespace": pod["metadata"]["namespace"],
            "labels": pod["metadata"]["labels"], "creationTimestamp": now(),
        },
        "timestamp": now(), "window": "20s", "containers": containers,
    })
}
