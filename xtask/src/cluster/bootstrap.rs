//! What is applied before the release (`k8s/`): the Namespace, with restricted Pod Security, and
//! what lives in it before any workload (`k8s/in-namespace/`: a ResourceQuota and a LimitRange).
//!
//! Two applies, in this order, because one `kubectl apply -f k8s/` cannot work on a fresh
//! cluster: kubectl visits a folder's files in name order (cli-runtime's `FileVisitor` over
//! `filepath.Walk`), goes on past an object that fails and exits 1 at the end, and a namespaced
//! object whose namespace does not exist yet is refused (`Error from server (NotFound): …
//! namespaces "chatbot-dev" not found`). The namespaced manifests name no namespace, so they go
//! into the one they are applied to: kubectl refuses an object whose `metadata.namespace`
//! differs from `--namespace` ("the namespace from the provided object … does not match").

use std::fs;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::exec::Command;
use crate::project::{root, target_dir};
use crate::tools::kubectl::Kubectl;

/// The Namespace manifest, named `chatbot-dev`; applied renamed to the target namespace.
pub fn namespace_manifest() -> PathBuf {
    root().join("k8s/namespace.yaml")
}

/// The folder of the manifests that go into the namespace.
pub fn in_namespace_dir() -> PathBuf {
    root().join("k8s/in-namespace")
}

/// Every bootstrap manifest, for the checks that validate them.
pub fn manifests() -> anyhow::Result<Vec<PathBuf>> {
    let mut found = vec![namespace_manifest()];
    let dir = in_namespace_dir();
    let mut inside: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    inside.sort();
    found.extend(inside);
    Ok(found)
}

/// The Namespace object for `namespace`: `k8s/namespace.yaml` with its name replaced, labels
/// (Pod Security) kept.
pub fn namespace_object(namespace: &str) -> anyhow::Result<Value> {
    let path = namespace_manifest();
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut object: Value = serde_saphyr::from_str(&text).with_context(|| format!("{} is not YAML", path.display()))?;
    anyhow::ensure!(
        object["kind"] == "Namespace",
        "{} holds a {}, not a Namespace",
        path.display(),
        object["kind"]
    );
    object["metadata"]["name"] = json!(namespace);
    Ok(object)
}

/// The two commands, in order: the Namespace (written as JSON under `target/deploy/`, which
/// kubectl reads like YAML), then the folder of what goes into it.
pub fn commands(kubectl: &Kubectl) -> anyhow::Result<Vec<Command>> {
    let object = namespace_object(&kubectl.namespace)?;
    let dir = target_dir().join("deploy");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(format!("namespace-{}.json", kubectl.namespace));
    fs::write(&file, serde_json::to_string_pretty(&object)?)
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(vec![
        kubectl.command(["apply", "--filename", &file.to_string_lossy()]),
        kubectl.command(["apply", "--filename", &in_namespace_dir().to_string_lossy()]),
    ])
}

/// Applies both, in order.
pub fn apply(kubectl: &Kubectl) -> anyhow::Result<()> {
    for command in commands(kubectl)? {
        command.run()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_is_renamed_and_keeps_its_pod_security() {
        let object = namespace_object("staging").unwrap();
        assert_eq!(object["metadata"]["name"], "staging");
        assert_eq!(
            object["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
    }

    #[test]
    fn nothing_that_goes_into_the_namespace_names_one() {
        for path in manifests().unwrap().iter().skip(1) {
            let text = fs::read_to_string(path).unwrap();
            let object: Value = serde_saphyr::from_str(&text).unwrap();
            assert!(
                object["metadata"]["namespace"].is_null(),
                "{} names a namespace: it would be refused in any other",
                path.display()
            );
        }
    }
}
