//! A namespace as the API server would return it, for the tests of `get`, `tree`, `why` and
//! `send`: a ready JetStream bus, a webhook EventSource and a Sensor reading it, plus a Sensor
//! whose dependency names an EventSource that does not exist.

use chrono::{DateTime, TimeZone as _, Utc};
use serde_json::{Value, json};

use super::{Object, View};

/// The fixed "now" of the fixtures.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0)
        .single()
        .expect("a valid time")
}

fn condition(kind: &str, status: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "lastTransitionTime": "2026-12-06T10:00:00Z", "message": message})
}

fn meta(name: &str, created: &str) -> Value {
    json!({"name": name, "namespace": "demo", "uid": format!("uid-{name}"), "creationTimestamp": created})
}

/// A pod of an object, ready or not, with restarts.
pub fn pod(
    name: &str,
    label: (&str, &str),
    ready: bool,
    restarts: i32,
) -> k8s_openapi::api::core::v1::Pod {
    let mut m = meta(name, "2026-12-06T10:00:00Z");
    m["labels"] = json!({label.0: label.1});
    let state = if ready {
        json!({"running": {"startedAt": "2026-12-06T10:00:05Z"}})
    } else {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}})
    };
    let mut status = json!({"phase": "Running", "podIP": "10.0.0.7",
        "containerStatuses": [{"name": "main", "image": "argo-events-rs:latest", "imageID": "", "ready": ready, "restartCount": restarts, "state": state}]});
    if !ready {
        status["containerStatuses"][0]["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "message": "connecting to the bus: connection refused"}});
    }
    serde_json::from_value(json!({"metadata": m, "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "argo-events-rs:latest"}]}, "status": status}))
        .expect("a valid Pod")
}

fn deployment(
    name: &str,
    label: (&str, &str),
    ready: i32,
) -> k8s_openapi::api::apps::v1::Deployment {
    let mut m = meta(name, "2026-12-06T10:00:00Z");
    m["labels"] = json!({label.0: label.1, "controller": "x"});
    serde_json::from_value(json!({"metadata": m, "spec": {"replicas": 1, "selector": {"matchLabels": {label.0: label.1}}, "template": {}}, "status": {"readyReplicas": ready, "replicas": 1}}))
        .expect("a valid Deployment")
}

/// The healthy namespace.
pub fn healthy() -> View {
    let bus = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus", "metadata": meta("default", "2026-12-05T12:00:00Z"),
        "spec": {"jetstream": {"version": "2.10.10", "replicas": 3}},
        "status": {"conditions": [condition("Configured", "True", ""), condition("Deployed", "True", "")]}});
    let es = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource", "metadata": meta("webhook", "2026-12-06T11:00:00Z"),
        "spec": {"service": {"ports": [{"port": 12000, "targetPort": 12000}]},
                 "webhook": {"example": {"port": "12000", "endpoint": "/example", "method": "POST"}},
                 "calendar": {"tick": {"interval": "10s"}}},
        "status": {"conditions": [condition("Deployed", "True", ""), condition("SourcesProvided", "True", "")]}});
    let sensor = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "metadata": meta("webhook", "2026-12-06T11:30:00Z"),
        "spec": {"template": {"serviceAccountName": "operate-workflow-sa"},
                 "dependencies": [{"name": "test-dep", "eventSourceName": "webhook", "eventName": "example"}],
                 "triggers": [{"template": {"name": "webhook-workflow-trigger", "argoWorkflow": {"operation": "submit",
                     "source": {"resource": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "webhook-"}}}}}}]},
        "status": {"conditions": [condition("Deployed", "True", ""), condition("DependenciesProvided", "True", ""), condition("TriggersProvided", "True", "")]}});
    let sts: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "eventbus-default-js", "namespace": "demo", "labels": {"eventbus-name": "default", "controller": "eventbus-controller"}},
        "spec": {"replicas": 3, "selector": {}, "serviceName": "eventbus-default-js-svc", "template": {}},
        "status": {"replicas": 3, "readyReplicas": 3}})).expect("a valid StatefulSet");
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(json!({
        "metadata": {"name": "webhook-eventsource-svc", "namespace": "demo", "labels": {"eventsource-name": "webhook", "controller": "eventsource-controller"}},
        "spec": {"ports": [{"port": 12000, "targetPort": 12000}]}})).expect("a valid Service");
    View {
        now: now(),
        buses: vec![Object::from_raw(bus).expect("bus")],
        sources: vec![Object::from_raw(es).expect("es")],
        sensors: vec![Object::from_raw(sensor).expect("sensor")],
        statefulsets: vec![sts],
        deployments: vec![
            deployment(
                "webhook-eventsource-7d9f",
                ("eventsource-name", "webhook"),
                1,
            ),
            deployment("webhook-sensor-5c4b", ("sensor-name", "webhook"), 1),
        ],
        pods: vec![
            pod(
                "eventbus-default-js-0",
                ("eventbus-name", "default"),
                true,
                0,
            ),
            pod(
                "eventbus-default-js-1",
                ("eventbus-name", "default"),
                true,
                0,
            ),
            pod(
                "eventbus-default-js-2",
                ("eventbus-name", "default"),
                true,
                0,
            ),
            pod(
                "webhook-eventsource-7d9f-x2x",
                ("eventsource-name", "webhook"),
                true,
                0,
            ),
            pod(
                "webhook-sensor-5c4b-k8q",
                ("sensor-name", "webhook"),
                true,
                1,
            ),
        ],
        services: vec![svc],
        events: Vec::new(),
    }
}

/// The healthy namespace plus a Sensor depending on an EventSource that does not exist.
pub fn with_dangling_sensor() -> View {
    let mut view = healthy();
    let sensor = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "metadata": meta("orphan", "2026-12-06T11:59:00Z"),
        "spec": {"dependencies": [{"name": "push", "eventSourceName": "github", "eventName": "push"}],
                 "triggers": [{"template": {"name": "log-it", "log": {}}}]},
        "status": {"conditions": [condition("Deployed", "True", ""), condition("DependenciesProvided", "True", ""), condition("TriggersProvided", "True", "")]}});
    view.sensors.push(Object::from_raw(sensor).expect("sensor"));
    view.deployments.push(deployment(
        "orphan-sensor-1a2b",
        ("sensor-name", "orphan"),
        1,
    ));
    view.pods.push(pod(
        "orphan-sensor-1a2b-zz9",
        ("sensor-name", "orphan"),
        true,
        0,
    ));
    view
}

/// The healthy namespace with the EventSource's pod crash-looping.
pub fn with_crashing_source() -> View {
    let mut view = healthy();
    view.deployments[0] = deployment(
        "webhook-eventsource-7d9f",
        ("eventsource-name", "webhook"),
        0,
    );
    view.pods[3] = pod(
        "webhook-eventsource-7d9f-x2x",
        ("eventsource-name", "webhook"),
        false,
        4,
    );
    view
}
