//! The manifests `helm template` renders, as JSON values, and the rules users rely on that no
//! generic checker knows: every workload probed, sized and locked down; every Service selecting
//! its own component's pods on a port they expose; every URL naming a Service the chart renders;
//! credentials only in Secrets; no `latest`.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde_json::Value;

/// Variables that hold credentials: they may only come from a Secret.
const CREDENTIALS: [&str; 4] = [
    "BETTER_AUTH_SECRET",
    "DATABASE_URL",
    "OPENAI_API_KEY",
    "POSTGRES_PASSWORD",
];

pub struct Manifests {
    pub objects: Vec<Value>,
}

/// A pod template (of a Deployment or StatefulSet) or a bare Pod (the helm test), by the name of
/// its manifest.
pub struct Workload<'a> {
    /// "Deployment/todo-chatbot-backend"
    pub id: String,
    pub kind: &'a str,
    pub name: &'a str,
    pub labels: &'a Value,
    pub spec: &'a Value,
    pub manifest: &'a Value,
}

pub fn id(object: &Value) -> String {
    format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

impl Manifests {
    pub fn parse(yaml: &str) -> anyhow::Result<Manifests> {
        let documents: Vec<Value> =
            serde_saphyr::from_multiple(yaml).context("the rendered manifests are not valid YAML")?;
        Ok(Manifests {
            objects: documents.into_iter().filter(|d| d.is_object()).collect(),
        })
    }

    pub fn of_kind(&self, kind: &str) -> impl Iterator<Item = &Value> + '_ {
        let kind = kind.to_string();
        self.objects.iter().filter(move |o| o["kind"] == kind.as_str())
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.of_kind(kind).find(|o| o["metadata"]["name"] == name)
    }

    pub fn workloads(&self) -> Vec<Workload<'_>> {
        let mut found = Vec::new();
        for object in &self.objects {
            let kind = object["kind"].as_str().unwrap_or("");
            let (labels, spec) = match kind {
                "Deployment" | "StatefulSet" => (
                    &object["spec"]["template"]["metadata"]["labels"],
                    &object["spec"]["template"]["spec"],
                ),
                "Pod" => (&object["metadata"]["labels"], &object["spec"]),
                _ => continue,
            };
            found.push(Workload {
                id: id(object),
                kind,
                name: object["metadata"]["name"].as_str().unwrap_or("?"),
                labels,
                spec,
                manifest: object,
            });
        }
        found
    }

    /// The workloads whose pods a Service's selector matches.
    pub fn selected_by<'a>(&'a self, service: &Value) -> Vec<Workload<'a>> {
        let selector = service["spec"]["selector"].as_object();
        self.workloads()
            .into_iter()
            .filter(|w| w.kind != "Pod")
            .filter(|w| selector.is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| w.labels.get(k) == Some(v))))
            .collect()
    }

    /// Every image the workloads' containers (and init containers) would pull, sorted, once each.
    pub fn images(&self) -> Vec<String> {
        let mut images: Vec<String> = self
            .workloads()
            .iter()
            .flat_map(|w| {
                ["initContainers", "containers"]
                    .into_iter()
                    .flat_map(|key| w.spec[key].as_array().into_iter().flatten())
                    .filter_map(|c| c["image"].as_str().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .collect();
        images.sort();
        images.dedup();
        images
    }

    /// The value of a Secret's key, decoded (`data` is base64, `stringData` plain).
    pub fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        let secret = self.get("Secret", name)?;
        if let Some(plain) = secret["stringData"][key].as_str() {
            return Some(plain.to_string());
        }
        use base64::Engine as _;
        let encoded = secret["data"][key].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// What users rely on, as one message per problem, each naming its manifest.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for workload in self.workloads() {
            check_workload(&workload, &mut problems);
        }
        for service in self.of_kind("Service") {
            self.check_service(service, &mut problems);
        }
        self.check_urls(&mut problems);
        // An autoscaler owns the replica count: a `replicas` field would reset it on every upgrade.
        for hpa in self.of_kind("HorizontalPodAutoscaler") {
            let target = &hpa["spec"]["scaleTargetRef"];
            if let Some(workload) = target["kind"]
                .as_str()
                .zip(target["name"].as_str())
                .and_then(|(k, n)| self.get(k, n))
            {
                if !workload["spec"]["replicas"].is_null() {
                    problems.push(format!("{}: sets replicas, which {} owns", id(workload), id(hpa)));
                }
            } else {
                problems.push(format!("{}: scales {target}, which the chart does not render", id(hpa)));
            }
        }
        for pod in self.of_kind("Pod") {
            check_test_hook(pod, &mut problems);
        }
        for config in self.of_kind("ConfigMap") {
            for (key, value) in config["data"].as_object().into_iter().flatten() {
                if CREDENTIALS.contains(&key.as_str()) || value.as_str().is_some_and(has_password) {
                    problems.push(format!("{}: {key} holds a credential outside a Secret", id(config)));
                }
            }
        }
        problems
    }

    fn check_service(&self, service: &Value, problems: &mut Vec<String>) {
        let sid = id(service);
        let selected = self.selected_by(service);
        if selected.is_empty() {
            problems.push(format!(
                "{sid}: its selector {} matches no pod the chart renders",
                service["spec"]["selector"]
            ));
            return;
        }
        let component = &service["metadata"]["labels"]["app.kubernetes.io/component"];
        for workload in &selected {
            if workload.labels["app.kubernetes.io/component"] != *component {
                problems.push(format!(
                    "{sid}: selects the pods of {} (component {}), not only its own component {component}",
                    workload.id, workload.labels["app.kubernetes.io/component"]
                ));
            }
            for port in service["spec"]["ports"].as_array().into_iter().flatten() {
                let target = if port["targetPort"].is_null() {
                    &port["port"]
                } else {
                    &port["targetPort"]
                };
                if container_port(workload.spec, target).is_none() {
                    problems.push(format!(
                        "{sid}: targets port {target}, which no container of {} exposes",
                        workload.id
                    ));
                }
            }
        }
    }

    /// Every `http://host:port` in a container's environment (its own values and its
    /// ConfigMaps') names a Service the chart renders, on a port that Service has.
    fn check_urls(&self, problems: &mut Vec<String>) {
        let services: BTreeMap<&str, Vec<i64>> = self
            .of_kind("Service")
            .filter_map(|s| {
                let ports = s["spec"]["ports"]
                    .as_array()?
                    .iter()
                    .filter_map(|p| p["port"].as_i64())
                    .collect();
                Some((s["metadata"]["name"].as_str()?, ports))
            })
            .collect();
        for workload in self.workloads() {
            for container in containers(workload.spec) {
                for (name, value) in self.plain_env(container) {
                    let Some((host, port)) = in_cluster_address(&value) else {
                        continue;
                    };
                    let short = host.split('.').next().unwrap_or(&host);
                    match services.get(short) {
                        None => problems.push(format!(
                            "{}: {name}={value} names {host}, but the chart renders no Service {short}",
                            workload.id
                        )),
                        Some(ports) if !ports.contains(&port) => problems.push(format!(
                            "{}: {name}={value} uses port {port}, but Service/{short} has ports {ports:?}",
                            workload.id
                        )),
                        Some(_) => {}
                    }
                }
            }
        }
    }

    /// A container's non-secret environment: `env` values and the ConfigMaps of `envFrom`.
    pub fn plain_env(&self, container: &Value) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for source in container["envFrom"].as_array().into_iter().flatten() {
            if let Some(name) = source["configMapRef"]["name"].as_str()
                && let Some(config) = self.get("ConfigMap", name)
            {
                for (key, value) in config["data"].as_object().into_iter().flatten() {
                    env.push((key.clone(), value.as_str().unwrap_or_default().to_string()));
                }
            }
        }
        for var in container["env"].as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (var["name"].as_str(), var["value"].as_str()) {
                env.push((name.to_string(), value.to_string()));
            }
        }
        env
    }
}

pub fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    spec["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["containers"].as_array().into_iter().flatten())
}

/// The containerPort a port reference (a number, or a port's name) resolves to in this pod.
pub fn container_port(spec: &Value, reference: &Value) -> Option<i64> {
    spec["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| match reference {
            Value::String(name) => p["name"] == name.as_str(),
            number => p["containerPort"] == *number,
        })
        .and_then(|p| p["containerPort"].as_i64())
}

/// `http://host:port/...` where host is a cluster name (not localhost, not an IP, not public).
fn in_cluster_address(value: &str) -> Option<(String, i64)> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok();
    let cluster = !host.contains('.') || host.contains(".svc");
    (!local && cluster).then(|| (host.to_string(), port))
}

fn has_password(value: &str) -> bool {
    // scheme://user:password@host
    value
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .is_some_and(|authority| {
            authority.contains('@') && authority.split('@').next().is_some_and(|u| u.contains(':'))
        })
}

/// A `helm test` pod must outlive its run until Helm has read its logs, and be replaced by the
/// next run. Helm 3 (every 3.x, helm/helm#9098) deletes a pod whose delete policy names
/// `hook-succeeded` before `helm test --logs` reads them, so a passing test fails with "unable to
/// get pod logs … not found"; Helm 4 reads them first. `before-hook-creation` alone keeps the
/// pod (passed or failed) until the next `helm test`, which both versions then replace.
fn check_test_hook(pod: &Value, problems: &mut Vec<String>) {
    let annotations = &pod["metadata"]["annotations"];
    let is_test = annotations["helm.sh/hook"]
        .as_str()
        .is_some_and(|h| h.split(',').any(|h| h.trim() == "test"));
    if !is_test {
        return;
    }
    let policies: Vec<&str> = annotations["helm.sh/hook-delete-policy"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .collect();
    if policies.contains(&"hook-succeeded") {
        problems.push(format!(
            "{}: its delete policy names hook-succeeded, so Helm 3 deletes it before `helm test --logs` reads its logs (helm/helm#9098)",
            id(pod)
        ));
    }
    if !policies.contains(&"before-hook-creation") {
        problems.push(format!(
            "{}: its delete policy lacks before-hook-creation, so the next `helm test` cannot replace it",
            id(pod)
        ));
    }
}

fn check_workload(workload: &Workload, problems: &mut Vec<String>) {
    let wid = &workload.id;
    let pod = &workload.spec["securityContext"];
    if workload.spec["automountServiceAccountToken"] != false {
        problems.push(format!("{wid}: automountServiceAccountToken is not false"));
    }
    for container in containers(workload.spec) {
        let name = container["name"].as_str().unwrap_or("?");
        let at = format!("{wid}, container {name}");
        let sc = &container["securityContext"];
        let either = |key: &str| if sc[key].is_null() { &pod[key] } else { &sc[key] };
        if *either("runAsNonRoot") != true {
            problems.push(format!("{at}: runAsNonRoot is not true"));
        }
        if either("runAsUser").as_i64().is_none_or(|u| u == 0) {
            problems.push(format!("{at}: no numeric non-root runAsUser"));
        }
        if sc["allowPrivilegeEscalation"] != false {
            problems.push(format!("{at}: allowPrivilegeEscalation is not false"));
        }
        if sc["readOnlyRootFilesystem"] != true {
            problems.push(format!("{at}: the root filesystem is not read-only"));
        }
        if !sc["capabilities"]["drop"]
            .as_array()
            .is_some_and(|d| d.iter().any(|c| c == "ALL"))
        {
            problems.push(format!("{at}: capabilities are not all dropped"));
        }
        if either("seccompProfile")["type"] != "RuntimeDefault" {
            problems.push(format!("{at}: the seccomp profile is not RuntimeDefault"));
        }
        for resource in ["requests", "limits"] {
            for what in ["cpu", "memory"] {
                if container["resources"][resource][what].is_null() {
                    problems.push(format!("{at}: no {what} {resource}"));
                }
            }
        }
        if workload.kind != "Pod" {
            for probe in ["livenessProbe", "readinessProbe"] {
                let spec = &container[probe];
                if spec.is_null() {
                    problems.push(format!("{at}: no {probe}"));
                } else if !spec["httpGet"].is_null()
                    && container_port(workload.spec, &spec["httpGet"]["port"]).is_none()
                {
                    problems.push(format!(
                        "{at}: the {probe} targets port {}, which the container does not expose",
                        spec["httpGet"]["port"]
                    ));
                }
            }
        }
        let image = container["image"].as_str().unwrap_or("");
        let tag = image.rsplit_once(':').map(|(_, t)| t).filter(|t| !t.contains('/'));
        if tag.is_none_or(|t| t == "latest") {
            problems.push(format!(
                "{at}: the image {image:?} is not pinned to a tag other than latest"
            ));
        }
        for var in container["env"].as_array().into_iter().flatten() {
            let name = var["name"].as_str().unwrap_or("");
            let from_secret = !var["valueFrom"]["secretKeyRef"].is_null();
            if CREDENTIALS.contains(&name) && !from_secret {
                problems.push(format!("{at}: {name} does not come from a Secret"));
            }
            if var["value"].as_str().is_some_and(has_password) {
                problems.push(format!("{at}: {name} holds a password in plain text"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal chart's worth of manifests that passes every rule; tests break it one way each.
    const GOOD: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: rel-backend
  labels: {app.kubernetes.io/component: backend}
spec:
  selector: {app.kubernetes.io/name: backend}
  ports: [{name: http, port: 8000, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: rel-frontend}
data: {BACKEND_URL: "http://rel-backend:8000"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: rel-backend}
spec:
  template:
    metadata:
      labels: {app.kubernetes.io/name: backend, app.kubernetes.io/component: backend}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: backend
          image: todo-backend:0123456789ab
          envFrom: [{configMapRef: {name: rel-frontend}}]
          env:
            - name: DATABASE_URL
              valueFrom: {secretKeyRef: {name: db, key: DATABASE_URL}}
          ports: [{name: http, containerPort: 8000}]
          livenessProbe: {httpGet: {path: /healthz, port: http}}
          readinessProbe: {httpGet: {path: /readyz, port: http}}
          resources:
            requests: {cpu: 10m, memory: 16Mi}
            limits: {cpu: 100m, memory: 64Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
"#;

    const AUTOSCALER: &str = "
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: rel-backend}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: rel-backend}
";

    #[test]
    fn an_autoscaled_deployment_leaves_the_replica_count_to_its_autoscaler() {
        let scaled = format!("{GOOD}{AUTOSCALER}");
        assert_eq!(problems(&scaled), Vec::<String>::new());
        let pinned = scaled.replacen("spec:\n  template:", "spec:\n  replicas: 3\n  template:", 1);
        assert!(pinned.contains("replicas: 3"));
        let found = problems(&pinned);
        assert!(
            found
                .iter()
                .any(|p| p
                    .contains("Deployment/rel-backend: sets replicas, which HorizontalPodAutoscaler/rel-backend owns")),
            "{found:?}"
        );
        let orphan = problems(&scaled.replace(
            "kind: Deployment, name: rel-backend}",
            "kind: Deployment, name: rel-api}",
        ));
        assert!(
            orphan
                .iter()
                .any(|p| p.contains("HorizontalPodAutoscaler/rel-backend: scales")
                    && p.contains("which the chart does not render")),
            "{orphan:?}"
        );
    }

    fn problems(yaml: &str) -> Vec<String> {
        Manifests::parse(yaml).unwrap().problems()
    }

    #[test]
    fn a_test_pod_stays_until_helm_has_read_its_logs_and_the_next_test_replaces_it() {
        let pod = |policy: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: rel-smoke-test\n  annotations:\n    helm.sh/hook: test\n    helm.sh/hook-delete-policy: {policy}\nspec:\n  restartPolicy: Never\n  containers: [{{name: smoke, image: smoke:1}}]\n"
            )
        };
        let about_policy = |yaml: &str| -> Vec<String> {
            problems(yaml)
                .into_iter()
                .filter(|p| p.contains("delete policy"))
                .collect()
        };
        assert_eq!(about_policy(&pod("before-hook-creation")), Vec::<String>::new());
        let deleted = about_policy(&pod("before-hook-creation,hook-succeeded"));
        assert_eq!(deleted.len(), 1, "{deleted:?}");
        assert!(
            deleted[0].starts_with("Pod/rel-smoke-test: its delete policy names hook-succeeded")
                && deleted[0].contains("#9098"),
            "{deleted:?}"
        );
        let kept = about_policy(&pod("hook-failed"));
        assert!(
            kept.iter().any(|p| p.contains("lacks before-hook-creation")),
            "{kept:?}"
        );
    }

    #[test]
    fn a_sound_set_of_manifests_has_no_problem() {
        assert_eq!(problems(GOOD), Vec::<String>::new());
    }

    #[test]
    fn each_broken_rule_is_reported_naming_its_manifest() {
        let cases = [
            (
                "targetPort: http}",
                "targetPort: metrics}",
                "Service/rel-backend: targets port \"metrics\"",
            ),
            (
                "selector: {app.kubernetes.io/name: backend}",
                "selector: {app.kubernetes.io/name: back}",
                "Service/rel-backend: its selector",
            ),
            ("http://rel-backend:8000", "http://rel-api:8000", "no Service rel-api"),
            ("http://rel-backend:8000", "http://rel-backend:9000", "uses port 9000"),
            (
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
                "root filesystem is not read-only",
            ),
            (
                "capabilities: {drop: [ALL]}",
                "capabilities: {drop: [NET_RAW]}",
                "capabilities are not all dropped",
            ),
            ("runAsUser: 65532", "runAsUser: 0", "no numeric non-root runAsUser"),
            ("0123456789ab", "latest", "not pinned"),
            (
                "          readinessProbe: {httpGet: {path: /readyz, port: http}}\n",
                "",
                "no readinessProbe",
            ),
            (
                "limits: {cpu: 100m, memory: 64Mi}",
                "limits: {cpu: 100m}",
                "no memory limits",
            ),
            (
                "port: http}}\n          readinessProbe",
                "port: 9999}}\n          readinessProbe",
                "livenessProbe targets port 9999",
            ),
            (
                "valueFrom: {secretKeyRef: {name: db, key: DATABASE_URL}}",
                "value: postgres://u:p@db:5432/x",
                "DATABASE_URL does not come from a Secret",
            ),
            (
                "data: {BACKEND_URL:",
                "data: {DATABASE_URL: \"postgres://u:pw@h/db\", BACKEND_URL:",
                "ConfigMap/rel-frontend: DATABASE_URL holds a credential",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(GOOD.contains(from), "the fixture lacks {from:?}");
            let found = problems(&GOOD.replacen(from, to, 1));
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "breaking {from:?} into {to:?}: expected a problem with {expected:?}, got {found:?}"
            );
        }
    }
}
