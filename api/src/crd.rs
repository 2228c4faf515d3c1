//! The CustomResourceDefinitions of the three kinds, generated from the Rust types.
//!
//! Registration matches upstream (group `argoproj.io`, version `v1alpha1`, plural `eventbus`,
//! short names `eb`/`es`/`sn`, status subresource) and `spec`/`status` keep
//! `x-kubernetes-preserve-unknown-fields: true`, so the API server keeps everything a user
//! wrote, whatever its case. Unlike upstream the schema also carries every field's doc comment
//! (so `kubectl explain sensor.spec.triggers.template.http` works) and a few printer columns.
//! Objects and arrays are typed; scalars and maps are not, so a mistyped scalar such as
//! `port: 12000` still reaches the API server and is reported, with its path, by the admission
//! webhook and `lint` instead.

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::{
    EventBusSpec, EventBusStatus, EventSourceSpec, EventSourceStatus, SensorSpec, SensorStatus,
};

/// Names of one kind's CRD.
struct Names {
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short: &'static str,
    description: &'static str,
}

/// Every CRD, in the order EventBus, EventSource, Sensor, as JSON objects.
pub fn all_crds() -> Vec<Value> {
    vec![
        crd(
            Names {
                kind: "EventBus",
                plural: "eventbus",
                singular: "eventbus",
                short: "eb",
                description: "EventBus is the transport between EventSources and Sensors: a managed NATS JetStream (or legacy NATS Streaming) cluster, or an existing JetStream, NATS or Kafka.",
            },
            spec_schema::<EventBusSpec>(),
            spec_schema::<EventBusStatus>(),
            vec![deployed_column(), deployed_reason_column(), age_column()],
        ),
        crd(
            Names {
                kind: "EventSource",
                plural: "eventsources",
                singular: "eventsource",
                short: "es",
                description: "EventSource turns external events (webhooks, schedules, queues, cloud notifications) into CloudEvents published on an EventBus.",
            },
            spec_schema::<EventSourceSpec>(),
            spec_schema::<EventSourceStatus>(),
            vec![
                eventbus_column(),
                deployed_column(),
                deployed_reason_column(),
                age_column(),
            ],
        ),
        crd(
            Names {
                kind: "Sensor",
                plural: "sensors",
                singular: "sensor",
                short: "sn",
                description: "Sensor listens to events on an EventBus, filters them, and fires triggers (Kubernetes objects, Argo Workflows, HTTP calls and more) when its conditions hold.",
            },
            spec_schema::<SensorSpec>(),
            spec_schema::<SensorStatus>(),
            vec![
                eventbus_column(),
                deployed_column(),
                deployed_reason_column(),
                age_column(),
            ],
        ),
    ]
}

/// Every CRD as one multi-document YAML text, as committed under `manifests/crds/`.
pub fn all_crds_yaml() -> Vec<(String, String)> {
    all_crds()
        .into_iter()
        .map(|crd| {
            let plural = crd["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let yaml = serde_yaml_ng::to_string(&crd)
                .unwrap_or_else(|e| unreachable!("invariant: JSON always encodes as YAML: {e}"));
            (format!("argoproj.io_{plural}.yaml"), yaml)
        })
        .collect()
}

fn crd(names: Names, spec: Value, status: Value, columns: Vec<Value>) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.argoproj.io", names.plural),
            "labels": {"app.kubernetes.io/part-of": "argo-events"},
        },
        "spec": {
            "group": crate::GROUP,
            "names": {
                "kind": names.kind,
                "listKind": format!("{}List", names.kind),
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": [names.short],
            },
            "scope": "Namespaced",
            "versions": [{
                "name": crate::VERSION,
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "description": names.description,
                    "type": "object",
                    "required": ["metadata", "spec"],
                    "properties": {
                        "apiVersion": {"type": "string", "description": "Versioned schema of this object: argoproj.io/v1alpha1."},
                        "kind": {"type": "string", "description": format!("Always {}.", names.kind)},
                        "metadata": {"type": "object"},
                        "spec": spec,
                        "status": status,
                    },
                }},
            }],
        },
    })
}

fn eventbus_column() -> Value {
    json!({"name": "EventBus", "type": "string", "jsonPath": ".spec.eventBusName",
           "description": "EventBus the object uses (empty means `default`)."})
}

fn deployed_column() -> Value {
    json!({"name": "Deployed", "type": "string",
           "jsonPath": ".status.conditions[?(@.type==\"Deployed\")].status",
           "description": "Whether the controller has deployed the object's workloads."})
}

fn deployed_reason_column() -> Value {
    json!({"name": "Reason", "type": "string", "priority": 1,
           "jsonPath": ".status.conditions[?(@.type==\"Deployed\")].reason",
           "description": "Why the Deployed condition is what it is."})
}

fn age_column() -> Value {
    json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
}

/// The schema of `spec` or `status`: an object that keeps unknown fields, with the documented
/// fields of `T` below it.
fn spec_schema<T: JsonSchema>() -> Value {
    let root = schemars::schema_for!(T).to_value();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = convert(&root, &defs, &mut Vec::new());
    if let Some(obj) = out.as_object_mut() {
        obj.insert("type".into(), json!("object"));
    }
    out
}

/// Converts a schemars node to a CRD node: objects and arrays keep their shape and type, every
/// node keeps its description, and every node preserves unknown fields. A type that contains
/// itself (a Trigger's `dlqTrigger`) is described once; the inner occurrence is kept undescribed.
fn convert<'a>(node: &'a Value, defs: &'a Map<String, Value>, stack: &mut Vec<&'a str>) -> Value {
    let description = node.get("description").and_then(Value::as_str);
    let (core, core_description, def_name) = resolve(node, defs);
    let recursive = def_name.is_some_and(|n| stack.contains(&n));
    let core = if recursive { None } else { core };
    let mut out = Map::new();
    if let Some(d) = description.or(core_description) {
        out.insert("description".into(), json!(d));
    }
    out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    let Some(core) = core else {
        // Kubernetes types and free-form values: kept as written, not described further.
        return Value::Object(out);
    };
    stack.extend(def_name);
    if let Some(props) = core.get("properties").and_then(Value::as_object) {
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.clone(), convert(v, defs, stack)))
            .collect();
        out.insert("type".into(), json!("object"));
        out.insert("properties".into(), Value::Object(props));
    } else if let Some(items) = core.get("items") {
        out.remove("x-kubernetes-preserve-unknown-fields");
        out.insert("type".into(), json!("array"));
        let mut item = convert(items, defs, stack);
        if let Some(obj) = item.as_object_mut() {
            obj.remove("description");
        }
        out.insert("items".into(), item);
    } else if let Some(values) = core.get("additionalProperties").filter(|a| a.is_object()) {
        // A map of event name → source config: describe the values when they are objects.
        let mut value = convert(values, defs, stack);
        if value.get("properties").is_some() {
            if let Some(obj) = value.as_object_mut() {
                obj.remove("description");
            }
            out.remove("x-kubernetes-preserve-unknown-fields");
            out.insert("type".into(), json!("object"));
            out.insert("additionalProperties".into(), value);
        }
    }
    if def_name.is_some() {
        stack.pop();
    }
    Value::Object(out)
}

/// Follows `$ref`s and `Option` wrappers to the schema that describes the value. `None` for
/// Kubernetes API types, which are left undescribed to keep the CRDs small.
fn resolve<'a>(
    node: &'a Value,
    defs: &'a Map<String, Value>,
) -> (Option<&'a Value>, Option<&'a str>, Option<&'a str>) {
    let mut current = node;
    let mut description = None;
    let mut def_name = None;
    for _ in 0..8 {
        if let Some(r) = current.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or_default();
            if name.starts_with("io.k8s.") {
                return (None, description, None);
            }
            match defs.get_key_value(name) {
                Some((key, def)) => {
                    description = description.or(def.get("description").and_then(Value::as_str));
                    def_name = Some(key.as_str());
                    current = def;
                    continue;
                }
                None => return (None, description, None),
            }
        }
        let alternatives = current
            .get("anyOf")
            .or_else(|| current.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(alts) = alternatives {
            let non_null: Vec<&Value> = alts
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [only] = non_null.as_slice() {
                current = only;
                continue;
            }
            return (None, description, None);
        }
        break;
    }
    (Some(current), description, def_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor_crd() -> Value {
        all_crds().remove(2)
    }

    #[test]
    fn registration_matches_upstream() {
        let crds = all_crds();
        let names: Vec<&str> = crds
            .iter()
            .map(|c| c["metadata"]["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "eventbus.argoproj.io",
                "eventsources.argoproj.io",
                "sensors.argoproj.io"
            ]
        );
        for (crd, short) in crds.iter().zip(["eb", "es", "sn"]) {
            let spec = &crd["spec"];
            assert_eq!(spec["group"], "argoproj.io");
            assert_eq!(spec["scope"], "Namespaced");
            assert_eq!(spec["names"]["shortNames"], json!([short]));
            let version = &spec["versions"][0];
            assert_eq!(version["name"], "v1alpha1");
            assert_eq!(version["subresources"], json!({"status": {}}));
            let props = &version["schema"]["openAPIV3Schema"]["properties"];
            for part in ["spec", "status"] {
                assert_eq!(props[part]["type"], "object", "{part}");
                assert_eq!(
                    props[part]["x-kubernetes-preserve-unknown-fields"], true,
                    "{part}"
                );
            }
        }
    }

    #[test]
    fn fields_carry_their_doc_comments() {
        let crd = sensor_crd();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let deps = &spec["properties"]["dependencies"];
        assert_eq!(deps["type"], "array");
        let name = &deps["items"]["properties"]["eventSourceName"];
        assert!(name["description"].as_str().is_some_and(|d| !d.is_empty()));
        // Scalars stay untyped so that upstream-accepted manifests are never refused.
        assert!(name.get("type").is_none());
        assert_eq!(name["x-kubernetes-preserve-unknown-fields"], true);
    }

    #[test]
    fn event_source_maps_describe_their_values() {
        let crd = all_crds().remove(1);
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let webhook = &spec["properties"]["webhook"];
        assert_eq!(webhook["type"], "object");
        let port = &webhook["additionalProperties"]["properties"]["port"];
        assert!(port["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(
            port.get("type").is_none(),
            "port must accept what upstream's API server accepts"
        );
    }

    #[test]
    fn every_described_node_is_structural() {
        fn check(node: &Value, path: &str) {
            let obj = node
                .as_object()
                .unwrap_or_else(|| panic!("{path} is not an object"));
            let typed = obj.contains_key("type");
            let preserved = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
            assert!(
                typed || preserved,
                "{path} has neither a type nor preserve-unknown-fields"
            );
            assert!(
                !obj.contains_key("$ref") && !obj.contains_key("anyOf"),
                "{path}"
            );
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                assert_eq!(obj.get("type"), Some(&json!("object")), "{path}");
                for (k, v) in props {
                    check(v, &format!("{path}.{k}"));
                }
            }
            if let Some(items) = obj.get("items") {
                check(items, &format!("{path}[]"));
            }
            if let Some(values) = obj.get("additionalProperties") {
                assert!(!obj.contains_key("properties"), "{path}");
                check(values, &format!("{path}.*"));
            }
        }
        for crd in all_crds() {
            let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            for part in ["spec", "status"] {
                check(&schema["properties"][part], part);
            }
        }
    }
}
