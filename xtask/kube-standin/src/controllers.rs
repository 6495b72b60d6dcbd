//! The controllers a cluster runs, reduced to what the clients read of their work:
//! Deployment → ReplicaSet → Pods, StatefulSet → Pods and claims, Job → Pod, the namespace
//! controller, the garbage collector, claim binding and quota status.
//!
//! Fields and names as kubernetes `pkg/controller` writes them:
//! - deployment (`deployment/sync.go`, `util/deployment_util.go`): one ReplicaSet per pod
//!   template named `<deployment>-<pod-template-hash>`, the hash also a label on it and its
//!   pods; the `deployment.kubernetes.io/revision` annotation; a rolling update keeps the old
//!   ReplicaSet's pods until the new ones are available (maxUnavailable rounds down, so one
//!   replica is never taken away early); status `observedGeneration`, `replicas`,
//!   `updatedReplicas`, `readyReplicas`, `availableReplicas`, `unavailableReplicas` and the
//!   `Available` (MinimumReplicasAvailable) and `Progressing` (ReplicaSetUpdated,
//!   NewReplicaSetAvailable, ProgressDeadlineExceeded) conditions that `kubectl rollout
//!   status`, Helm 3's ready checker and kstatus (Helm 4) read;
//! - replicaset (`replicaset/replica_set.go`): pods `<rs>-<5 chars>` owned by it; a refused
//!   create is a Warning `FailedCreate` Event ("Error creating: …") and a `ReplicaFailure`
//!   condition;
//! - statefulset (`statefulset/stateful_set_control.go`): pods `<sts>-<ordinal>` created in
//!   order, each after the one before is ready, the `controller-revision-hash` label,
//!   `currentRevision`/`updateRevision`, claims `<template>-<sts>-<ordinal>` kept when the
//!   pods go; a rolling update replaces pods from the highest ordinal down, one at a time;
//! - job (`job/job_controller.go`): pods labelled `job-name` and `controller-uid`, retried up to
//!   `backoffLimit`, the `Complete` or `Failed` condition;
//! - namespace (`namespace/deletion`): a terminating namespace's objects are deleted, then the
//!   namespace; the garbage collector (`garbagecollector`) deletes what lost its owner.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};

use serde_json::{Value, json};

use crate::apiserver::{ApiServer, now};
use crate::resources;
use crate::store::{Key, Txn};

pub fn sync_all(api: &ApiServer, txn: &mut Txn) {
    namespaces(api, txn);
    garbage_collect(api, txn);
    deployments(api, txn);
    replica_sets(api, txn);
    stateful_sets(api, txn);
    jobs(api, txn);
    claims(txn);
    quotas(txn);
}

/// The alphabet of apimachinery's rand.SafeEncodeString (no vowels, so no words).
fn safe_encode(value: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digits = value.to_string();
    digits
        .bytes()
        .map(|b| ALPHABET[(b as usize) % ALPHABET.len()] as char)
        .collect()
}

fn template_hash(template: &Value) -> String {
    let mut hasher = DefaultHasher::new();
    template.to_string().hash(&mut hasher);
    safe_encode(hasher.finish() & 0xffff_ffff)
}

fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

fn owned_by<'a>(objects: &'a [Value], owner: &Value) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["uid"] == owner["metadata"]["uid"] && r["controller"] == true)
        })
        .collect()
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

fn namespace_of(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or_default()
}

fn is_ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn replicas(object: &Value) -> i64 {
    object["spec"]["replicas"].as_i64().unwrap_or(1)
}

fn write_status(txn: &mut Txn, kind: &'static resources::Kind, object: &Value, status: Value) {
    if object["status"] == status {
        return;
    }
    let mut next = object.clone();
    next["status"] = status;
    txn.put(Key::new(kind, namespace_of(object), name_of(object)), next);
}

fn namespaces(api: &ApiServer, txn: &mut Txn) {
    let kind = resources::named("", "namespaces");
    for ns in txn.list(kind, None) {
        if ns["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let name = name_of(&ns).to_string();
        let inside = txn.keys_in_namespace(&name);
        if inside.is_empty() {
            txn.remove(&Key::new(kind, "", &name));
            continue;
        }
        for key in inside {
            if key.resource == "pods" {
                // Its kubelet stops it first.
                if let Some(pod) = txn.get(&key).cloned()
                    && pod["metadata"]["deletionTimestamp"].is_null()
                {
                    let _ = api.delete(txn, resources::named("", "pods"), &key.namespace, &key.name);
                }
            } else {
                txn.remove(&key);
            }
        }
    }
}

fn garbage_collect(api: &ApiServer, txn: &mut Txn) {
    let uids: std::collections::HashSet<String> = txn
        .all()
        .iter()
        .filter_map(|(_, o)| o["metadata"]["uid"].as_str().map(str::to_string))
        .collect();
    for (key, object) in txn.all() {
        let owners = object["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if owners.is_empty()
            || owners
                .iter()
                .any(|o| o["uid"].as_str().is_some_and(|u| uids.contains(u)))
        {
            continue;
        }
        if key.resource == "pods" {
            if object["metadata"]["deletionTimestamp"].is_null() {
                let _ = api.delete(txn, resources::named("", "pods"), &key.namespace, &key.name);
            }
        } else {
            txn.remove(&key);
        }
    }
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, previous: &Value) -> Value {
    let status = if status { "True" } else { "False" };
    let old = previous["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .cloned()
        .unwrap_or(Value::Null);
    let transition = if old["status"] == status {
        old["lastTransitionTime"].clone()
    } else {
        json!(now())
    };
    let update = if old["reason"] == reason && old["status"] == status {
        old["lastUpdateTime"].clone()
    } else {
        json!(now())
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message, "lastUpdateTime": update, "lastTransitionTime": transition})
}

fn deployments(api: &ApiServer, txn: &mut Txn) {
    let kind = resources::named("apps", "deployments");
    let rs_kind = resources::named("apps", "replicasets");
    for deployment in txn.list(kind, None) {
        if !deployment["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let namespace = namespace_of(&deployment).to_string();
        let name = name_of(&deployment).to_string();
        let all_rs = txn.list(rs_kind, Some(&namespace));
        let owned: Vec<Value> = owned_by(&all_rs, &deployment).into_iter().cloned().collect();
        let template = deployment["spec"]["template"].clone();
        let hash = template_hash(&template);
        let new_name = format!("{name}-{hash}");
        let desired = replicas(&deployment);
        let max_revision = owned
            .iter()
            .filter_map(|rs| {
                rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()?
                    .parse::<i64>()
                    .ok()
            })
            .max()
            .unwrap_or(0);
        let existing = owned.iter().find(|rs| name_of(rs) == new_name).cloned();
        let new_rs = match existing {
            Some(rs) => {
                let mut next = rs.clone();
                let revision: i64 = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                if revision < max_revision {
                    // A rollback to this template: it becomes the newest revision again.
                    next["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        json!((max_revision + 1).to_string());
                }
                if replicas(&next) != desired {
                    api.event(
                        txn,
                        &deployment,
                        "Deployment",
                        "Normal",
                        "ScalingReplicaSet",
                        &format!("Scaled up replica set {new_name} from {} to {desired}", replicas(&next)),
                        "deployment-controller",
                    );
                    next["spec"]["replicas"] = json!(desired);
                }
                if next != rs {
                    txn.put(Key::new(rs_kind, &namespace, &new_name), next)
                } else {
                    rs
                }
            }
            None => {
                let mut template = template.clone();
                template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = deployment["spec"]["selector"].clone();
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": new_name, "namespace": namespace,
                        "labels": template["metadata"]["labels"],
                        "annotations": {"deployment.kubernetes.io/revision": (max_revision + 1).to_string(), "deployment.kubernetes.io/desired-replicas": desired.to_string()},
                        "ownerReferences": [owner_ref(&deployment)],
                    },
                    "spec": {"replicas": desired, "selector": selector, "template": template},
                });
                api.event(
                    txn,
                    &deployment,
                    "Deployment",
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {new_name} from 0 to {desired}"),
                    "deployment-controller",
                );
                match api.create(txn, rs_kind, &namespace, rs) {
                    Ok(created) => created,
                    Err(_) => continue,
                }
            }
        };
        let new_available = new_rs["status"]["availableReplicas"].as_i64().unwrap_or(0);
        // Old pods go as new ones become available: never below `desired` available at once
        // (maxUnavailable 25% of a few replicas rounds down to 0).
        let mut old_budget = (desired - new_available).max(0);
        let mut olds: Vec<&Value> = owned.iter().filter(|rs| name_of(rs) != new_name).collect();
        olds.sort_by_key(|rs| {
            std::cmp::Reverse(
                rs["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        for old in &olds {
            let current = replicas(old);
            let available = old["status"]["availableReplicas"].as_i64().unwrap_or(0);
            let target = current
                .min(old_budget)
                .min(available.max(if new_available > 0 { 0 } else { current }));
            old_budget -= target;
            if target != current {
                api.event(
                    txn,
                    &deployment,
                    "Deployment",
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled down replica set {} from {current} to {target}", name_of(old)),
                    "deployment-controller",
                );
                let mut next = (*old).clone();
                next["spec"]["replicas"] = json!(target);
                txn.put(Key::new(rs_kind, &namespace, name_of(old)), next);
            }
        }
        // The status, from the ReplicaSets as they are now.
        let all_rs = txn.list(rs_kind, Some(&namespace));
        let owned: Vec<&Value> = owned_by(&all_rs, &deployment);
        let sum = |field: &str| {
            owned
                .iter()
                .map(|rs| rs["status"][field].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let new_now = owned
            .iter()
            .find(|rs| name_of(rs) == new_name)
            .copied()
            .unwrap_or(&new_rs);
        let updated = new_now["status"]["replicas"].as_i64().unwrap_or(0);
        let total = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let previous = &deployment["status"];
        let complete = updated == desired && total == desired && available == desired;
        let started = previous["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
            .and_then(|c| c["lastUpdateTime"].as_str())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        let deadline = deployment["spec"]["progressDeadlineSeconds"].as_i64().unwrap_or(600);
        let generation_seen = previous["observedGeneration"] == deployment["metadata"]["generation"];
        let progressing = if complete {
            condition(
                "Progressing",
                true,
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
                previous,
            )
        } else if generation_seen
            && (previous["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["reason"] == "ProgressDeadlineExceeded")
                || started
                    .is_some_and(|s| (chrono::Utc::now() - s.with_timezone(&chrono::Utc)).num_seconds() > deadline))
        {
            // Past `progressDeadlineSeconds` since the last progress, and stays so until the
            // template changes (deployment/progress.go).
            condition(
                "Progressing",
                false,
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                previous,
            )
        } else {
            let keep = generation_seen
                && previous["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Progressing" && c["reason"] == "ReplicaSetUpdated");
            if keep {
                previous["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Progressing")
                    .cloned()
                    .unwrap_or_default()
            } else {
                let mut fresh = condition(
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{new_name}\" is progressing."),
                    &Value::Null,
                );
                fresh["lastUpdateTime"] = json!(now());
                fresh
            }
        };
        let available_condition = if available >= desired {
            condition(
                "Available",
                true,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                previous,
            )
        } else {
            condition(
                "Available",
                false,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                previous,
            )
        };
        let mut conditions = vec![available_condition, progressing];
        if let Some(failure) = new_now["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "ReplicaFailure"))
        {
            conditions.push(failure.clone());
        }
        let mut status = json!({
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": total, "updatedReplicas": updated, "readyReplicas": ready,
            "availableReplicas": available, "conditions": conditions,
        });
        if desired - available > 0 {
            status["unavailableReplicas"] = json!(desired - available);
        }
        let revision = new_now["metadata"]["annotations"]["deployment.kubernetes.io/revision"].clone();
        if deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] != revision {
            let mut next = deployment.clone();
            next["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = revision;
            next["status"] = status;
            txn.put(Key::new(kind, &namespace, &name), next);
        } else {
            write_status(txn, kind, &deployment, status);
        }
    }
}

/// Creates one pod from `template` for `owner`; a refusal becomes a FailedCreate Event.
fn create_pod(
    api: &ApiServer,
    txn: &mut Txn,
    owner: &Value,
    owner_kind: &str,
    name: Option<String>,
    template: &Value,
    extra_labels: &[(&str, String)],
) -> Result<Value, String> {
    let namespace = namespace_of(owner).to_string();
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
    });
    match name {
        Some(name) => pod["metadata"]["name"] = json!(name),
        None => pod["metadata"]["generateName"] = json!(format!("{}-", name_of(owner))),
    }
    pod["metadata"]["namespace"] = json!(namespace);
    for (k, v) in extra_labels {
        pod["metadata"]["labels"][*k] = json!(v);
    }
    pod["metadata"]["ownerReferences"] = json!([owner_ref(owner)]);
    let pods = resources::named("", "pods");
    match api.create(txn, pods, &namespace, pod) {
        Ok(created) => {
            api.event(
                txn,
                owner,
                owner_kind,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {}", name_of(&created)),
                "controller",
            );
            Ok(created)
        }
        Err(e) => {
            let message = format!("Error creating: {}", e.message);
            api.event(
                txn,
                owner,
                owner_kind,
                "Warning",
                "FailedCreate",
                &message,
                "controller",
            );
            Err(message)
        }
    }
}

fn replica_sets(api: &ApiServer, txn: &mut Txn) {
    let kind = resources::named("apps", "replicasets");
    let pods_kind = resources::named("", "pods");
    for rs in txn.list(kind, None) {
        let namespace = namespace_of(&rs).to_string();
        let all_pods = txn.list(pods_kind, Some(&namespace));
        let pods: Vec<Value> = owned_by(&all_pods, &rs).into_iter().cloned().collect();
        let alive: Vec<&Value> = pods
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        let desired = replicas(&rs);
        let mut failure = None;
        if (alive.len() as i64) < desired {
            for _ in alive.len() as i64..desired {
                if let Err(message) = create_pod(api, txn, &rs, "ReplicaSet", None, &rs["spec"]["template"], &[]) {
                    failure = Some(message);
                    break;
                }
            }
        } else if (alive.len() as i64) > desired {
            let mut doomed: Vec<&&Value> = alive.iter().collect();
            doomed.sort_by_key(|p| is_ready(p));
            for pod in doomed.into_iter().take(alive.len() - desired as usize) {
                let _ = api.delete(txn, pods_kind, &namespace, name_of(pod));
            }
        }
        let all_pods = txn.list(pods_kind, Some(&namespace));
        let pods: Vec<&Value> = owned_by(&all_pods, &rs)
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let previous = rs["status"].clone();
        let mut status = json!({
            "replicas": pods.len(), "fullyLabeledReplicas": pods.len(), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"],
        });
        if let Some(message) = failure {
            status["conditions"] = json!([condition("ReplicaFailure", true, "FailedCreate", &message, &previous)]);
        } else if (pods.len() as i64) < desired {
            status["conditions"] = previous["conditions"].clone();
        }
        write_status(txn, kind, &rs, status);
    }
}

fn stateful_sets(api: &ApiServer, txn: &mut Txn) {
    let kind = resources::named("apps", "statefulsets");
    let pods_kind = resources::named("", "pods");
    let claims = resources::named("", "persistentvolumeclaims");
    for sts in txn.list(kind, None) {
        if !sts["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        let namespace = namespace_of(&sts).to_string();
        let name = name_of(&sts).to_string();
        let revision = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
        let desired = replicas(&sts);
        let all_pods = txn.list(pods_kind, Some(&namespace));
        let pods: Vec<Value> = owned_by(&all_pods, &sts).into_iter().cloned().collect();
        let pod_at = |i: i64| pods.iter().find(|p| name_of(p) == format!("{name}-{i}"));
        let mut failure = None;
        for i in 0..desired {
            match pod_at(i) {
                Some(_) => {}
                None => {
                    // OrderedReady: the next pod waits for every one before it.
                    if (0..i).all(|j| pod_at(j).is_some_and(is_ready)) {
                        let mut template = sts["spec"]["template"].clone();
                        for claim in sts["spec"]["volumeClaimTemplates"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                        {
                            let claim_name = format!("{}-{name}-{i}", name_of(&claim));
                            if txn.get(&Key::new(claims, &namespace, &claim_name)).is_none() {
                                let mut object = claim.clone();
                                object["metadata"]["name"] = json!(claim_name);
                                object["metadata"]["labels"] = sts["spec"]["selector"]["matchLabels"].clone();
                                let _ = api.create(txn, claims, &namespace, object);
                            }
                            let volume =
                                json!({"name": name_of(&claim), "persistentVolumeClaim": {"claimName": claim_name}});
                            match template["spec"]["volumes"].as_array_mut() {
                                Some(volumes) => volumes.push(volume),
                                None => template["spec"]["volumes"] = json!([volume]),
                            }
                        }
                        let labels = [
                            ("controller-revision-hash", revision.clone()),
                            ("statefulset.kubernetes.io/pod-name", format!("{name}-{i}")),
                            ("apps.kubernetes.io/pod-index", i.to_string()),
                        ];
                        if let Err(message) = create_pod(
                            api,
                            txn,
                            &sts,
                            "StatefulSet",
                            Some(format!("{name}-{i}")),
                            &template,
                            &labels,
                        ) {
                            failure = Some(message);
                        }
                    }
                    break;
                }
            }
        }
        // Extra pods, then outdated ones (highest ordinal first, one at a time, all others ready).
        for pod in &pods {
            let ordinal: i64 = name_of(pod)
                .rsplit('-')
                .next()
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            if ordinal >= desired && pod["metadata"]["deletionTimestamp"].is_null() {
                let _ = api.delete(txn, pods_kind, &namespace, name_of(pod));
            }
        }
        let outdated: Vec<&Value> = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] != revision.as_str())
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        let all_ready = pods.iter().all(is_ready) && pods.len() as i64 == desired;
        if all_ready && let Some(last) = outdated.iter().max_by_key(|p| name_of(p).to_string()) {
            let _ = api.delete(txn, pods_kind, &namespace, name_of(last));
        }
        let all_pods = txn.list(pods_kind, Some(&namespace));
        let pods: Vec<&Value> = owned_by(&all_pods, &sts);
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let updated = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == revision.as_str())
            .count();
        let current_revision = if updated as i64 == desired && pods.len() as i64 == desired {
            revision.clone()
        } else {
            sts["status"]["currentRevision"]
                .as_str()
                .unwrap_or(&revision)
                .to_string()
        };
        let current = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] == current_revision.as_str())
            .count();
        let mut status = json!({
            "observedGeneration": sts["metadata"]["generation"], "replicas": pods.len(),
            "readyReplicas": ready, "availableReplicas": ready, "currentReplicas": current,
            "updatedReplicas": updated, "currentRevision": current_revision, "updateRevision": revision,
            "collisionCount": 0,
        });
        if let Some(message) = failure {
            status["conditions"] = json!([condition(
                "ReplicaFailure",
                true,
                "FailedCreate",
                &message,
                &sts["status"]
            )]);
        }
        write_status(txn, kind, &sts, status);
    }
}

fn jobs(api: &ApiServer, txn: &mut Txn) {
    let kind = resources::named("batch", "jobs");
    let pods_kind = resources::named("", "pods");
    for job in txn.list(kind, None) {
        if job["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True")
        {
            continue;
        }
        let namespace = namespace_of(&job).to_string();
        let all_pods = txn.list(pods_kind, Some(&namespace));
        let pods: Vec<&Value> = owned_by(&all_pods, &job);
        let succeeded = pods.iter().filter(|p| p["status"]["phase"] == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| p["status"]["phase"] == "Failed").count() as i64;
        let active = pods.len() as i64 - succeeded - failed;
        let backoff = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let previous = &job["status"];
        let mut status = json!({"active": active, "succeeded": succeeded, "failed": failed, "startTime": previous["startTime"].as_str().map_or_else(now, str::to_string)});
        if succeeded >= job["spec"]["completions"].as_i64().unwrap_or(1) {
            status["completionTime"] = json!(now());
            status["conditions"] = json!([
                condition(
                    "SuccessCriteriaMet",
                    true,
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    previous
                ),
                condition(
                    "Complete",
                    true,
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    previous
                ),
            ]);
            api.event(
                txn,
                &job,
                "Job",
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
            );
        } else if failed > backoff {
            status["conditions"] = json!([
                condition(
                    "FailureTarget",
                    true,
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    previous
                ),
                condition(
                    "Failed",
                    true,
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    previous
                ),
            ]);
            api.event(
                txn,
                &job,
                "Job",
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "job-controller",
            );
        } else if active == 0 {
            let uid = job["metadata"]["uid"].as_str().unwrap_or_default().to_string();
            let labels = [
                ("job-name", name_of(&job).to_string()),
                ("batch.kubernetes.io/job-name", name_of(&job).to_string()),
                ("controller-uid", uid.clone()),
                ("batch.kubernetes.io/controller-uid", uid),
            ];
            let _ = create_pod(api, txn, &job, "Job", None, &job["spec"]["template"], &labels);
            status["active"] = json!(1);
        }
        write_status(txn, kind, &job, status);
    }
}

/// Claims bind at once to a volume of the size asked (a default StorageClass with an
/// Immediate binding mode, as Minikube's `standard`).
fn claims(txn: &mut Txn) {
    let kind = resources::named("", "persistentvolumeclaims");
    for claim in txn.list(kind, None) {
        if claim["status"]["phase"] == "Bound" {
            continue;
        }
        let status = json!({
            "phase": "Bound", "accessModes": claim["spec"]["accessModes"],
            "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
        });
        write_status(txn, kind, &claim, status);
    }
}

fn quotas(txn: &mut Txn) {
    let kind = resources::named("", "resourcequotas");
    for quota in txn.list(kind, None) {
        let status = crate::admission::quota_status(txn, &quota);
        write_status(txn, kind, &quota, status);
    }
}

/// The cluster's one node, as `kubectl get nodes` lists it.
pub fn node(name: &str, arch: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "kubernetes.io/hostname": name}},
        "spec": {},
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "nodeInfo": {"architecture": arch, "operatingSystem": "linux", "kubeletVersion": "v1.35.0", "containerRuntimeVersion": "containerd://2.1.0"},
        },
    })
}
