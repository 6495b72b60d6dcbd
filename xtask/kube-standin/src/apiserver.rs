//! What the API server does with a write before it is stored: defaults, admission, and the
//! bookkeeping fields (uid, resourceVersion, generation, creationTimestamp).
//!
//! The rules, and where the real server keeps them:
//! - a namespaced object needs its namespace, and a namespace being deleted takes nothing new
//!   (admission plugin NamespaceLifecycle);
//! - LimitRange defaults fill in a container's missing requests and limits (LimitRanger), then
//!   PodSecurity (`pod-security.kubernetes.io/enforce` on the namespace) and ResourceQuota
//!   judge the pod (plugin/pkg/admission/*, staging/src/k8s.io/pod-security-admission);
//! - `generation` starts at 1 and grows when anything but metadata and status changes
//!   (registry/apps/deployment/strategy.go PrepareForUpdate, and the same in every strategy);
//! - writes to an object whose resource has a status subresource keep its status, and status
//!   writes keep the rest (the strategies' PrepareForUpdate / status strategies);
//! - a Service gets a cluster IP and node ports (registry/core/service/ipallocator,
//!   portallocator); a Secret's `stringData` becomes base64 `data` (pkg/apis/core/v1
//!   conversion);
//! - a PUT with a stale `resourceVersion` is a Conflict (storage GuaranteedUpdate).

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::admission;
use crate::kubelet::Fates;
use crate::resources::{self, Kind};
use crate::status::ApiError;
use crate::store::{Key, Store, Txn};

/// One stand-in cluster: its objects, and how its pods behave.
#[derive(Clone)]
pub struct ApiServer {
    pub store: Store,
    pub fates: Arc<Fates>,
    /// Every request served, as `METHOD /path?query` (tests check which cluster was asked).
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn random_suffix(len: usize) -> String {
    // The alphabet of k8s.io/apimachinery/pkg/util/rand.String: no vowels, no look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..len)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl ApiServer {
    pub fn key(kind: &Kind, namespace: &str, name: &str) -> Key {
        Key::new(kind, namespace, name)
    }

    /// Creates `object` in `namespace` (ignored for cluster-scoped kinds).
    pub fn create(
        &self,
        txn: &mut Txn,
        kind: &'static Kind,
        namespace: &str,
        mut object: Value,
    ) -> Result<Value, ApiError> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the body of the request is not an object"));
        }
        let mut name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            match object["metadata"]["generateName"].as_str() {
                Some(prefix) if !prefix.is_empty() => name = format!("{prefix}{}", random_suffix(5)),
                _ => {
                    return Err(ApiError::invalid(
                        kind,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            }
        }
        if kind.namespaced {
            let body_namespace = object["metadata"]["namespace"].as_str().unwrap_or(namespace);
            if body_namespace != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            admission::namespace_lifecycle(txn, kind, &name, namespace)?;
        }
        let key = Self::key(kind, namespace, &name);
        if txn.get(&key).is_some() {
            return Err(ApiError::already_exists(kind, &name));
        }
        object["apiVersion"] = json!(kind.api_version());
        object["kind"] = json!(kind.kind);
        let metadata = &mut object["metadata"];
        metadata["name"] = json!(name);
        if kind.namespaced {
            metadata["namespace"] = json!(namespace);
        } else if let Some(m) = metadata.as_object_mut() {
            m.remove("namespace");
        }
        metadata["uid"] = json!(uuid::Uuid::new_v4().to_string());
        metadata["creationTimestamp"] = json!(now());
        if has_generation(kind) {
            metadata["generation"] = json!(1);
        }
        self.defaults(txn, kind, namespace, &mut object)?;
        if kind.has_status && kind.plural != "namespaces" && kind.plural != "pods" {
            // A created object's status is the controllers' to write.
            object["status"] = json!({});
        }
        Ok(txn.put(key, object))
    }

    fn defaults(
        &self,
        txn: &mut Txn,
        kind: &'static Kind,
        namespace: &str,
        object: &mut Value,
    ) -> Result<(), ApiError> {
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        match kind.plural {
            "namespaces" => {
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                object["spec"] = json!({"finalizers": ["kubernetes"]});
                object["status"] = json!({"phase": "Active"});
            }
            "secrets" => {
                if let Some(strings) = object.get("stringData").and_then(Value::as_object).cloned() {
                    for (k, v) in strings {
                        object["data"][&k] =
                            json!(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default()));
                    }
                    if let Some(o) = object.as_object_mut() {
                        o.remove("stringData");
                    }
                }
                if object["type"].is_null() {
                    object["type"] = json!("Opaque");
                }
            }
            "services" => {
                admission::quota_for_service(txn, namespace, &name, object)?;
                if object["spec"]["type"].is_null() {
                    object["spec"]["type"] = json!("ClusterIP");
                }
                if object["spec"]["clusterIP"].as_str() != Some("None") {
                    let ip = format!("10.96.{}.{}", rand::random_range(0..255), rand::random_range(1..255));
                    object["spec"]["clusterIP"] = json!(ip);
                    object["spec"]["clusterIPs"] = json!([ip]);
                }
                let node_ports = matches!(object["spec"]["type"].as_str(), Some("NodePort" | "LoadBalancer"));
                if let Some(ports) = object["spec"]["ports"].as_array_mut() {
                    for port in ports {
                        if port["protocol"].is_null() {
                            port["protocol"] = json!("TCP");
                        }
                        if port["targetPort"].is_null() {
                            port["targetPort"] = port["port"].clone();
                        }
                        if node_ports && port["nodePort"].is_null() {
                            port["nodePort"] = json!(rand::random_range(30000..32768));
                        }
                    }
                }
                object["status"] = json!({"loadBalancer": {}});
            }
            "deployments" => {
                let spec = &mut object["spec"];
                default(spec, "replicas", json!(1));
                default(spec, "revisionHistoryLimit", json!(10));
                default(spec, "progressDeadlineSeconds", json!(600));
                default(
                    spec,
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                );
            }
            "statefulsets" => {
                let spec = &mut object["spec"];
                default(spec, "replicas", json!(1));
                default(spec, "podManagementPolicy", json!("OrderedReady"));
                default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
            }
            "jobs" => {
                let spec = &mut object["spec"];
                default(spec, "backoffLimit", json!(6));
                default(spec, "completions", json!(1));
                default(spec, "parallelism", json!(1));
            }
            "pods" => {
                admission::limit_range_defaults(txn, namespace, object);
                admission::pod_security(txn, namespace, &name, object)?;
                admission::quota_for_pod(txn, namespace, &name, object)?;
                let spec = &mut object["spec"];
                default(spec, "restartPolicy", json!("Always"));
                default(spec, "serviceAccountName", json!("default"));
                default(spec, "terminationGracePeriodSeconds", json!(30));
                object["status"] = json!({"phase": "Pending", "qosClass": "Burstable"});
            }
            "persistentvolumeclaims" => {
                admission::quota_for_claim(txn, namespace, &name)?;
                object["status"] = json!({"phase": "Pending"});
            }
            _ => {}
        }
        Ok(())
    }

    /// Replaces an object (PUT), or its status (`status_only`).
    pub fn update(
        &self,
        txn: &mut Txn,
        kind: &'static Kind,
        namespace: &str,
        name: &str,
        mut object: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let key = Self::key(kind, namespace, name);
        let Some(live) = txn.get(&key).cloned() else {
            return Err(ApiError::not_found(kind, name));
        };
        if let Some(sent) = object["metadata"]["resourceVersion"].as_str()
            && !sent.is_empty()
            && Some(sent) != live["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(kind, name));
        }
        if object["metadata"]["name"].as_str().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        Ok(self.store_update(txn, kind, key, &live, &mut object, status_only))
    }

    fn store_update(
        &self,
        txn: &mut Txn,
        kind: &'static Kind,
        key: Key,
        live: &Value,
        object: &mut Value,
        status_only: bool,
    ) -> Value {
        if status_only {
            let mut next = live.clone();
            next["status"] = object["status"].clone();
            return txn.put(key, next);
        }
        object["apiVersion"] = json!(kind.api_version());
        object["kind"] = json!(kind.kind);
        for kept in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
        ] {
            if !live["metadata"][kept].is_null() {
                object["metadata"][kept] = live["metadata"][kept].clone();
            }
        }
        if kind.has_status {
            object["status"] = live["status"].clone();
        }
        if kind.plural == "secrets"
            && let Some(strings) = object.get("stringData").and_then(Value::as_object).cloned()
        {
            for (k, v) in strings {
                object["data"][&k] =
                    json!(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default()));
            }
            if let Some(o) = object.as_object_mut() {
                o.remove("stringData");
            }
        }
        if kind.plural == "services" {
            // The allocated addresses stay with the Service (a client that leaves them out of
            // an update does not give them back).
            for field in ["clusterIP", "clusterIPs"] {
                if object["spec"][field].is_null() {
                    object["spec"][field] = live["spec"][field].clone();
                }
            }
            if let (Some(ports), Some(old)) = (object["spec"]["ports"].as_array_mut(), live["spec"]["ports"].as_array())
            {
                for port in ports {
                    if port["nodePort"].is_null()
                        && let Some(was) = old.iter().find(|o| o["port"] == port["port"])
                    {
                        port["nodePort"] = was["nodePort"].clone();
                    }
                }
            }
        }
        if has_generation(kind) {
            let generation = live["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed = without_meta_and_status(live) != without_meta_and_status(object);
            object["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
        }
        if without_version(live) == without_version(object) {
            // A write that changes nothing is not a change (no new resourceVersion, no event).
            return live.clone();
        }
        txn.put(key, object.clone())
    }

    /// PATCH of every type the clients send; server-side apply creates a missing object.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        txn: &mut Txn,
        kind: &'static Kind,
        namespace: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
        field_manager: &str,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let patch: Value = if media == "application/apply-patch+yaml" {
            serde_json::from_slice(body)
                .or_else(|_| serde_saphyr::from_slice(body))
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        } else {
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
        };
        let key = Self::key(kind, namespace, name);
        let live = txn.get(&key).cloned();
        if media == "application/apply-patch+yaml" {
            let Some(live) = live else {
                let created = self.create(txn, kind, namespace, patch.clone())?;
                txn.inner.applied.insert((key, field_manager.to_string()), patch);
                return Ok(created);
            };
            let previous = txn
                .inner
                .applied
                .get(&(key.clone(), field_manager.to_string()))
                .cloned();
            let mut next = live.clone();
            crate::patch::apply(&mut next, previous.as_ref(), &patch).map_err(|e| ApiError::bad_request(e.0))?;
            txn.inner
                .applied
                .insert((key.clone(), field_manager.to_string()), patch);
            return Ok(self.store_update(txn, kind, key, &live, &mut next, status_only));
        }
        let Some(live) = live else {
            return Err(ApiError::not_found(kind, name));
        };
        let mut next = live.clone();
        match media {
            "application/merge-patch+json" => crate::patch::json_merge(&mut next, &patch),
            "application/json-patch+json" => {
                crate::patch::json_patch(&mut next, &patch).map_err(|e| ApiError::bad_request(e.0))?
            }
            "application/strategic-merge-patch+json" => {
                crate::patch::strategic_merge(&mut next, &patch).map_err(|e| ApiError::bad_request(e.0))?
            }
            other => return Err(ApiError::unsupported_media(other)),
        }
        if let Some(sent) = patch["metadata"]["resourceVersion"].as_str()
            && Some(sent) != live["metadata"]["resourceVersion"].as_str()
        {
            return Err(ApiError::conflict(kind, name));
        }
        Ok(self.store_update(txn, kind, key, &live, &mut next, status_only))
    }

    /// DELETE: a namespace starts terminating (its controller empties it, then it goes), a pod
    /// gets a deletion timestamp (its kubelet stops it, then it goes), anything else goes at
    /// once; the garbage collector then takes what it owned.
    pub fn delete(&self, txn: &mut Txn, kind: &'static Kind, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let key = Self::key(kind, namespace, name);
        let Some(mut live) = txn.get(&key).cloned() else {
            return Err(ApiError::not_found(kind, name));
        };
        match kind.plural {
            "namespaces" => {
                if live["metadata"]["deletionTimestamp"].is_null() {
                    live["metadata"]["deletionTimestamp"] = json!(now());
                    live["status"]["phase"] = json!("Terminating");
                    return Ok(txn.put(key, live));
                }
                Ok(live)
            }
            "pods" if live["spec"]["nodeName"].is_string() => {
                if live["metadata"]["deletionTimestamp"].is_null() {
                    live["metadata"]["deletionTimestamp"] = json!(now());
                    live["metadata"]["deletionGracePeriodSeconds"] =
                        live["spec"]["terminationGracePeriodSeconds"].clone();
                    return Ok(txn.put(key, live));
                }
                Ok(live)
            }
            _ => Ok(txn.remove(&key).unwrap_or(live)),
        }
    }

    /// Records an Event about `object`, as the kubelet and controllers do: a repeat of the same
    /// reason and message counts up on the existing Event (client-go tools/record
    /// EventCorrelator).
    #[allow(clippy::too_many_arguments)]
    pub fn event(
        &self,
        txn: &mut Txn,
        object: &Value,
        kind_name: &str,
        event_type: &str,
        reason: &str,
        message: &str,
        source: &str,
    ) {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let involved_name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let events = resources::named("", "events");
        let existing = txn.list(events, Some(&namespace)).into_iter().find(|e| {
            e["involvedObject"]["uid"] == object["metadata"]["uid"] && e["reason"] == reason && e["message"] == message
        });
        let stamp = now();
        if let Some(mut event) = existing {
            let count = event["count"].as_i64().unwrap_or(1) + 1;
            event["count"] = json!(count);
            event["lastTimestamp"] = json!(stamp);
            let key = Self::key(
                events,
                &namespace,
                event["metadata"]["name"].as_str().unwrap_or_default(),
            );
            txn.put(key, event);
            return;
        }
        let name = format!("{involved_name}.{:x}", rand::random::<u64>());
        let event = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": stamp},
            "involvedObject": {
                "kind": kind_name, "namespace": namespace, "name": involved_name,
                "uid": object["metadata"]["uid"], "apiVersion": object["apiVersion"],
                "resourceVersion": object["metadata"]["resourceVersion"],
            },
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": source}, "reportingComponent": source,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        });
        txn.put(Self::key(events, &namespace, &name), event);
    }
}

fn default(spec: &mut Value, field: &str, value: Value) {
    if spec[field].is_null() {
        spec[field] = value;
    }
}

fn has_generation(kind: &Kind) -> bool {
    matches!(
        kind.plural,
        "deployments"
            | "replicasets"
            | "statefulsets"
            | "daemonsets"
            | "jobs"
            | "cronjobs"
            | "horizontalpodautoscalers"
            | "poddisruptionbudgets"
            | "ingresses"
            | "networkpolicies"
    )
}

fn without_meta_and_status(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(o) = copy.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    copy
}

fn without_version(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(m) = copy["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    copy
}
