//! The HTTP face of the stand-in: the API server's paths, verbs and media types, as
//! k8s.io/apiserver `pkg/endpoints` serves them (installer.go for the paths; handlers/ for
//! get, list, watch, create, update, patch, delete; watch.go for the event stream).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::apiserver::ApiServer;
use crate::resources::{self, Kind};
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::{self, ApiError};
use crate::store::{ChangeType, Key};

type Params = HashMap<String, String>;

fn json_response(code: StatusCode, body: &Value) -> Response {
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error_response(error: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(error.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &error.body(),
    )
}

pub async fn handle(State(api): State<ApiServer>, request: axum::extract::Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method.clone(), parts.uri.clone(), parts.headers.clone());
    let params: Params = Query::<Params>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    api.log_request(&method, &uri);
    let path = uri.path().trim_end_matches('/');
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if let ["api", "v1", "namespaces", namespace, "pods", name, "portforward"] = segments.as_slice() {
        let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
        return port_forward(&api, namespace, name, &headers, upgrade).unwrap_or_else(|e| error_response(&e));
    }
    if let ["api", "v1", "namespaces", namespace, "pods", name, "exec"] = segments.as_slice() {
        use axum::extract::FromRequestParts as _;
        let upgrade = axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &api)
            .await
            .map_err(|rejection| rejection.body_text());
        // `command` repeats, one value per argument: a map would keep only the last.
        let query: Vec<(String, String)> = url_pairs(uri.query().unwrap_or_default());
        return crate::exec::exec(&api, namespace, name, &query, upgrade).unwrap_or_else(|e| error_response(&e));
    }
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return error_response(&ApiError::bad_request("the request body could not be read"));
    };
    let found = match segments.as_slice() {
        ["version"] => Ok(json_response(
            StatusCode::OK,
            &json!({"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64", "goVersion": "go1.25.0", "compiler": "gc"}),
        )),
        ["healthz" | "livez" | "readyz"] => Ok((StatusCode::OK, "ok").into_response()),
        ["api"] => Ok(json_response(StatusCode::OK, &resources::api_versions())),
        ["apis"] => {
            let mut groups = resources::api_group_list();
            if api.fates.metrics
                && let Some(list) = groups["groups"].as_array_mut()
            {
                list.push(crate::metrics::group());
            }
            Ok(json_response(StatusCode::OK, &groups))
        }
        ["apis", crate::metrics::GROUP, crate::metrics::VERSION, rest @ ..] if api.fates.metrics => match rest {
            [] => Ok(json_response(StatusCode::OK, &crate::metrics::resource_list())),
            rest => label_selector(&params)
                .and_then(|selector| crate::metrics::serve(&api, rest, &selector))
                .map(|body| json_response(StatusCode::OK, &body)),
        },
        ["api", "v1"] => discovery("", "v1"),
        ["apis", group, version] => discovery(group, version),
        ["openapi", "v3"] => Ok(json_response(StatusCode::OK, &resources::openapi_v3_root())),
        ["openapi", "v3", "api", "v1"] => openapi("", "v1"),
        ["openapi", "v3", "apis", group, version] => openapi(group, version),
        ["api", "v1", rest @ ..] => resource(&api, &method, &headers, &params, "", "v1", rest, body).await,
        ["apis", group, version, rest @ ..] => {
            resource(&api, &method, &headers, &params, group, version, rest, body).await
        }
        _ => Err(ApiError::not_found_path(path)),
    };
    found.unwrap_or_else(|e| error_response(&e))
}

/// The query's pairs in order, repeated keys kept.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&format!("/?{query}").parse().unwrap_or_default())
        .map(|q| q.0)
        .unwrap_or_default()
}

fn discovery(group: &str, version: &str) -> Result<Response, ApiError> {
    resources::api_resource_list(group, version)
        .map(|list| json_response(StatusCode::OK, &list))
        .ok_or_else(|| ApiError::not_found_path(&format!("{group}/{version}")))
}

fn openapi(group: &str, version: &str) -> Result<Response, ApiError> {
    resources::openapi_v3_group(group, version)
        .map(|doc| json_response(StatusCode::OK, &doc))
        .ok_or_else(|| ApiError::not_found_path(&format!("openapi/v3 {group}/{version}")))
}

/// Where a path under a group version points.
struct Target<'a> {
    kind: &'static Kind,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn target<'a>(group: &str, version: &str, rest: &[&'a str]) -> Result<Target<'a>, ApiError> {
    let lookup = |plural: &str| resources::find(group, version, plural).ok_or_else(|| ApiError::not_found_path(plural));
    let namespaced_collection =
        rest.len() >= 3 && rest[0] == "namespaces" && resources::find(group, version, rest[2]).is_some();
    if namespaced_collection {
        let kind = lookup(rest[2])?;
        return Ok(Target {
            kind,
            namespace: Some(rest[1]),
            name: rest.get(3).copied(),
            sub: rest.get(4).copied(),
        });
    }
    match rest {
        [plural] => Ok(Target {
            kind: lookup(plural)?,
            namespace: None,
            name: None,
            sub: None,
        }),
        [plural, name] | [plural, name, _] => {
            let kind = lookup(plural)?;
            if kind.namespaced {
                return Err(ApiError::not_found_path(&rest.join("/")));
            }
            Ok(Target {
                kind,
                namespace: None,
                name: Some(name),
                sub: rest.get(2).copied(),
            })
        }
        _ => Err(ApiError::not_found_path(&rest.join("/"))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    api: &ApiServer,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    group: &str,
    version: &str,
    rest: &[&str],
    body: Bytes,
) -> Result<Response, ApiError> {
    let t = target(group, version, rest)?;
    if params.get("dryRun").is_some_and(|d| !d.is_empty()) {
        return Err(ApiError::bad_request("the stand-in API server does not do dry runs"));
    }
    let namespace = t.namespace.unwrap_or("");
    let kind = t.kind;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    match (t.name, t.sub, method.clone()) {
        (None, _, Method::GET) if params.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(api, kind, t.namespace, params)
        }
        (None, _, Method::GET) => list(api, kind, t.namespace, params),
        (None, _, Method::POST) => {
            let object = decode_body(content_type, &body)?;
            let mut txn = api.store.lock();
            let created = api.create(&mut txn, kind, namespace, object)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (None, _, Method::DELETE) => {
            let mut txn = api.store.lock();
            let selector = label_selector(params)?;
            let mut deleted = Vec::new();
            for object in txn.list(kind, t.namespace) {
                if selector.matches(&object) {
                    let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                    deleted.push(api.delete(&mut txn, kind, namespace, &name)?);
                }
            }
            Ok(json_response(StatusCode::OK, &list_body(kind, txn.version(), deleted)))
        }
        (Some(name), None | Some("status"), Method::GET) => {
            let txn = api.store.lock();
            let object = txn
                .get(&Key::new(kind, namespace, name))
                .cloned()
                .ok_or_else(|| ApiError::not_found(kind, name))?;
            Ok(json_response(StatusCode::OK, &object))
        }
        (Some(name), sub @ (None | Some("status")), Method::PUT) => {
            let object = decode_body(content_type, &body)?;
            let mut txn = api.store.lock();
            let updated = api.update(&mut txn, kind, namespace, name, object, sub.is_some())?;
            Ok(json_response(StatusCode::OK, &updated))
        }
        (Some(name), Some("finalize"), Method::PUT) if kind.plural == "namespaces" => {
            let txn = api.store.lock();
            let object = txn
                .get(&Key::new(kind, "", name))
                .cloned()
                .ok_or_else(|| ApiError::not_found(kind, name))?;
            Ok(json_response(StatusCode::OK, &object))
        }
        (Some(name), sub @ (None | Some("status")), Method::PATCH) => {
            let manager = params.get("fieldManager").map_or("unknown", String::as_str);
            let mut txn = api.store.lock();
            let existed = txn.get(&Key::new(kind, namespace, name)).is_some();
            let patched = api.patch(
                &mut txn,
                kind,
                namespace,
                name,
                content_type,
                &body,
                manager,
                sub.is_some(),
            )?;
            let code = if existed { StatusCode::OK } else { StatusCode::CREATED };
            Ok(json_response(code, &patched))
        }
        (Some(name), None, Method::DELETE) => {
            let mut txn = api.store.lock();
            let key = Key::new(kind, namespace, name);
            let uid = txn.get(&key).map(|o| o["metadata"]["uid"].clone()).unwrap_or_default();
            let result = api.delete(&mut txn, kind, namespace, name)?;
            if txn.get(&key).is_some() {
                Ok(json_response(StatusCode::OK, &result))
            } else {
                Ok(json_response(StatusCode::OK, &status::success(kind, name, &uid)))
            }
        }
        (Some(name), Some("log"), Method::GET) if kind.plural == "pods" => logs(api, namespace, name, params).await,
        (Some(_), Some(sub @ ("exec" | "attach")), _) if kind.plural == "pods" => Err(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("the stand-in API server does not stream pods/{sub}"),
            details: Value::Null,
        }),
        _ => Err(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "the server does not allow this method on the requested resource ({method} {})",
                rest.join("/")
            ),
            details: Value::Null,
        }),
    }
}

/// A request body as JSON, whichever of JSON or protobuf it came in.
fn decode_body(content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    if content_type.starts_with("application/vnd.kubernetes.protobuf") {
        return crate::protobuf::to_json(body).map_err(ApiError::bad_request);
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding body: {e}")))
}

fn label_selector(params: &Params) -> Result<LabelSelector, ApiError> {
    LabelSelector::parse(params.get("labelSelector").map_or("", String::as_str)).map_err(ApiError::bad_request)
}

fn list_body(kind: &Kind, version: u64, items: Vec<Value>) -> Value {
    json!({
        "kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": version.to_string()}, "items": items,
    })
}

fn list(api: &ApiServer, kind: &'static Kind, namespace: Option<&str>, params: &Params) -> Result<Response, ApiError> {
    let labels = label_selector(params)?;
    let fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str));
    let txn = api.store.lock();
    let items: Vec<Value> = txn
        .list(kind, namespace)
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    Ok(json_response(StatusCode::OK, &list_body(kind, txn.version(), items)))
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// A watch: the changes after `resourceVersion` (or, with `sendInitialEvents=true` or no
/// version, the current objects as ADDED first), then every change as it happens, until
/// `timeoutSeconds`. An object that stops matching the selectors is sent as DELETED, one that
/// starts matching as ADDED (apiserver `storage/cacher/cache_watcher.go` convertToWatchEvent).
/// With `sendInitialEvents=true` the initial objects end with a BOOKMARK annotated
/// `k8s.io/initial-events-end` (KEP-3157, the streaming list client-go's reflectors ask for).
fn watch(api: &ApiServer, kind: &'static Kind, namespace: Option<&str>, params: &Params) -> Result<Response, ApiError> {
    let labels = label_selector(params)?;
    let fields = FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str));
    let matches = move |o: &Value| labels.matches(o) && fields.matches(o);
    let initial_events = params.get("sendInitialEvents").is_some_and(|v| v == "true");
    let from: Option<u64> = params
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v != 0);
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let mut changes = api.store.subscribe();
    let resource = kind.group_resource();
    let namespace = namespace.map(str::to_string);
    let in_scope = {
        let resource = resource.clone();
        let namespace = namespace.clone();
        move |r: &str, ns: &str| r == resource && namespace.as_deref().is_none_or(|n| n == ns)
    };
    let mut first: Vec<Bytes> = Vec::new();
    let mut matched: std::collections::HashSet<String> = std::collections::HashSet::new();
    let since;
    {
        let txn = api.store.lock();
        match from.filter(|_| !initial_events) {
            Some(version) => {
                since = txn.version();
                for change in txn.changes_since(version) {
                    if in_scope(&change.resource, &change.namespace) {
                        first.extend(convert(&mut matched, &matches, change.change, &change.object));
                    }
                }
            }
            None => {
                since = txn.version();
                for object in txn.list(kind, namespace.as_deref()) {
                    first.extend(convert(&mut matched, &matches, ChangeType::Added, &object));
                }
                if initial_events {
                    let bookmark = json!({
                        "kind": kind.kind, "apiVersion": kind.api_version(),
                        "metadata": {"resourceVersion": since.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}},
                    });
                    first.push(event_line("BOOKMARK", &bookmark));
                }
            }
        }
    }
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(async move {
        for line in first {
            if sender.send(Ok(line)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::select! {
                change = changes.recv() => change,
                () = tokio::time::sleep_until(deadline) => return,
                () = sender.closed() => return,
            };
            let change = match next {
                Ok(change) => change,
                // Fell behind: end the watch; the client lists again (as after a real server's
                // "too old resource version").
                Err(_) => return,
            };
            if change.version <= since || !in_scope(&change.resource, &change.namespace) {
                continue;
            }
            if let Some(line) = convert(&mut matched, &matches, change.change, &change.object)
                && sender.send(Ok(line)).await.is_err()
            {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|item| (item, r)) });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

fn convert(
    matched: &mut std::collections::HashSet<String>,
    matches: &dyn Fn(&Value) -> bool,
    change: ChangeType,
    object: &Value,
) -> Option<Bytes> {
    let id = format!(
        "{}/{}",
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    );
    let now = matches(object);
    let before = matched.contains(&id);
    let kind = match change {
        ChangeType::Deleted if before => {
            matched.remove(&id);
            "DELETED"
        }
        ChangeType::Deleted => return None,
        _ if now && before => "MODIFIED",
        _ if now => {
            matched.insert(id);
            "ADDED"
        }
        _ if before => {
            matched.remove(&id);
            "DELETED"
        }
        _ => return None,
    };
    Some(event_line(kind, object))
}

fn pod(api: &ApiServer, namespace: &str, name: &str) -> Result<Value, ApiError> {
    let pods = resources::named("", "pods");
    api.store
        .lock()
        .get(&Key::new(pods, namespace, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(pods, name))
}

/// `pods/P/log`: the container's lines as plain text (`tailLines`, `previous`); with
/// `follow=true` the response stays open and carries new lines until the pod is gone
/// (kubelet `server.go` getContainerLogs, streamed through the API server).
async fn logs(api: &ApiServer, namespace: &str, name: &str, params: &Params) -> Result<Response, ApiError> {
    let pods = resources::named("", "pods");
    let pod = pod(api, namespace, name)?;
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match params.get("container") {
        Some(c) if containers.contains(c) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    let previous = params.get("previous").is_some_and(|p| p == "true");
    let Some(lines) = api.fates.logs(&uid, &container, previous) else {
        let why = if previous {
            format!("previous terminated container \"{container}\" in pod \"{name}\" not found")
        } else {
            format!("container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating")
        };
        return Err(ApiError::bad_request(why));
    };
    let tail = params
        .get("tailLines")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let skip = lines.len().saturating_sub(tail);
    let mut text: String = lines[skip..].iter().map(|l| format!("{l}\n")).collect();
    if params.get("follow").is_none_or(|f| f != "true") {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            std::mem::take(&mut text),
        )
            .into_response());
    }
    let api = api.clone();
    let namespace = namespace.to_string();
    let name = name.to_string();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        if sender.send(Ok(Bytes::from(text))).await.is_err() {
            return;
        }
        let mut sent = lines.len();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let gone = api.store.lock().get(&Key::new(pods, &namespace, &name)).is_none();
            let now = api.fates.logs(&uid, &container, false).unwrap_or_default();
            if now.len() > sent {
                let fresh: String = now[sent..].iter().map(|l| format!("{l}\n")).collect();
                sent = now.len();
                if sender.send(Ok(Bytes::from(fresh))).await.is_err() {
                    return;
                }
            }
            if gone || sender.is_closed() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut r| async move { r.recv().await.map(|item| (item, r)) });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

/// `pods/P/portforward`: answers a WebSocket upgrade with 400 (kubectl then falls back to SPDY)
/// and a SPDY/3.1 upgrade with 101, then forwards each requested port to where the test says
/// the pod's process listens.
fn port_forward(
    api: &ApiServer,
    namespace: &str,
    name: &str,
    headers: &HeaderMap,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    let pod = pod(api, namespace, name)?;
    let asked = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if asked != "spdy/3.1" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: the stand-in serves port-forward over SPDY/3.1, not {asked:?}"
        )));
    }
    if pod["status"]["phase"] != "Running" {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running"
        )));
    }
    let upgrade = upgrade.ok_or_else(|| ApiError::bad_request("the connection cannot be upgraded"))?;
    let fates = api.fates.clone();
    let labels = pod["metadata"]["labels"].clone();
    let resolve: crate::portforward::Resolve = Box::new(move |port| fates.address(&labels, port));
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            crate::portforward::serve(hyper_util::rt::TokioIo::new(upgraded), resolve).await;
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", "portforward.k8s.io")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}
