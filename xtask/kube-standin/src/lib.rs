//! A stand-in Kubernetes API server, for tests that run the real `kubectl` and the real Helm.
//!
//! Where a cluster cannot run, the tests stand in for the server and keep the clients real:
//! kubectl and Helm bring their own flag parsing, discovery, apply and patch computation, hook
//! handling, waiting and error printing, and meet here an API server that answers as a real
//! one does (each behaviour cites where the real server keeps it). What it does not do:
//! scheduling beyond one node, networking (NetworkPolicies are stored, not enforced),
//! image pulls (a test chooses each container's fate: [`Fate`]) and authentication. Port-forwards
//! and `kubectl exec` reach processes of the test's ([`Fates::serving`], [`Fates::executing`]),
//! standing in for the containers'.
//!
//! `cargo xtask standin` serves two by hand. In a test:
//!
//! ```no_run
//! let cluster = kube_standin::StandIn::start("dev", kube_standin::Fates::all_healthy()).unwrap();
//! let config = kube_standin::kubeconfig(&[("dev", &cluster)], "dev");
//! std::fs::write("/tmp/kubeconfig", config).unwrap();
//! // KUBECONFIG=/tmp/kubeconfig kubectl get nodes
//! ```

mod admission;
mod api;
mod apiserver;
mod controllers;
mod exec;
mod kubelet;
mod metrics;
mod patch;
mod portforward;
mod protobuf;
mod resources;
mod selectors;
mod status;
mod store;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

pub use exec::ExecView;
pub use kubelet::{ContainerView, Fate, Fates};

use crate::apiserver::ApiServer;
use crate::store::{Key, Store};

/// How often the controllers and the kubelet look at the cluster.
const TICK: Duration = Duration::from_millis(50);

/// One stand-in cluster, serving on a port of 127.0.0.1 until dropped.
pub struct StandIn {
    pub url: String,
    pub name: String,
    api: ApiServer,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    fn log_request(&self, method: &axum::http::Method, uri: &axum::http::Uri) {
        if let Ok(mut log) = self.requests.lock() {
            log.push(format!("{method} {uri}"));
        }
    }
}

impl StandIn {
    /// Starts a cluster named `name` (its node is `<name>-node`, amd64) whose containers meet
    /// the fates `fates` chooses.
    pub fn start(name: &str, fates: Fates) -> anyhow::Result<StandIn> {
        StandIn::start_with_arch(name, "amd64", fates)
    }

    pub fn start_with_arch(name: &str, arch: &str, fates: Fates) -> anyhow::Result<StandIn> {
        let api = ApiServer {
            store: Store::new(),
            fates: Arc::new(fates),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        {
            let mut txn = api.store.lock();
            let namespaces = resources::named("", "namespaces");
            for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                api.create(&mut txn, namespaces, "", json!({"metadata": {"name": ns}}))
                    .map_err(|e| anyhow::anyhow!(e.message))?;
            }
            let mut node = controllers::node(&format!("{name}-node"), arch);
            node["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
            node["metadata"]["creationTimestamp"] = json!(apiserver::now());
            txn.put(
                Key::new(resources::named("", "nodes"), "", &format!("{name}-node")),
                node,
            );
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding the stand-in API server")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = api.clone();
        let node_name = format!("{name}-node");
        let thread = std::thread::Builder::new()
            .name(format!("standin-{name}"))
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let looping = served.clone();
                    let controllers = tokio::spawn(async move {
                        loop {
                            {
                                let mut txn = looping.store.lock();
                                controllers::sync_all(&looping, &mut txn);
                                kubelet::sync(&looping, &mut txn, &node_name);
                            }
                            tokio::time::sleep(TICK).await;
                        }
                    });
                    let app = axum::Router::new().fallback(api::handle).with_state(served);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    controllers.abort();
                });
                runtime.shutdown_timeout(Duration::from_millis(200));
            })
            .context("starting the stand-in's thread")?;
        Ok(StandIn {
            url,
            name: name.to_string(),
            api,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// One object, as the server holds it (`group` "" for the core API).
    pub fn get(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let kind = resources::named(group, plural);
        self.api.store.lock().get(&Key::new(kind, namespace, name)).cloned()
    }

    /// Every object of a resource in a namespace (all namespaces: None).
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        let kind = resources::named(group, plural);
        self.api.store.lock().list(kind, namespace)
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.api.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A kubeconfig with one context per cluster (named as the cluster), `current` the current
/// one. Plain HTTP and no credentials: the stand-in checks none.
pub fn kubeconfig(clusters: &[(&str, &StandIn)], current: &str) -> String {
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (name, cluster) in clusters {
        text.push_str(&format!("- name: {name}\n  cluster:\n    server: {}\n", cluster.url));
    }
    text.push_str("users:\n- name: standin-user\n  user: {}\ncontexts:\n");
    for (name, _) in clusters {
        text.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: standin-user\n"
        ));
    }
    text.push_str(&format!("current-context: {current}\npreferences: {{}}\n"));
    text
}
