//! The admission plugins our manifests meet, in the order the API server runs them: mutating
//! LimitRanger, then validating PodSecurity and ResourceQuota; NamespaceLifecycle before all.
//!
//! Messages as the real plugins write them: kubernetes `plugin/pkg/admission/limitranger`,
//! `plugin/pkg/admission/resourcequota/controller.go` ("failed quota: Q: must specify R",
//! "exceeded quota: Q, requested: …, used: …, limited: …"), and
//! `staging/src/k8s.io/pod-security-admission/policy/check_*.go` (the `restricted` checks:
//! allowPrivilegeEscalation, capabilities, runAsNonRoot, runAsUser, seccompProfile, volume
//! types; and the `baseline` ones they include: privileged, host namespaces, hostPath,
//! hostPorts).

use serde_json::{Value, json};

use crate::resources::{self, Kind};
use crate::status::ApiError;
use crate::store::{Key, Txn};

pub fn namespace_lifecycle(txn: &Txn, kind: &'static Kind, name: &str, namespace: &str) -> Result<(), ApiError> {
    let namespaces = resources::named("", "namespaces");
    match txn.get(&Key::new(namespaces, "", namespace)) {
        None => Err(ApiError::namespace_not_found(namespace)),
        Some(ns) if !ns["metadata"]["deletionTimestamp"].is_null() && kind.plural != "events" => {
            Err(ApiError::namespace_terminating(kind, name, namespace))
        }
        Some(_) => Ok(()),
    }
}

/// A Kubernetes quantity in its base unit times 1000 (millicores for CPU, millibytes for
/// memory), so that `500m` and `2Gi` both fit an integer (apimachinery `resource.Quantity`).
pub fn milli(quantity: &Value) -> Option<i128> {
    let text = match quantity {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1000.0,
        "m" => 1.0,
        "k" => 1e6,
        "M" => 1e9,
        "G" => 1e12,
        "T" => 1e15,
        "Ki" => 1024.0 * 1000.0,
        "Mi" => 1024.0 * 1024.0 * 1000.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0 * 1000.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1000.0,
        _ => return None,
    };
    Some((value * factor).round() as i128)
}

fn in_namespace(txn: &Txn, plural: &str, namespace: &str) -> Vec<Value> {
    txn.list(resources::named("", plural), Some(namespace))
}

fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|f| pod["spec"][f].as_array().into_iter().flatten())
        .collect()
}

/// LimitRanger: a container's missing requests and limits from the namespace's `Container`
/// limit ranges (`default` → limits, `defaultRequest` → requests).
pub fn limit_range_defaults(txn: &Txn, namespace: &str, pod: &mut Value) {
    for range in in_namespace(txn, "limitranges", namespace) {
        for limit in range["spec"]["limits"].as_array().into_iter().flatten() {
            if limit["type"] != "Container" {
                continue;
            }
            for field in ["initContainers", "containers"] {
                for container in pod["spec"][field].as_array_mut().into_iter().flatten() {
                    for (source, target) in [("default", "limits"), ("defaultRequest", "requests")] {
                        for (resource, value) in limit[source].as_object().into_iter().flatten() {
                            if container["resources"][target][resource].is_null() {
                                container["resources"][target][resource] = value.clone();
                            }
                        }
                    }
                }
            }
        }
    }
}

/// PodSecurity: the namespace's `pod-security.kubernetes.io/enforce` level.
pub fn pod_security(txn: &Txn, namespace: &str, name: &str, pod: &Value) -> Result<(), ApiError> {
    let namespaces = resources::named("", "namespaces");
    let Some(ns) = txn.get(&Key::new(namespaces, "", namespace)) else {
        return Ok(());
    };
    let level = ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        .as_str()
        .unwrap_or("privileged");
    if level == "privileged" {
        return Ok(());
    }
    let version = ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"]
        .as_str()
        .unwrap_or("latest");
    let violations = violations(pod, level == "restricted");
    if violations.is_empty() {
        return Ok(());
    }
    Err(ApiError::forbidden(
        resources::named("", "pods"),
        name,
        &format!("violates PodSecurity \"{level}:{version}\": {}", violations.join(", ")),
    ))
}

fn violations(pod: &Value, restricted: bool) -> Vec<String> {
    let spec = &pod["spec"];
    let pod_context = &spec["securityContext"];
    let all = containers(pod);
    let mut found = Vec::new();
    let names = |filter: &dyn Fn(&Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|c| filter(c))
            .map(|c| format!("\"{}\"", c["name"].as_str().unwrap_or_default()))
            .collect()
    };
    let containers_phrase = |list: &[String]| {
        if list.len() == 1 {
            format!("container {}", list[0])
        } else {
            format!("containers {}", list.join(", "))
        }
    };
    let privileged = names(&|c| c["securityContext"]["privileged"] == true);
    if !privileged.is_empty() {
        found.push(format!(
            "privileged ({} must not set securityContext.privileged=true)",
            containers_phrase(&privileged)
        ));
    }
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[field] == true {
            found.push(format!("host namespaces ({field}=true)"));
        }
    }
    let host_paths: Vec<String> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| !v["hostPath"].is_null())
        .map(|v| format!("\"{}\"", v["name"].as_str().unwrap_or_default()))
        .collect();
    if !host_paths.is_empty() {
        found.push(format!("hostPath volumes (volume {})", host_paths.join(", ")));
    }
    let host_ports = names(&|c| {
        c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["hostPort"].as_i64().unwrap_or(0) != 0)
    });
    if !host_ports.is_empty() {
        found.push(format!("hostPort ({} uses hostPort)", containers_phrase(&host_ports)));
    }
    if !restricted {
        return found;
    }
    let escalating = names(&|c| c["securityContext"]["allowPrivilegeEscalation"] != false);
    if !escalating.is_empty() {
        found.push(format!(
            "allowPrivilegeEscalation != false ({} must set securityContext.allowPrivilegeEscalation=false)",
            containers_phrase(&escalating)
        ));
    }
    let capabilities = names(&|c| {
        let caps = &c["securityContext"]["capabilities"];
        let drops_all = caps["drop"].as_array().into_iter().flatten().any(|d| d == "ALL");
        let adds_other = caps["add"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a != "NET_BIND_SERVICE");
        !drops_all || adds_other
    });
    if !capabilities.is_empty() {
        found.push(format!(
            "unrestricted capabilities ({} must set securityContext.capabilities.drop=[\"ALL\"])",
            containers_phrase(&capabilities)
        ));
    }
    let pod_non_root = pod_context["runAsNonRoot"] == true;
    let non_root = names(&|c| {
        let own = &c["securityContext"]["runAsNonRoot"];
        own == false || (own.is_null() && !pod_non_root)
    });
    if !non_root.is_empty() {
        found.push(format!(
            "runAsNonRoot != true (pod or {} must set securityContext.runAsNonRoot=true)",
            containers_phrase(&non_root)
        ));
    }
    if pod_context["runAsUser"] == 0 || all.iter().any(|c| c["securityContext"]["runAsUser"] == 0) {
        found.push("runAsUser=0 (pod and containers must not set runAsUser=0)".to_string());
    }
    let allowed = |p: &Value| matches!(p["type"].as_str(), Some("RuntimeDefault" | "Localhost"));
    let pod_seccomp = allowed(&pod_context["seccompProfile"]);
    let seccomp = names(&|c| {
        let own = &c["securityContext"]["seccompProfile"];
        if own.is_null() { !pod_seccomp } else { !allowed(own) }
    });
    if !seccomp.is_empty() {
        found.push(format!(
            "seccompProfile (pod or {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")",
            containers_phrase(&seccomp)
        ));
    }
    let allowed_volumes = [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ];
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        if let Some(kind) = volume.as_object().and_then(|o| o.keys().find(|k| *k != "name"))
            && !allowed_volumes.contains(&kind.as_str())
            && kind != "hostPath"
        {
            {
                found.push(format!(
                    "restricted volume types (volume \"{}\" uses restricted volume type \"{kind}\")",
                    volume["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    found
}

/// What a pod asks of a quota: resource name → amount (milli units; counts as 1000).
fn pod_usage(pod: &Value) -> Vec<(String, i128)> {
    let mut usage: Vec<(String, i128)> = vec![("pods".into(), 1000)];
    for (target, prefix) in [("requests", "requests."), ("limits", "limits.")] {
        for resource in ["cpu", "memory"] {
            let total: i128 = pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| milli(&c["resources"][target][resource]))
                .sum();
            usage.push((format!("{prefix}{resource}"), total));
            if target == "requests" {
                usage.push((resource.to_string(), total));
            }
        }
    }
    usage
}

fn counted_pods(txn: &Txn, namespace: &str) -> Vec<Value> {
    in_namespace(txn, "pods", namespace)
        .into_iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .collect()
}

/// What a namespace uses now, of one quota resource.
pub fn used(txn: &Txn, namespace: &str, resource: &str) -> i128 {
    match resource {
        "services" => in_namespace(txn, "services", namespace).len() as i128 * 1000,
        "services.nodeports" => in_namespace(txn, "services", namespace)
            .iter()
            .filter(|s| matches!(s["spec"]["type"].as_str(), Some("NodePort" | "LoadBalancer")))
            .map(|s| s["spec"]["ports"].as_array().map_or(0, Vec::len) as i128 * 1000)
            .sum(),
        "services.loadbalancers" => {
            in_namespace(txn, "services", namespace)
                .iter()
                .filter(|s| s["spec"]["type"] == "LoadBalancer")
                .count() as i128
                * 1000
        }
        "persistentvolumeclaims" => in_namespace(txn, "persistentvolumeclaims", namespace).len() as i128 * 1000,
        "requests.storage" => in_namespace(txn, "persistentvolumeclaims", namespace)
            .iter()
            .filter_map(|c| milli(&c["spec"]["resources"]["requests"]["storage"]))
            .sum(),
        _ => counted_pods(txn, namespace)
            .iter()
            .flat_map(pod_usage)
            .filter(|(r, _)| r == resource)
            .map(|(_, v)| v)
            .sum(),
    }
}

pub fn format_quantity(resource: &str, milli: i128) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let whole = milli / 1000;
    if resource.contains("memory") || resource.contains("storage") {
        for (unit, size) in [("Gi", 1i128 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
            if whole != 0 && whole % size == 0 {
                return format!("{}{unit}", whole / size);
            }
        }
    }
    whole.to_string()
}

/// One resource over its quota: (resource, asked, used, limit).
type Over = (String, i128, i128, i128);

fn check_quotas(
    txn: &Txn,
    namespace: &str,
    kind: &'static Kind,
    name: &str,
    asked: &[(String, i128)],
    needs_spec: bool,
) -> Result<(), ApiError> {
    for quota in in_namespace(txn, "resourcequotas", namespace) {
        let quota_name = quota["metadata"]["name"].as_str().unwrap_or_default();
        let Some(hard) = quota["spec"]["hard"].as_object() else {
            continue;
        };
        if needs_spec {
            let missing: Vec<&str> = hard
                .keys()
                .filter(|r| {
                    matches!(
                        r.as_str(),
                        "requests.cpu" | "requests.memory" | "limits.cpu" | "limits.memory" | "cpu" | "memory"
                    )
                })
                .map(String::as_str)
                .collect();
            let pod_missing: Vec<&str> = missing
                .into_iter()
                .filter(|r| asked.iter().any(|(a, v)| a == r && *v == 0))
                .collect();
            if !pod_missing.is_empty() {
                let mut sorted = pod_missing;
                sorted.sort_unstable();
                return Err(ApiError::forbidden(
                    kind,
                    name,
                    &format!("failed quota: {quota_name}: must specify {}", sorted.join(",")),
                ));
            }
        }
        let mut over = Vec::new();
        for (resource, amount) in asked {
            let Some(limit) = hard.get(resource).and_then(milli) else {
                continue;
            };
            let now = used(txn, namespace, resource);
            if now + amount > limit {
                over.push((resource.clone(), *amount, now, limit));
            }
        }
        if !over.is_empty() {
            let part = |f: &dyn Fn(&Over) -> String| over.iter().map(f).collect::<Vec<_>>().join(",");
            return Err(ApiError::forbidden(
                kind,
                name,
                &format!(
                    "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
                    part(&|o| format!("{}={}", o.0, format_quantity(&o.0, o.1))),
                    part(&|o| format!("{}={}", o.0, format_quantity(&o.0, o.2))),
                    part(&|o| format!("{}={}", o.0, format_quantity(&o.0, o.3))),
                ),
            ));
        }
    }
    Ok(())
}

pub fn quota_for_pod(txn: &Txn, namespace: &str, name: &str, pod: &Value) -> Result<(), ApiError> {
    // A pod must state what every quota limits (limits and requests of each container); an
    // init container's would count too, which none of ours has.
    let mut asked = pod_usage(pod);
    for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for (target, prefix) in [("requests", "requests."), ("limits", "limits.")] {
            for resource in ["cpu", "memory"] {
                if container["resources"][target][resource].is_null() {
                    // One container without it is as good as none stating it.
                    for entry in asked.iter_mut().filter(|(r, _)| *r == format!("{prefix}{resource}")) {
                        entry.1 = 0;
                    }
                }
            }
        }
    }
    check_quotas(txn, namespace, resources::named("", "pods"), name, &asked, true)
}

pub fn quota_for_service(txn: &Txn, namespace: &str, name: &str, service: &Value) -> Result<(), ApiError> {
    let mut asked = vec![("services".to_string(), 1000)];
    match service["spec"]["type"].as_str() {
        Some("NodePort") => asked.push((
            "services.nodeports".into(),
            service["spec"]["ports"].as_array().map_or(0, Vec::len) as i128 * 1000,
        )),
        Some("LoadBalancer") => {
            asked.push(("services.loadbalancers".into(), 1000));
            asked.push((
                "services.nodeports".into(),
                service["spec"]["ports"].as_array().map_or(0, Vec::len) as i128 * 1000,
            ));
        }
        _ => {}
    }
    check_quotas(txn, namespace, resources::named("", "services"), name, &asked, false)
}

pub fn quota_for_claim(txn: &Txn, namespace: &str, name: &str) -> Result<(), ApiError> {
    check_quotas(
        txn,
        namespace,
        resources::named("", "persistentvolumeclaims"),
        name,
        &[("persistentvolumeclaims".into(), 1000)],
        false,
    )
}

/// The quota's `status` as the quota controller keeps it: `hard` and `used`.
pub fn quota_status(txn: &Txn, quota: &Value) -> Value {
    let namespace = quota["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut used_now = serde_json::Map::new();
    for (resource, _) in quota["spec"]["hard"].as_object().into_iter().flatten() {
        used_now.insert(
            resource.clone(),
            json!(format_quantity(resource, used(txn, namespace, resource))),
        );
    }
    json!({"hard": quota["spec"]["hard"], "used": used_now})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_kubernetes_writes_them() {
        assert_eq!(milli(&json!("500m")), Some(500));
        assert_eq!(milli(&json!("2")), Some(2000));
        assert_eq!(milli(&json!(1)), Some(1000));
        assert_eq!(milli(&json!("128Mi")), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(format_quantity("limits.memory", 2 * 1024 * 1024 * 1024 * 1000), "2Gi");
        assert_eq!(format_quantity("limits.cpu", 1500), "1500m");
    }

    #[test]
    fn the_restricted_level_names_what_a_root_pod_lacks() {
        let pod = json!({"spec": {"containers": [{"name": "app", "image": "x"}]}});
        let found = violations(&pod, true).join(", ");
        assert!(
            found.contains("allowPrivilegeEscalation != false (container \"app\""),
            "{found}"
        );
        assert!(found.contains("runAsNonRoot != true"), "{found}");
        assert!(found.contains("seccompProfile"), "{found}");
        let safe = json!({"spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "image": "x", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
        }});
        assert!(violations(&safe, true).is_empty());
    }
}
