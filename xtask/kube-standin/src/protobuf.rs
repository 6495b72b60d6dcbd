//! Protobuf request bodies. Helm (3 and 4) writes its release records, Secrets, through
//! client-go's typed clientset, which sends `application/vnd.kubernetes.protobuf`: a `k8s\0`
//! magic prefix, then a `runtime.Unknown` holding the type and the object's own encoding
//! (k8s.io/apimachinery `pkg/runtime/serializer/protobuf/protobuf.go`; field numbers from
//! `pkg/runtime/generated.proto`, `k8s.io/api/core/v1/generated.proto` Secret and
//! `pkg/apis/meta/v1/generated.proto` ObjectMeta). Only the kinds that arrive this way are
//! decoded; the answers are JSON, which every client also accepts.

use std::collections::BTreeMap;

use base64::Engine as _;
use prost::Message;
use serde_json::{Map, Value, json};

#[derive(Clone, PartialEq, Message)]
struct Unknown {
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
    #[prost(bytes = "vec", optional, tag = "2")]
    raw: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeMeta {
    #[prost(string, optional, tag = "1")]
    api_version: Option<String>,
    #[prost(string, optional, tag = "2")]
    kind: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ObjectMeta {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    generate_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    namespace: Option<String>,
    #[prost(string, optional, tag = "5")]
    uid: Option<String>,
    #[prost(string, optional, tag = "6")]
    resource_version: Option<String>,
    #[prost(btree_map = "string, string", tag = "11")]
    labels: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "12")]
    annotations: BTreeMap<String, String>,
    #[prost(string, repeated, tag = "14")]
    finalizers: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Secret {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
    #[prost(btree_map = "string, bytes", tag = "2")]
    data: BTreeMap<String, Vec<u8>>,
    #[prost(string, optional, tag = "3")]
    r#type: Option<String>,
    #[prost(btree_map = "string, string", tag = "4")]
    string_data: BTreeMap<String, String>,
    #[prost(bool, optional, tag = "5")]
    immutable: Option<bool>,
}

const MAGIC: &[u8] = b"k8s\0";

/// The JSON form of a protobuf body, for the kinds that clients send so.
pub fn to_json(body: &[u8]) -> Result<Value, String> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or("a protobuf body must start with the k8s magic prefix")?;
    let unknown = Unknown::decode(envelope).map_err(|e| format!("error decoding protobuf envelope: {e}"))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    match kind.as_str() {
        "Secret" => {
            let secret = Secret::decode(raw.as_slice()).map_err(|e| format!("error decoding Secret: {e}"))?;
            let mut object = json!({
                "apiVersion": type_meta.api_version.unwrap_or_else(|| "v1".into()),
                "kind": "Secret",
                "metadata": metadata(secret.metadata.unwrap_or_default()),
            });
            if !secret.data.is_empty() {
                let data: Map<String, Value> = secret
                    .data
                    .into_iter()
                    .map(|(k, v)| (k, json!(base64::engine::general_purpose::STANDARD.encode(v))))
                    .collect();
                object["data"] = Value::Object(data);
            }
            if !secret.string_data.is_empty() {
                object["stringData"] = json!(secret.string_data);
            }
            if let Some(kind) = secret.r#type {
                object["type"] = json!(kind);
            }
            if let Some(immutable) = secret.immutable {
                object["immutable"] = json!(immutable);
            }
            Ok(object)
        }
        other => Err(format!(
            "the stand-in reads protobuf bodies of Secrets only, not of {other}"
        )),
    }
}

fn metadata(meta: ObjectMeta) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            object.insert(key.into(), json!(v));
        }
    };
    put("name", meta.name);
    put("generateName", meta.generate_name);
    put("namespace", meta.namespace);
    put("uid", meta.uid);
    put("resourceVersion", meta.resource_version);
    if !meta.labels.is_empty() {
        object.insert("labels".into(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        object.insert("annotations".into(), json!(meta.annotations));
    }
    if !meta.finalizers.is_empty() {
        object.insert("finalizers".into(), json!(meta.finalizers));
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_sent_as_protobuf_reads_as_its_json() {
        let secret = Secret {
            metadata: Some(ObjectMeta {
                name: Some("sh.helm.release.v1.r.v1".into()),
                labels: [("owner".to_string(), "helm".to_string())].into(),
                ..Default::default()
            }),
            data: [("release".to_string(), b"H4sI".to_vec())].into(),
            r#type: Some("helm.sh/release.v1".into()),
            ..Default::default()
        };
        let envelope = Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some("v1".into()),
                kind: Some("Secret".into()),
            }),
            raw: Some(secret.encode_to_vec()),
        };
        let mut body = MAGIC.to_vec();
        body.extend(envelope.encode_to_vec());
        let json = to_json(&body).unwrap();
        assert_eq!(json["metadata"]["name"], "sh.helm.release.v1.r.v1");
        assert_eq!(json["metadata"]["labels"]["owner"], "helm");
        assert_eq!(json["data"]["release"], "SDRzSQ==");
        assert_eq!(json["type"], "helm.sh/release.v1");
    }
}
