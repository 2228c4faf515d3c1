//! The review both admission benches size their cases by: a CREATE of a Sensor with `triggers`
//! log triggers, each with its own name, against the snapshot's EventBus `default` and
//! EventSource `webhook`.

use serde_json::{Value, json};

/// The AdmissionReview body, in `namespace`, with request uid `uid`.
pub fn review_body(namespace: &str, uid: &str, triggers: usize) -> Vec<u8> {
    let triggers: Vec<Value> = (0..triggers)
        .map(|i| json!({"template": {"name": format!("log-{i}"), "log": {"intervalSeconds": 0}}}))
        .collect();
    let sensor = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
    "metadata": {"name": "many-triggers", "namespace": namespace, "generation": 1},
    "spec": {
        "eventBusName": "default",
        "dependencies": [{"name": "push", "eventSourceName": "webhook", "eventName": "push"}],
        "triggers": triggers,
    }});
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Sensor"},
        "resource": {"group": "argoproj.io", "version": "v1alpha1", "resource": "sensors"},
        "name": "many-triggers", "namespace": namespace, "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": sensor, "dryRun": false}})
    .to_string()
    .into_bytes()
}
