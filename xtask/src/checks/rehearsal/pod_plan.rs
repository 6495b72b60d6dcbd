//! The first half of the chart rehearsal: a rendering's pods turned into the containers `docker
//! run` will start (image, command, environment with `envFrom` and `valueFrom` resolved, user,
//! read-only root, capabilities, emptyDirs as tmpfs, the Service names each answers to, probes),
//! or a failure naming the manifest wherever a cluster would refuse it or leave it waiting.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use serde_json::Value;

use crate::chart::manifests::{self, Manifests, Workload};

/// How a probe asks.
#[derive(Clone, Debug)]
pub(super) enum Check {
    Http { port: i64, path: String },
    Exec(Vec<String>),
    Tcp { port: i64 },
}

#[derive(Clone, Debug)]
pub(super) struct Probe {
    pub(super) check: Check,
    pub(super) period: Duration,
    pub(super) failure_threshold: u32,
}

/// One container, as `docker run` will start it.
#[derive(Clone, Debug)]
pub(super) struct Planned {
    /// The manifest it comes from: "Deployment/todo-chatbot-backend".
    pub(super) workload: String,
    pub(super) container: String,
    pub(super) image: String,
    pub(super) entrypoint: Option<Vec<String>>,
    pub(super) args: Vec<String>,
    pub(super) env: Vec<(String, String)>,
    pub(super) user: Option<String>,
    pub(super) read_only: bool,
    pub(super) drop_all: bool,
    pub(super) cap_add: Vec<String>,
    pub(super) no_new_privileges: bool,
    pub(super) tmpfs: Vec<String>,
    pub(super) aliases: Vec<String>,
    pub(super) ports: Vec<i64>,
    pub(super) startup: Option<Probe>,
    pub(super) readiness: Option<Probe>,
    pub(super) grace: u64,
}

/// What the manifests say to run: the workloads' containers and the `helm test` pod's.
pub struct Plan {
    pub(super) services: Vec<Planned>,
    pub(super) tests: Vec<Planned>,
}

/// Turns the manifests into containers, or fails, naming the manifest, on what a cluster would
/// refuse or leave waiting: a Service that selects nothing, a ConfigMap or Secret (or a key)
/// that a container reads but the release does not render, a probe on a port the container
/// does not expose, a volume the rehearsal cannot stand in for.
pub fn plan(manifests: &Manifests, namespace: &str) -> anyhow::Result<Plan> {
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for service in manifests.of_kind("Service") {
        let name = service["metadata"]["name"].as_str().unwrap_or("?");
        let selected = manifests.selected_by(service);
        ensure!(
            !selected.is_empty(),
            "{}: its selector {} matches no pod the chart renders, so its name would lead nowhere",
            manifests::id(service),
            service["spec"]["selector"]
        );
        for workload in selected {
            aliases.entry(workload.id.clone()).or_default().extend([
                name.to_string(),
                format!("{name}.{namespace}"),
                format!("{name}.{namespace}.svc"),
                format!("{name}.{namespace}.svc.cluster.local"),
            ]);
        }
    }
    let mut plan = Plan {
        services: Vec::new(),
        tests: Vec::new(),
    };
    for workload in manifests.workloads() {
        let is_test = workload.manifest["metadata"]["annotations"]["helm.sh/hook"]
            .as_str()
            .is_some_and(|h| h.split(',').any(|h| h.trim() == "test"));
        if workload.kind == "Pod" && !is_test {
            bail!(
                "{}: a bare Pod that is not a helm test; the rehearsal runs only workloads",
                workload.id
            );
        }
        for container in workload.spec["containers"].as_array().into_iter().flatten() {
            let mut planned = plan_container(manifests, &workload, container, namespace)?;
            planned.aliases = aliases.get(&workload.id).cloned().unwrap_or_default();
            if is_test {
                plan.tests.push(planned);
            } else {
                plan.services.push(planned);
            }
        }
    }
    Ok(plan)
}

fn plan_container(
    manifests: &Manifests,
    workload: &Workload,
    container: &Value,
    namespace: &str,
) -> anyhow::Result<Planned> {
    let name = container["name"].as_str().unwrap_or("?").to_string();
    let at = format!("{}, container {name}", workload.id);
    let pod = &workload.spec["securityContext"];
    let sc = &container["securityContext"];
    let pick = |key: &str| {
        if sc[key].is_null() {
            pod[key].clone()
        } else {
            sc[key].clone()
        }
    };

    let mut env = Vec::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let optional = source["configMapRef"]["optional"] == true || source["secretRef"]["optional"] == true;
        let (kind, reference) = if source["configMapRef"].is_object() {
            ("ConfigMap", &source["configMapRef"])
        } else {
            ("Secret", &source["secretRef"])
        };
        let ref_name = reference["name"].as_str().unwrap_or("?");
        let Some(object) = manifests.get(kind, ref_name) else {
            if optional {
                continue;
            }
            bail!(
                "{at}: envFrom reads {kind} {ref_name}, which the release does not render (a cluster would need it to exist first)"
            );
        };
        let prefix = source["prefix"].as_str().unwrap_or("");
        let keys: Vec<String> = object["data"]
            .as_object()
            .into_iter()
            .chain(object["stringData"].as_object())
            .flat_map(|m| m.keys().cloned())
            .collect();
        for key in keys {
            let value = match kind {
                "ConfigMap" => object["data"][&key].as_str().unwrap_or_default().to_string(),
                _ => manifests.secret_value(ref_name, &key).unwrap_or_default(),
            };
            env.push((format!("{prefix}{key}"), value));
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let key = var["name"].as_str().unwrap_or("?").to_string();
        if let Some(value) = var["value"].as_str() {
            env.push((key, value.to_string()));
            continue;
        }
        let from = &var["valueFrom"];
        let value = if let Some(secret) = from["secretKeyRef"].as_object() {
            let (secret_name, secret_key) = (
                secret.get("name").and_then(Value::as_str).unwrap_or("?"),
                secret.get("key").and_then(Value::as_str).unwrap_or("?"),
            );
            match manifests.secret_value(secret_name, secret_key) {
                Some(value) => Some(value),
                None if secret.get("optional") == Some(&Value::Bool(true)) => None,
                None if manifests.get("Secret", secret_name).is_some() => {
                    bail!("{at}: env {key} reads key {secret_key} of Secret {secret_name}, which has no such key")
                }
                None => bail!(
                    "{at}: env {key} reads Secret {secret_name}, which the release does not render: create it in the namespace before installing (or let the chart make it)"
                ),
            }
        } else if let Some(config) = from["configMapKeyRef"].as_object() {
            let config_name = config.get("name").and_then(Value::as_str).unwrap_or("?");
            let config_key = config.get("key").and_then(Value::as_str).unwrap_or("?");
            let value = manifests
                .get("ConfigMap", config_name)
                .and_then(|c| c["data"][config_key].as_str())
                .map(str::to_string);
            ensure!(
                value.is_some() || config.get("optional") == Some(&Value::Bool(true)),
                "{at}: env {key} reads key {config_key} of ConfigMap {config_name}, which the release does not render"
            );
            value
        } else if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.namespace" => Some(namespace.to_string()),
                "metadata.name" => Some(format!("{}-0", workload.name)),
                _ => None,
            }
        } else {
            bail!("{at}: env {key} has a valueFrom the rehearsal does not know: {from}");
        };
        if let Some(value) = value {
            env.push((key, value));
        }
    }

    let user = pick("runAsUser").as_i64().map(|uid| match pick("runAsGroup").as_i64() {
        Some(gid) => format!("{uid}:{gid}"),
        None => uid.to_string(),
    });
    let mut tmpfs = Vec::new();
    let claims: Vec<&str> = workload.manifest["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .collect();
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let volume_name = mount["name"].as_str().unwrap_or("?");
        let path = mount["mountPath"].as_str().unwrap_or("/");
        let volume = workload.spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == volume_name);
        // Both are empty, writable directories when the pod starts: world-writable, as an
        // emptyDir is, with the pod's fsGroup as their group.
        let size = match volume {
            Some(v) if v["emptyDir"].is_object() => v["emptyDir"]["sizeLimit"].as_str().map(tmpfs_size),
            None if claims.contains(&volume_name) => None,
            _ => bail!(
                "{at}: volume {volume_name} is neither an emptyDir nor a volume claim; the rehearsal cannot stand in for it"
            ),
        };
        let mut options = vec!["mode=1777".to_string()];
        if let Some(size) = size {
            options.push(format!("size={size}"));
        }
        tmpfs.push(format!("{path}:{}", options.join(",")));
    }

    let ports: Vec<i64> = container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    let probe = |key: &str| -> anyhow::Result<Option<Probe>> {
        let spec = &container[key];
        if spec.is_null() {
            return Ok(None);
        }
        let port = |reference: &Value| {
            manifests::container_port(workload.spec, reference).with_context(|| {
                format!("{at}: the {key} targets port {reference}, which the container does not expose")
            })
        };
        let check = if spec["httpGet"].is_object() {
            Check::Http {
                port: port(&spec["httpGet"]["port"])?,
                path: spec["httpGet"]["path"].as_str().unwrap_or("/").to_string(),
            }
        } else if spec["exec"].is_object() {
            Check::Exec(strings(&spec["exec"]["command"]))
        } else if spec["tcpSocket"].is_object() {
            Check::Tcp {
                port: port(&spec["tcpSocket"]["port"])?,
            }
        } else {
            bail!("{at}: the {key} is of a kind the rehearsal does not know: {spec}");
        };
        Ok(Some(Probe {
            check,
            period: Duration::from_secs(spec["periodSeconds"].as_u64().unwrap_or(10)),
            failure_threshold: spec["failureThreshold"].as_u64().unwrap_or(3) as u32,
        }))
    };
    let drop = strings(&sc["capabilities"]["drop"]);
    Ok(Planned {
        workload: workload.id.clone(),
        container: name,
        image: container["image"].as_str().unwrap_or("?").to_string(),
        entrypoint: container["command"].as_array().map(|_| strings(&container["command"])),
        args: strings(&container["args"]),
        env,
        user,
        read_only: sc["readOnlyRootFilesystem"] == true,
        drop_all: drop.iter().any(|c| c == "ALL"),
        cap_add: strings(&sc["capabilities"]["add"]),
        no_new_privileges: sc["allowPrivilegeEscalation"] == false,
        tmpfs,
        aliases: Vec::new(),
        ports,
        startup: probe("startupProbe")?,
        readiness: probe("readinessProbe")?,
        grace: workload.spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30),
    })
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// A Kubernetes quantity ("16Mi") as tmpfs takes it ("16m").
fn tmpfs_size(quantity: &str) -> String {
    let (number, unit) = quantity.split_at(
        quantity
            .find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(quantity.len()),
    );
    match unit {
        "Ki" | "k" => format!("{number}k"),
        "Mi" | "M" => format!("{number}m"),
        "Gi" | "G" => format!("{number}g"),
        _ => number.to_string(),
    }
}

pub(super) fn describe(check: &Check) -> String {
    match check {
        Check::Http { port, path } => format!("GET {path} on port {port}"),
        Check::Exec(command) => format!("exec {}", command.join(" ")),
        Check::Tcp { port } => format!("TCP port {port}"),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::checks::rehearsal) const FIXTURE: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: rel-api}
spec:
  selector: {app.kubernetes.io/name: api}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rel-api}
data: {PORT: "8000"}
---
apiVersion: v1
kind: Secret
metadata: {name: rel-auth}
data: {TOKEN: c2VjcmV0}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rel-api}
spec:
  template:
    metadata: {labels: {app.kubernetes.io/name: api}}
    spec:
      securityContext: {runAsUser: 65532, runAsGroup: 65532}
      containers:
        - name: api
          image: api:1
          args: [--verbose]
          envFrom: [{configMapRef: {name: rel-api}}]
          env:
            - {name: TOKEN, valueFrom: {secretKeyRef: {name: rel-auth, key: TOKEN}}}
            - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
          ports: [{name: http, containerPort: 8000}]
          readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 5}
          securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes: [{name: tmp, emptyDir: {medium: Memory, sizeLimit: 16Mi}}]
"#;

    #[test]
    fn what_a_cluster_would_refuse_fails_before_anything_starts_naming_the_manifest() {
        for (from, to, expected) in [
            (
                "name: rel-auth}",
                "name: other}",
                "Deployment/rel-api, container api: env TOKEN reads Secret rel-auth, which the release does not render",
            ),
            (
                "key: TOKEN}}}",
                "key: PASSWORD}}}",
                "reads key PASSWORD of Secret rel-auth, which has no such key",
            ),
            (
                "configMapRef: {name: rel-api}",
                "configMapRef: {name: rel-config}",
                "envFrom reads ConfigMap rel-config",
            ),
            (
                "selector: {app.kubernetes.io/name: api}",
                "selector: {app.kubernetes.io/name: web}",
                "Service/rel-api: its selector",
            ),
            (
                "port: http}, periodSeconds",
                "port: 9000}, periodSeconds",
                "the readinessProbe targets port 9000",
            ),
            (
                "emptyDir: {medium: Memory, sizeLimit: 16Mi}",
                "hostPath: {path: /var}",
                "volume tmp is neither an emptyDir",
            ),
        ] {
            assert!(FIXTURE.contains(from), "{from}");
            let broken = Manifests::parse(&FIXTURE.replacen(from, to, 1)).unwrap();
            let error = plan(&broken, "ns").err().map(|e| format!("{e:#}")).unwrap_or_default();
            assert!(
                error.contains(expected),
                "{from} → {to}: expected {expected:?}, got {error:?}"
            );
        }
    }
}
