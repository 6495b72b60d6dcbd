//! The node's kubelet: schedules each pod onto the one node and runs its containers the way
//! the test chose (the pod's fate), writing the container states, pod conditions and Events a
//! real kubelet writes.
//!
//! States and reasons as kubernetes `pkg/kubelet` writes them: `waiting.reason` ErrImagePull,
//! then ImagePullBackOff (`images/image_manager.go`; Events Warning `Failed` "Failed to pull
//! image \"X\": …" and Normal `BackOff` "Back-off pulling image \"X\""); a container that exits
//! under restartPolicy Always waits in CrashLoopBackOff with `lastState.terminated` and a
//! growing `restartCount` (`kuberuntime_manager.go`; Event Warning `BackOff` "Back-off
//! restarting failed container C in pod P"); readiness as the `Ready` and `ContainersReady`
//! conditions (`status/generate.go`). Back-offs are milliseconds here, not the kubelet's
//! 10 s … 5 min, so tests run fast; the sequence of states is the same.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::apiserver::{ApiServer, now};
use crate::exec::ExecView;
use crate::resources;
use crate::store::Txn;

/// What becomes of one container, chosen by the test.
#[derive(Clone, Debug, PartialEq)]
pub enum Fate {
    /// Starts; ready after `ready_after` (at once without a readiness probe).
    Runs { ready_after: Duration },
    /// Starts and is never ready (a readiness probe that keeps failing).
    NeverReady,
    /// Its image cannot be pulled: `message` is the runtime's error.
    PullFails { message: String },
    /// The first `times` pulls fail (a registry's rate limit), then it runs.
    PullFailsFirst { times: u32, message: String },
    /// Exits with `code` soon after every start.
    Crashes { code: i32 },
    /// Exits with `code` the first `times` starts, then runs.
    CrashesFirst { times: u32, code: i32 },
    /// Runs for `after`, then exits with `code` (a job's or a test pod's container).
    Exits { code: i32, after: Duration },
}

/// What the fate function sees of a container.
pub struct ContainerView<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub labels: &'a Value,
    pub annotations: &'a Value,
    pub container: &'a str,
    pub image: &'a str,
    pub restart_policy: &'a str,
}

type FateFn = dyn Fn(&ContainerView) -> Fate + Send + Sync;
type AddressFn = dyn Fn(&Value, u16) -> Option<SocketAddr> + Send + Sync;
type ExecFn = dyn Fn(&ExecView) -> Option<std::process::Command> + Send + Sync;

/// The test's choice of fates, what each container has printed, and where the pods' ports
/// lead (for port-forwards).
pub struct Fates {
    choose: Box<FateFn>,
    addresses: Option<Box<AddressFn>>,
    commands: Option<Box<ExecFn>>,
    /// How long a deleted pod's containers take to stop.
    stopping: Duration,
    /// When each deleted pod (by uid) was first seen terminating.
    terminating: Mutex<HashMap<String, Instant>>,
    /// Whether the cluster has a metrics server (`kubectl top`).
    pub(crate) metrics: bool,
    runtime: Mutex<HashMap<String, PodRuntime>>,
}

impl Fates {
    pub fn new(choose: impl Fn(&ContainerView) -> Fate + Send + Sync + 'static) -> Fates {
        Fates {
            choose: Box::new(choose),
            addresses: None,
            commands: None,
            stopping: Duration::ZERO,
            terminating: Mutex::new(HashMap::new()),
            metrics: false,
            runtime: Mutex::new(HashMap::new()),
        }
    }

    /// Port-forwards to a pod (its labels) and port reach the address `serve` gives: a
    /// process of the test's, standing in for the container's.
    pub fn serving(mut self, serve: impl Fn(&Value, u16) -> Option<SocketAddr> + Send + Sync + 'static) -> Fates {
        self.addresses = Some(Box::new(serve));
        self
    }

    /// `kubectl exec` into a container runs the process `run` gives (with the container's
    /// environment in the view), standing in for the container's own; `None`: the container
    /// has no such program.
    pub fn executing(
        mut self,
        run: impl Fn(&ExecView) -> Option<std::process::Command> + Send + Sync + 'static,
    ) -> Fates {
        self.commands = Some(Box::new(run));
        self
    }

    /// A deleted pod's containers take `stopping` to stop (a service draining what it serves):
    /// meanwhile the pod is listed as terminating and not ready, as in a real rollout.
    pub fn stopping_for(mut self, stopping: Duration) -> Fates {
        self.stopping = stopping;
        self
    }

    /// The cluster runs a metrics server (Minikube's addon): `metrics.k8s.io` serves each
    /// running pod's usage, so `kubectl top` answers.
    pub fn with_metrics_server(mut self) -> Fates {
        self.metrics = true;
        self
    }

    pub(crate) fn exec_command(&self, view: &ExecView) -> Option<std::process::Command> {
        self.commands.as_ref().and_then(|run| run(view))
    }

    /// Where a port-forward to a pod with `labels` and `port` leads, or why nowhere.
    pub fn address(&self, labels: &Value, port: u16) -> Result<SocketAddr, String> {
        let name = labels["app.kubernetes.io/name"].as_str().unwrap_or("the pod");
        self.addresses
            .as_ref()
            .and_then(|serve| serve(labels, port))
            .ok_or_else(|| {
                format!("dial tcp4 127.0.0.1:{port}: connect: connection refused (nothing of {name} listens there)")
            })
    }

    /// Every container runs and is ready a moment after it starts; a container of a pod that
    /// is never restarted (a job's, a test's) exits 0 after a moment.
    pub fn all_healthy() -> Fates {
        Fates::new(|c| {
            if c.restart_policy == "Always" {
                Fate::Runs {
                    ready_after: Duration::from_millis(150),
                }
            } else {
                Fate::Exits {
                    code: 0,
                    after: Duration::from_millis(150),
                }
            }
        })
    }

    /// The lines a container printed (the runs before the last one: `previous`).
    pub fn logs(&self, pod_uid: &str, container: &str, previous: bool) -> Option<Vec<String>> {
        let runtime = self.runtime.lock().unwrap_or_else(|e| e.into_inner());
        let c = runtime.get(pod_uid)?.containers.get(container)?;
        Some(if previous {
            c.previous_log.clone()?
        } else {
            c.log.clone()
        })
    }
}

#[derive(Default)]
struct PodRuntime {
    containers: HashMap<String, ContainerRuntime>,
}

struct ContainerRuntime {
    fate: Fate,
    pulls: u32,
    starts: u32,
    /// When the current state began (the pull failure, the start, the exit).
    since: Instant,
    /// The same moment on the wall clock, as the status shows it.
    stamp: String,
    state: State,
    log: Vec<String>,
    previous_log: Option<Vec<String>>,
    last_exit: Option<i32>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum State {
    Pulling,
    PullFailed,
    PullBackOff,
    Running,
    Exited(i32),
    CrashBackOff,
}

/// How long the stand-in's kubelet waits before the first retry of a pull or restart; each
/// retry doubles it up to `MAX_BACK_OFF`, as the kubelet's back-off does (10 s doubling to 5 min,
/// `kubelet.go` backOffPeriod/MaxContainerBackOff), so a crash-looping container spends most of
/// its time waiting in CrashLoopBackOff, as a real one does, only faster.
const BACK_OFF: Duration = Duration::from_millis(400);
const MAX_BACK_OFF: Duration = Duration::from_millis(3200);
const CRASH_AFTER: Duration = Duration::from_millis(100);

/// The back-off before retry number `retry` (1 for the first).
fn back_off(retry: u32) -> Duration {
    BACK_OFF
        .saturating_mul(1 << retry.saturating_sub(1).min(8))
        .min(MAX_BACK_OFF)
}

/// One pass over every pod: schedule, pull, start, crash, become ready, finish deleting.
pub fn sync(api: &ApiServer, txn: &mut Txn, node: &str) {
    let pods_kind = resources::named("", "pods");
    let pods = txn.list(pods_kind, None);
    let mut runtime = api.fates.runtime.lock().unwrap_or_else(|e| e.into_inner());
    let live: Vec<String> = pods
        .iter()
        .filter_map(|p| p["metadata"]["uid"].as_str().map(str::to_string))
        .collect();
    runtime.retain(|uid, _| live.contains(uid));
    for pod in pods {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
        let key = ApiServer::key(pods_kind, &namespace, &name);
        if !pod["metadata"]["deletionTimestamp"].is_null() {
            // The containers are told to stop; they take the test's `stopping` time (at once by
            // default: graceful shutdown is the services' own, tested elsewhere). Meanwhile the
            // pod is listed, Running and no longer ready, as the kubelet reports a pod whose
            // containers are being killed (`kubelet.go` SyncTerminatingPod); then it is gone. A
            // pod whose containers have all ended has nothing to stop and goes at once.
            let since = *api
                .fates
                .terminating
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(uid.clone())
                .or_insert_with(Instant::now);
            let finished = matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"));
            if finished || since.elapsed() >= api.fates.stopping {
                txn.remove(&key);
                api.fates
                    .terminating
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&uid);
            } else if ready_condition(&pod) {
                let mut next = pod.clone();
                set_condition(&mut next, "ContainersReady", false, Some("ContainersNotReady"));
                set_condition(&mut next, "Ready", false, Some("ContainersNotReady"));
                for status in next["status"]["containerStatuses"].as_array_mut().into_iter().flatten() {
                    status["ready"] = json!(false);
                }
                txn.put(key, next);
            }
            continue;
        }
        let mut next = pod.clone();
        if next["spec"]["nodeName"].is_null() {
            next["spec"]["nodeName"] = json!(node);
            set_condition(&mut next, "PodScheduled", true, None);
            api.event(
                txn,
                &next,
                "Pod",
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {namespace}/{name} to {node}"),
                "default-scheduler",
            );
        }
        if matches!(next["status"]["phase"].as_str(), Some("Succeeded" | "Failed")) {
            continue;
        }
        let restart_policy = next["spec"]["restartPolicy"].as_str().unwrap_or("Always").to_string();
        let pod_runtime = runtime.entry(uid.clone()).or_default();
        let mut statuses = Vec::new();
        let mut events: Vec<(&str, String, String)> = Vec::new();
        for container in next["spec"]["containers"].as_array().cloned().unwrap_or_default() {
            let cname = container["name"].as_str().unwrap_or_default().to_string();
            let image = container["image"].as_str().unwrap_or_default().to_string();
            let c = pod_runtime
                .containers
                .entry(cname.clone())
                .or_insert_with(|| ContainerRuntime {
                    fate: (api.fates.choose)(&ContainerView {
                        namespace: &namespace,
                        pod: &name,
                        labels: &pod["metadata"]["labels"],
                        annotations: &pod["metadata"]["annotations"],
                        container: &cname,
                        image: &image,
                        restart_policy: &restart_policy,
                    }),
                    pulls: 0,
                    starts: 0,
                    since: Instant::now(),
                    stamp: now(),
                    state: State::Pulling,
                    log: Vec::new(),
                    previous_log: None,
                    last_exit: None,
                });
            step(c, &restart_policy, &cname, &name, &image, &mut events);
            statuses.push(container_status(
                c,
                &cname,
                &image,
                container["readinessProbe"].is_null(),
            ));
        }
        for (event_type, reason, message) in events {
            api.event(txn, &next, "Pod", event_type, &reason, &message, "kubelet");
        }
        let all_ready = statuses.iter().all(|s| s["ready"] == true);
        let any_running = statuses.iter().any(|s| !s["state"]["running"].is_null());
        let exits: Vec<i64> = statuses
            .iter()
            .filter_map(|s| s["state"]["terminated"]["exitCode"].as_i64())
            .collect();
        let phase = if restart_policy != "Always" && exits.len() == statuses.len() && !statuses.is_empty() {
            if exits.iter().all(|c| *c == 0) {
                "Succeeded"
            } else {
                "Failed"
            }
        } else if any_running || statuses.iter().any(|s| s["restartCount"].as_i64().unwrap_or(0) > 0) {
            "Running"
        } else {
            "Pending"
        };
        next["status"]["phase"] = json!(phase);
        next["status"]["containerStatuses"] = json!(statuses);
        next["status"]["hostIP"] = json!("192.168.49.2");
        if next["status"]["podIP"].is_null() {
            next["status"]["podIP"] = json!(format!("10.244.0.{}", rand::random_range(2..250)));
            next["status"]["startTime"] = json!(now());
        }
        set_condition(&mut next, "Initialized", true, None);
        let reason = (!all_ready).then_some("ContainersNotReady");
        set_condition(&mut next, "ContainersReady", all_ready, reason);
        set_condition(&mut next, "Ready", all_ready, reason);
        if next != pod {
            txn.put(key, next);
        }
    }
}

fn step(
    c: &mut ContainerRuntime,
    restart_policy: &str,
    container: &str,
    pod: &str,
    image: &str,
    events: &mut Vec<(&str, String, String)>,
) {
    let elapsed = c.since.elapsed();
    let pull_fails = match &c.fate {
        Fate::PullFails { message } => Some(message.clone()),
        Fate::PullFailsFirst { times, message } if c.pulls < *times => Some(message.clone()),
        _ => None,
    };
    let start = |c: &mut ContainerRuntime, events: &mut Vec<(&str, String, String)>| {
        c.starts += 1;
        c.state = State::Running;
        c.since = Instant::now();
        c.stamp = now();
        if c.starts == 1 {
            events.push((
                "Normal",
                "Pulled".into(),
                format!("Container image \"{image}\" already present on machine"),
            ));
        }
        events.push(("Normal", "Created".into(), format!("Created container: {container}")));
        events.push(("Normal", "Started".into(), format!("Started container {container}")));
        c.log.push(format!("{} starting {container} ({image})", now()));
    };
    match c.state {
        State::Pulling => match pull_fails {
            Some(message) => {
                c.pulls += 1;
                c.state = State::PullFailed;
                c.since = Instant::now();
                c.stamp = now();
                events.push(("Normal", "Pulling".into(), format!("Pulling image \"{image}\"")));
                events.push((
                    "Warning",
                    "Failed".into(),
                    format!("Failed to pull image \"{image}\": {message}"),
                ));
                events.push(("Warning", "Failed".into(), "Error: ErrImagePull".into()));
            }
            None => {
                c.pulls += 1;
                start(c, events);
            }
        },
        State::PullFailed if elapsed >= back_off(c.pulls) / 2 => {
            c.state = State::PullBackOff;
            c.since = Instant::now();
            c.stamp = now();
            events.push((
                "Normal",
                "BackOff".into(),
                format!("Back-off pulling image \"{image}\""),
            ));
            events.push(("Warning", "Failed".into(), "Error: ImagePullBackOff".into()));
        }
        State::PullBackOff if elapsed >= back_off(c.pulls) => c.state = State::Pulling,
        State::Running => {
            let exit = match c.fate {
                Fate::Crashes { code } if elapsed >= CRASH_AFTER => Some(code),
                Fate::CrashesFirst { times, code } if c.starts <= times && elapsed >= CRASH_AFTER => Some(code),
                Fate::Exits { code, after } if elapsed >= after => Some(code),
                _ => None,
            };
            if let Some(code) = exit {
                c.log.push(format!("{} {container} exited with code {code}", now()));
                c.last_exit = Some(code);
                c.since = Instant::now();
                c.stamp = now();
                c.state = State::Exited(code);
            }
        }
        State::Exited(code) if restart_policy == "Always" || (restart_policy == "OnFailure" && code != 0) => {
            c.previous_log = Some(std::mem::take(&mut c.log));
            c.state = State::CrashBackOff;
            c.since = Instant::now();
            c.stamp = now();
            events.push((
                "Warning",
                "BackOff".into(),
                format!("Back-off restarting failed container {container} in pod {pod}"),
            ));
        }
        State::CrashBackOff if elapsed >= back_off(c.starts) => start(c, events),
        _ => {}
    }
}

fn container_status(c: &ContainerRuntime, name: &str, image: &str, no_probe: bool) -> Value {
    let started_at = c.stamp.clone();
    let (state, ready) = match c.state {
        State::Pulling if c.pulls == 0 => (json!({"waiting": {"reason": "ContainerCreating"}}), false),
        State::Pulling | State::PullFailed => (
            json!({"waiting": {"reason": "ErrImagePull", "message": pull_message(&c.fate, image)}}),
            false,
        ),
        State::PullBackOff => (
            json!({"waiting": {"reason": "ImagePullBackOff", "message": format!("Back-off pulling image \"{image}\": ErrImagePull: {}", pull_message(&c.fate, image))}}),
            false,
        ),
        State::Running => {
            let ready = match c.fate {
                Fate::NeverReady | Fate::Crashes { .. } => false,
                Fate::Runs { ready_after } => no_probe || c.since.elapsed() >= ready_after,
                _ => true,
            };
            (json!({"running": {"startedAt": started_at}}), ready)
        }
        State::Exited(code) => (
            json!({"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "finishedAt": started_at}}),
            false,
        ),
        State::CrashBackOff => (
            json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={name}")}}),
            false,
        ),
    };
    let restarts = c.starts.saturating_sub(1) + u32::from(c.state == State::CrashBackOff);
    let mut status = json!({
        "name": name, "image": image, "imageID": "", "ready": ready, "started": !state["running"].is_null(),
        "restartCount": restarts, "state": state,
    });
    if let Some(code) = c.last_exit.filter(|_| restarts > 0) {
        status["lastState"] =
            json!({"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }}});
    }
    status
}

fn pull_message(fate: &Fate, image: &str) -> String {
    match fate {
        Fate::PullFails { message } | Fate::PullFailsFirst { message, .. } => message.clone(),
        _ => format!("pulling {image}"),
    }
}

fn ready_condition(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn set_condition(pod: &mut Value, kind: &str, value: bool, reason: Option<&str>) {
    let status = if value { "True" } else { "False" };
    let conditions = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let mut kept: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != kind).collect();
    let previous = pod["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .cloned();
    let transition = match &previous {
        Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
        _ => json!(now()),
    };
    let mut condition =
        json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": transition});
    if let Some(reason) = reason {
        condition["reason"] = json!(reason);
    }
    kept.push(condition);
    kept.sort_by_key(|c| {
        ["PodScheduled", "Initialized", "ContainersReady", "Ready"]
            .iter()
            .position(|k| c["type"] == *k)
            .unwrap_or(9)
    });
    pod["status"]["conditions"] = json!(kept);
}
