//! The objects of one stand-in cluster, their resource versions, and the change log that lists
//! and watches read.
//!
//! As in the real API server, one counter gives every write a new `resourceVersion` (etcd's
//! revision), a list answers with the counter as the list's `resourceVersion`, and a watch from
//! version N sees every change after N in order (apiserver `storage/cacher`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::resources::Kind;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(kind: &Kind, namespace: &str, name: &str) -> Key {
        Key {
            resource: kind.group_resource(),
            namespace: if kind.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug)]
pub struct Change {
    pub version: u64,
    pub resource: String,
    pub namespace: String,
    pub change: ChangeType,
    pub object: Value,
}

pub struct Inner {
    version: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Change>,
    /// What each field manager last applied (server-side apply), by object.
    pub applied: BTreeMap<(Key, String), Value>,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    changes: broadcast::Sender<Change>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    pub fn new() -> Store {
        let (changes, _) = broadcast::channel(16_384);
        Store {
            inner: Arc::new(Mutex::new(Inner {
                version: 1,
                objects: BTreeMap::new(),
                log: Vec::new(),
                applied: BTreeMap::new(),
            })),
            changes,
        }
    }

    pub fn lock(&self) -> Txn<'_> {
        Txn {
            inner: self.inner.lock().unwrap_or_else(|e| e.into_inner()),
            changes: &self.changes,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// The store, locked: reads and writes in one critical section.
pub struct Txn<'a> {
    pub inner: MutexGuard<'a, Inner>,
    changes: &'a broadcast::Sender<Change>,
}

impl Txn<'_> {
    pub fn version(&self) -> u64 {
        self.inner.version
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.inner.objects.get(key)
    }

    /// Every object of one resource (in one namespace, or all when `namespace` is None).
    pub fn list(&self, kind: &Kind, namespace: Option<&str>) -> Vec<Value> {
        let resource = kind.group_resource();
        self.inner
            .objects
            .iter()
            .filter(|(k, _)| k.resource == resource && namespace.is_none_or(|ns| !kind.namespaced || k.namespace == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every namespaced object in `namespace`, of any kind.
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<Key> {
        self.inner
            .objects
            .keys()
            .filter(|k| k.namespace == namespace)
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<(Key, Value)> {
        self.inner.objects.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Stores `object` under `key` with the next resource version; records the change.
    pub fn put(&mut self, key: Key, mut object: Value) -> Value {
        self.inner.version += 1;
        let version = self.inner.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let change = if self.inner.objects.contains_key(&key) {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.inner.objects.insert(key.clone(), object.clone());
        self.record(version, &key, change, object.clone());
        object
    }

    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut object = self.inner.objects.remove(key)?;
        self.inner.version += 1;
        let version = self.inner.version;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        self.inner.applied.retain(|(k, _), _| k != key);
        self.record(version, key, ChangeType::Deleted, object.clone());
        Some(object)
    }

    fn record(&mut self, version: u64, key: &Key, change: ChangeType, object: Value) {
        let change = Change {
            version,
            resource: key.resource.clone(),
            namespace: key.namespace.clone(),
            change,
            object,
        };
        self.inner.log.push(change.clone());
        let _ = self.changes.send(change);
    }

    /// The changes after `version`, oldest first.
    pub fn changes_since(&self, version: u64) -> Vec<Change> {
        let start = self.inner.log.partition_point(|c| c.version <= version);
        self.inner.log[start..].to_vec()
    }
}
