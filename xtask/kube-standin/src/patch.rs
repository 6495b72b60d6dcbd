//! The four kinds of PATCH the clients send: JSON merge (RFC 7386), JSON patch (RFC 6902),
//! strategic merge (kubectl apply's three-way patch, Helm 3's upgrades) and server-side apply
//! (Helm 4).
//!
//! Strategic merge follows k8s.io/apimachinery `pkg/util/strategicpatch/patch.go`: maps merge key
//! by key, `null` deletes, lists with a patch merge key (the `patchMergeKey` tags of
//! k8s.io/api's types, listed in [`merge_key`]) merge element by element, other lists are
//! replaced; the directives `$patch` (replace, delete, merge), `$retainKeys`,
//! `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` are obeyed.
//!
//! Server-side apply is reduced to one manager's view (sigs.k8s.io/structured-merge-diff): the
//! applied configuration is merged over the live object, and fields that the same manager
//! applied last time and no longer applies are removed. Helm is the only manager of the
//! objects it applies here, so conflicts between managers do not arise.

use serde_json::{Map, Value};

#[derive(Debug)]
pub struct PatchError(pub String);

/// The merge key of the list `field`, inside an object that is itself the value of `parent`.
fn merge_key(parent: &str, field: &str) -> Option<&'static str> {
    Some(match (parent, field) {
        (_, "containers" | "initContainers" | "ephemeralContainers") => "name",
        (_, "env" | "volumes" | "imagePullSecrets" | "resourceClaims") => "name",
        (_, "volumeMounts") => "mountPath",
        (_, "volumeDevices") => "devicePath",
        ("containers" | "initContainers" | "ephemeralContainers", "ports") => "containerPort",
        ("spec", "ports") => "port",
        (_, "hostAliases") => "ip",
        (_, "topologySpreadConstraints") => "topologyKey",
        (_, "conditions") => "type",
        (_, "ownerReferences") => "uid",
        _ => return None,
    })
}

pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    merge_value(target, patch, "", "")
}

fn merge_value(target: &mut Value, patch: &Value, parent: &str, field: &str) -> Result<(), PatchError> {
    match patch {
        Value::Object(p) => merge_map(target, p, field),
        Value::Array(items) => merge_list(target, items, parent, field),
        other => {
            *target = other.clone();
            Ok(())
        }
    }
}

fn merge_map(target: &mut Value, patch: &Map<String, Value>, field: &str) -> Result<(), PatchError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError(format!("unknown patch type: {other}"))),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (key, value) in patch {
        if key == "$patch" || key == "$retainKeys" {
            continue;
        }
        if let Some(list) = key.strip_prefix("$setElementOrder/") {
            orders.push((list.to_string(), value.as_array().cloned().unwrap_or_default()));
            continue;
        }
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let gone = value.as_array().cloned().unwrap_or_default();
            if let Some(items) = target[list].as_array_mut() {
                items.retain(|v| !gone.contains(v));
            }
            continue;
        }
        let Some(object) = target.as_object_mut() else { continue };
        if value.is_null() {
            object.remove(key);
            continue;
        }
        let slot = object.entry(key.clone()).or_insert(Value::Null);
        merge_value(slot, value, field, key)?;
        if slot.is_null() {
            object.remove(key);
        }
    }
    if let (Some(retain), Some(object)) = (
        patch.get("$retainKeys").and_then(Value::as_array),
        target.as_object_mut(),
    ) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        object.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (list, order) in orders {
        let Some(key) = merge_key(field, &list) else { continue };
        if let Some(items) = target[&list].as_array_mut() {
            let position = |item: &Value| order.iter().position(|o| o[key] == item[key]).unwrap_or(usize::MAX);
            items.sort_by_key(position);
        }
    }
    Ok(())
}

fn merge_list(target: &mut Value, patch: &[Value], parent: &str, field: &str) -> Result<(), PatchError> {
    let Some(key) = merge_key(parent, field).filter(|_| patch.iter().all(Value::is_object)) else {
        *target = Value::Array(patch.to_vec());
        return Ok(());
    };
    if patch.iter().any(|p| p["$patch"] == "replace") {
        *target = Value::Array(patch.iter().filter(|p| p["$patch"] != "replace").cloned().collect());
        return Ok(());
    }
    if !target.is_array() {
        *target = Value::Array(Vec::new());
    }
    let Some(items) = target.as_array_mut() else {
        return Ok(());
    };
    for element in patch {
        let at = items.iter().position(|i| i[key] == element[key]);
        if element["$patch"] == "delete" {
            if let Some(at) = at {
                items.remove(at);
            }
            continue;
        }
        match at {
            Some(at) => merge_value(&mut items[at], element, parent, field)?,
            None => {
                let mut fresh = Value::Null;
                merge_value(&mut fresh, element, parent, field)?;
                items.push(fresh);
            }
        }
    }
    Ok(())
}

/// Server-side apply for one manager: `previous` is what it applied last time (None: never).
pub fn apply(live: &mut Value, previous: Option<&Value>, applied: &Value) -> Result<(), PatchError> {
    if let Some(previous) = previous {
        remove_dropped(live, previous, applied, "", "");
    }
    strategic_merge(live, applied)
}

/// Removes from `live` what `previous` held and `applied` no longer does.
fn remove_dropped(live: &mut Value, previous: &Value, applied: &Value, parent: &str, field: &str) {
    match (previous, applied) {
        (Value::Object(before), Value::Object(now)) => {
            for (key, old) in before {
                match now.get(key) {
                    None => {
                        if let Some(object) = live.as_object_mut() {
                            object.remove(key);
                        }
                    }
                    Some(new) => {
                        if let Some(slot) = live.get_mut(key) {
                            remove_dropped(slot, old, new, field, key);
                        }
                    }
                }
            }
        }
        (Value::Array(before), Value::Array(now)) => {
            let Some(key) = merge_key(parent, field) else { return };
            let Some(items) = live.as_array_mut() else { return };
            for old in before {
                match now.iter().find(|n| n[key] == old[key]) {
                    None => items.retain(|i| i[key] != old[key]),
                    Some(new) => {
                        if let Some(slot) = items.iter_mut().find(|i| i[key] == old[key]) {
                            remove_dropped(slot, old, new, parent, field);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

pub fn json_merge(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let operations: json_patch::Patch =
        serde_json::from_value(patch.clone()).map_err(|e| PatchError(format!("invalid JSON patch: {e}")))?;
    json_patch::patch(target, &operations).map_err(|e| PatchError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let mut live = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b:1"}
        ]}});
        let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [
            {"name": "a", "image": "a:2", "env": [{"name": "Y", "$patch": "delete"}]},
            {"name": "c", "image": "c:1"}
        ]}});
        strategic_merge(&mut live, &patch).unwrap();
        let containers = live["spec"]["containers"].as_array().unwrap();
        let names: Vec<&str> = containers.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(containers[1]["image"], "a:2");
        assert_eq!(containers[1]["env"], json!([{"name": "X", "value": "1"}]));
    }

    #[test]
    fn null_deletes_and_lists_without_a_key_are_replaced() {
        let mut live = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"args": ["x", "y"]}});
        strategic_merge(
            &mut live,
            &json!({"metadata": {"labels": {"a": null}}, "spec": {"args": ["z"]}}),
        )
        .unwrap();
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"args": ["z"]}})
        );
    }

    #[test]
    fn retain_keys_drops_the_rest() {
        let mut live = json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}});
        let patch = json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}});
        strategic_merge(&mut live, &patch).unwrap();
        assert_eq!(live, json!({"strategy": {"type": "Recreate"}}));
    }

    #[test]
    fn apply_removes_what_the_manager_stopped_applying() {
        let mut live = json!({"metadata": {"labels": {"a": "1", "b": "2", "set-by-other": "x"}}});
        let previous = json!({"metadata": {"labels": {"a": "1", "b": "2"}}});
        let applied = json!({"metadata": {"labels": {"a": "3"}}});
        apply(&mut live, Some(&previous), &applied).unwrap();
        assert_eq!(live, json!({"metadata": {"labels": {"a": "3", "set-by-other": "x"}}}));
    }
}
