//! `pods/P/exec`: a command run "in" a container over the `v5.channel.k8s.io` WebSocket
//! protocol, the one kubectl speaks since 1.30 (client-go `tools/remotecommand/websocket.go`;
//! it offers only v5, and falls back to SPDY when the upgrade is refused).
//!
//! The protocol (apimachinery `pkg/util/remotecommand/constants.go`): every message is binary,
//! its first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 the error channel, 4 resize; v5
//! adds 255, `[255, channel]`, with which the client says it has closed its stdin. When the
//! command ends the server writes a `Status` on channel 3 (Success, or Failure with reason
//! NonZeroExitCode and the code as an `ExitCode` cause, as the kubelet's
//! `cri/streaming/remotecommand/httpstream.go` writes it; kubectl exits with that code) and
//! closes the connection normally.
//!
//! What runs is the test's choice ([`crate::Fates::executing`]): a process of this machine,
//! given the container's environment as the kubelet builds it (`kubelet_pods.go`
//! makeEnvironmentVariables: `value`, `valueFrom` a Secret's or ConfigMap's key or the pod's
//! own fields, `envFrom`).

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::apiserver::ApiServer;
use crate::resources;
use crate::status::ApiError;
use crate::store::{Key, Txn};

const PROTOCOL: &str = "v5.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;

/// What the test's exec function sees: the container and the command asked for.
pub struct ExecView<'a> {
    pub namespace: &'a str,
    pub pod: &'a str,
    pub labels: &'a Value,
    pub container: &'a str,
    pub command: &'a [String],
    /// The container's environment, resolved.
    pub env: &'a [(String, String)],
}

/// Upgrades to the exec WebSocket and runs the command; refuses (as a real server does, with a
/// `Status`) a pod that is not running, a container it does not have, and any other protocol.
pub fn exec(
    api: &ApiServer,
    namespace: &str,
    name: &str,
    query: &[(String, String)],
    upgrade: Result<WebSocketUpgrade, String>,
) -> Result<Response, ApiError> {
    let pods = resources::named("", "pods");
    let pod = api
        .store
        .lock()
        .get(&Key::new(pods, namespace, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(pods, name))?;
    let asked = |key: &'static str| query.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.clone());
    let command: Vec<String> = asked("command").collect();
    if command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let containers: Vec<&Value> = pod["spec"]["containers"].as_array().into_iter().flatten().collect();
    let container = match asked("container").next() {
        Some(c) => containers
            .iter()
            .find(|spec| spec["name"] == c.as_str())
            .copied()
            .ok_or_else(|| ApiError::bad_request(format!("container {c} is not valid for pod {name}")))?,
        None => containers
            .first()
            .copied()
            .ok_or_else(|| ApiError::bad_request(format!("pod {name} has no containers")))?,
    };
    if pod["status"]["phase"] != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: container not found (\"{}\")",
            container["name"].as_str().unwrap_or_default()
        )));
    }
    let upgrade = upgrade.map_err(|why| {
        ApiError::bad_request(format!(
            "unable to upgrade connection: the stand-in serves exec over the {PROTOCOL} WebSocket protocol ({why})"
        ))
    })?;
    let upgrade = upgrade.protocols([PROTOCOL]);
    if upgrade.selected_protocol().is_none() {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: the client offered no {PROTOCOL}"
        )));
    }
    let env = environment(&api.store.lock(), &pod, container);
    let view = ExecView {
        namespace,
        pod: name,
        labels: &pod["metadata"]["labels"],
        container: container["name"].as_str().unwrap_or_default(),
        command: &command,
        env: &env,
    };
    let process = api.fates.exec_command(&view);
    let stdin = asked("stdin").any(|v| v == "true" || v == "1");
    Ok(upgrade
        .on_upgrade(move |socket| session(socket, process, command, stdin))
        .into_response())
}

/// One exec: the process's stdout and stderr out, the client's stdin in, the exit status last.
async fn session(socket: WebSocket, process: Option<std::process::Command>, command: Vec<String>, stdin: bool) {
    let (mut sink, mut incoming) = socket.split();
    let status = match process {
        None => failure(
            126,
            &format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": executable file not found in $PATH",
                command[0]
            ),
        ),
        Some(process) => {
            let mut process = tokio::process::Command::from(process);
            process
                .stdin(if stdin {
                    std::process::Stdio::piped()
                } else {
                    std::process::Stdio::null()
                })
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            match process.spawn() {
                Err(e) => failure(126, &format!("exec: \"{}\": {e}", command[0])),
                Ok(mut child) => {
                    let (sender, mut outgoing) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
                    let pumps = [
                        child
                            .stdout
                            .take()
                            .map(|out| tokio::spawn(pump(out, STDOUT, sender.clone()))),
                        child
                            .stderr
                            .take()
                            .map(|err| tokio::spawn(pump(err, STDERR, sender.clone()))),
                    ];
                    drop(sender);
                    let mut child_stdin = child.stdin.take();
                    // Until both output pipes are drained: forward what the client sends (its
                    // stdin, its close of stdin) and what the process prints.
                    loop {
                        tokio::select! {
                            out = outgoing.recv() => match out {
                                Some(frame) => {
                                    if sink.send(Message::Binary(frame.into())).await.is_err() {
                                        return;
                                    }
                                }
                                None => break,
                            },
                            message = incoming.next() => match message {
                                Some(Ok(Message::Binary(data))) => match data.first() {
                                    Some(&STDIN) => {
                                        if let Some(pipe) = child_stdin.as_mut()
                                            && pipe.write_all(&data[1..]).await.is_err()
                                        {
                                            child_stdin = None;
                                        }
                                    }
                                    Some(&CLOSE) if data.get(1) == Some(&STDIN) => child_stdin = None,
                                    _ => {}
                                },
                                Some(Ok(_)) => {}
                                // The client went away: the process is killed on drop.
                                Some(Err(_)) | None => return,
                            },
                        }
                    }
                    for pump in pumps.into_iter().flatten() {
                        let _ = pump.await;
                    }
                    drop(child_stdin);
                    match child.wait().await {
                        Ok(exit) if exit.success() => json!({"metadata": {}, "status": "Success"}),
                        Ok(exit) => {
                            let code = exit.code().unwrap_or(137);
                            failure(
                                code,
                                &format!(
                                    "command terminated with non-zero exit code: error executing command {command:?}, exit code {code}"
                                ),
                            )
                        }
                        Err(e) => failure(1, &e.to_string()),
                    }
                }
            }
        }
    };
    let mut frame = vec![ERROR];
    frame.extend(status.to_string().into_bytes());
    let _ = sink.send(Message::Binary(frame.into())).await;
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: "".into(),
        })))
        .await;
}

/// The error channel's `Status` for a command that ended with `code`.
fn failure(code: i32, message: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

/// Copies one of the process's pipes into frames of `channel`.
async fn pump(mut pipe: impl tokio::io::AsyncRead + Unpin, channel: u8, sender: tokio::sync::mpsc::Sender<Vec<u8>>) {
    let mut buffer = vec![0u8; 32 * 1024];
    while let Ok(read) = pipe.read(&mut buffer).await {
        if read == 0 {
            return;
        }
        let mut frame = Vec::with_capacity(read + 1);
        frame.push(channel);
        frame.extend_from_slice(&buffer[..read]);
        if sender.send(frame).await.is_err() {
            return;
        }
    }
}

/// The container's environment as the kubelet builds it: `envFrom` first, then `env` in order
/// (a later name wins); a reference to a missing Secret, ConfigMap or key is left out, as an
/// `optional` one is (a required one would have kept the container from starting).
fn environment(txn: &Txn, pod: &Value, container: &Value) -> Vec<(String, String)> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let source = |kind: &str, name: &str| -> Vec<(String, String)> {
        let (resource, encoded) = if kind == "secret" {
            ("secrets", true)
        } else {
            ("configmaps", false)
        };
        let Some(object) = txn.get(&Key::new(resources::named("", resource), namespace, name)) else {
            return Vec::new();
        };
        let mut values: Vec<(String, String)> = object["data"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                let v = v.as_str()?;
                let v = if encoded {
                    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v).ok()?).ok()?
                } else {
                    v.to_string()
                };
                Some((k.clone(), v))
            })
            .collect();
        if encoded {
            // stringData is folded into data on write; kept here in case a test wrote it raw.
            values.extend(
                object["stringData"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))),
            );
        }
        values
    };
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, key: String, value: String| {
        env.retain(|(k, _)| *k != key);
        env.push((key, value));
    };
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        let found = if let Some(name) = from["secretRef"]["name"].as_str() {
            source("secret", name)
        } else if let Some(name) = from["configMapRef"]["name"].as_str() {
            source("configmap", name)
        } else {
            Vec::new()
        };
        for (k, v) in found {
            set(&mut env, format!("{prefix}{k}"), v);
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let Some(name) = var["name"].as_str() else { continue };
        let from = &var["valueFrom"];
        let value = if let Some(value) = var["value"].as_str() {
            Some(value.to_string())
        } else if let Some(secret) = from["secretKeyRef"]["name"].as_str() {
            let key = from["secretKeyRef"]["key"].as_str().unwrap_or_default();
            source("secret", secret)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        } else if let Some(map) = from["configMapKeyRef"]["name"].as_str() {
            let key = from["configMapKeyRef"]["key"].as_str().unwrap_or_default();
            source("configmap", map)
                .into_iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        } else if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
            match path {
                "metadata.name" => pod["metadata"]["name"].as_str().map(str::to_string),
                "metadata.namespace" => Some(namespace.to_string()),
                "metadata.uid" => pod["metadata"]["uid"].as_str().map(str::to_string),
                "spec.nodeName" => pod["spec"]["nodeName"].as_str().map(str::to_string),
                "spec.serviceAccountName" => pod["spec"]["serviceAccountName"].as_str().map(str::to_string),
                "status.podIP" | "status.hostIP" => Some("127.0.0.1".to_string()),
                _ => None,
            }
        } else {
            None
        };
        if let Some(value) = value {
            set(&mut env, name.to_string(), value);
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_environment_resolves_secrets_configmaps_and_fields_later_names_winning() {
        let store = Store::new();
        let mut txn = store.lock();
        txn.put(
            Key::new(resources::named("", "secrets"), "ns", "db"),
            json!({"metadata": {"name": "db", "namespace": "ns"}, "data": {"PASSWORD": "czNjcjN0", "USER": "YWRtaW4="}}),
        );
        txn.put(
            Key::new(resources::named("", "configmaps"), "ns", "settings"),
            json!({"metadata": {"name": "settings", "namespace": "ns"}, "data": {"LEVEL": "debug"}}),
        );
        let pod = json!({"metadata": {"name": "p-0", "namespace": "ns", "uid": "u"}, "spec": {}});
        let container = json!({
            "envFrom": [{"secretRef": {"name": "db"}, "prefix": "DB_"}],
            "env": [
                {"name": "DB_USER", "value": "todo"},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "PASSWORD"}}},
                {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "x", "optional": true}}},
            ],
        });
        let env = environment(&txn, &pod, &container);
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("DB_USER"), Some("todo"));
        assert_eq!(get("DB_PASSWORD"), Some("s3cr3t"));
        assert_eq!(get("PW"), Some("s3cr3t"));
        assert_eq!(get("LEVEL"), Some("debug"));
        assert_eq!(get("POD"), Some("p-0"));
        assert_eq!(get("GONE"), None);
    }
}
