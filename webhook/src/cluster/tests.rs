use std::sync::Arc;
use std::time::Duration;

use argo_events_webhook::admission::Review;
use serde_json::{Value, json};

use super::*;
use crate::fake_api::{self, Seen};

const NS: &str = "argo-events";

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": "10"}, "items": items})
}

/// The cluster: one EventBus, an EventSource `github`, one whose body does not decode, and a
/// Sensor. Lists answer; watches stay open and idle.
fn cluster() -> fake_api::Handler {
    Arc::new(|req: &Seen| {
        if req.uri.contains("watch=true") {
            return None;
        }
        let path = req.uri.split('?').next().unwrap_or_default();
        let body = match path {
            "/apis/argoproj.io/v1alpha1/eventbus" => list(
                "EventBus",
                vec![json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "EventBus",
                "metadata": {"name": "default", "namespace": NS, "resourceVersion": "3"},
                "spec": {"jetstream": {"version": "latest"}}})],
            ),
            "/apis/argoproj.io/v1alpha1/eventsources" => list(
                "EventSource",
                vec![
                    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
                    "metadata": {"name": "github", "namespace": NS, "resourceVersion": "4"},
                    "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}}),
                    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource",
                    "metadata": {"name": "gitlab", "namespace": NS, "resourceVersion": "5"},
                    "spec": {"webhook": {"push": {"port": 12000}}}}),
                ],
            ),
            "/apis/argoproj.io/v1alpha1/sensors" => list(
                "Sensor",
                vec![json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
                "metadata": {"name": "other", "namespace": "team-a", "resourceVersion": "6"},
                "spec": {"dependencies": [{"name": "d", "eventSourceName": "x", "eventName": "y"}],
                    "triggers": [{"template": {"name": "t", "log": {}}}]}})],
            ),
            _ => return Some((404, fake_api::status(404, "NotFound", "unexpected path"))),
        };
        Some((200, body))
    })
}

fn sensor_review(event_source: &str) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "kind": {"group": "argoproj.io", "version": "v1alpha1", "kind": "Sensor"},
        "operation": "CREATE", "namespace": NS, "object": {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor",
            "metadata": {"name": "build", "namespace": NS, "generation": 1},
            "spec": {
                "dependencies": [{"name": "push", "eventSourceName": event_source, "eventName": "push"}],
                "triggers": [{"template": {"name": "t", "log": {}}}]}}}})
}

#[tokio::test]
async fn the_reflectors_fill_the_facts_the_rules_read() {
    let (client, seen) = fake_api::client(cluster());
    let changed = Arc::new(Notify::new());
    let (stores, run) = reflectors(client, changed.clone());
    let driver = tokio::spawn(run);
    let cell = Arc::new(FactsCell::default());
    let keeper = tokio::spawn(keep_facts(stores.clone(), cell.clone(), changed));
    tokio::time::timeout(Duration::from_secs(10), stores.wait_until_ready())
        .await
        .unwrap()
        .unwrap();

    // The facts follow the caches (debounced): the EventSource that does not decode is none.
    let facts = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let facts = cell.get();
            if facts.snapshot().sensors.len() == 1 && facts.snapshot().event_sources.len() == 1 {
                return facts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let snap = facts.snapshot();
    assert_eq!(snap.event_buses.len(), 1);
    assert_eq!(snap.event_sources[0].name, "github");
    assert_eq!(snap.sensors[0].namespace, "team-a");
    assert_eq!(stores.snapshot().event_sources.len(), 1);

    // The list requests went to the CRDs' plurals, for all namespaces.
    let paths: Vec<String> = seen.lock().unwrap().iter().map(|s| s.uri.clone()).collect();
    for plural in ["eventbus", "eventsources", "sensors"] {
        let prefix = format!("/apis/argoproj.io/v1alpha1/{plural}?");
        assert!(
            paths.iter().any(|p| p.starts_with(&prefix)),
            "{plural}: {paths:?}"
        );
    }

    // A typo'd EventSource is denied naming what exists; an absent one is a warning.
    let answer = |source: &str| {
        Review::parse(sensor_review(source), false)
            .unwrap()
            .answer(&facts, &[], None)
    };
    let denied = answer("githb");
    assert_eq!(denied["response"]["allowed"], false, "{denied}");
    assert_eq!(
        denied["response"]["status"]["message"],
        "invalid Sensor: spec.dependencies[0].eventSourceName: no EventSource \"githb\"; EventSources in argo-events: github"
    );
    let warned = answer("payments-webhook");
    assert_eq!(warned["response"]["allowed"], true, "{warned}");
    assert_eq!(
        warned["response"]["warnings"],
        json!([
            "spec.dependencies[0].eventSourceName: EventSource \"payments-webhook\" is not among the given manifests; GitOps may apply it later"
        ])
    );
    // The EventSource that does not decode is no fact: no "gitlab" near-miss match either.
    let allowed = answer("github");
    assert_eq!(allowed["response"]["allowed"], true, "{allowed}");
    assert!(allowed["response"].get("warnings").is_none(), "{allowed}");

    driver.abort();
    keeper.abort();
}

#[test]
fn undecodable_objects_are_no_facts() {
    let good: Watched<EventSource> = serde_json::from_value(json!({
        "metadata": {"name": "a", "namespace": "n"}, "spec": {}}))
    .unwrap();
    let bad: Watched<EventSource> = serde_json::from_value(json!({
        "metadata": {"name": "b"}, "spec": {"webhook": {"x": {"port": 1}}}}))
    .unwrap();
    let no_ns: Watched<Sensor> = serde_json::from_value(json!({
        "metadata": {"name": "s"}, "spec": {}}))
    .unwrap();
    let earlier: Watched<EventSource> = serde_json::from_value(json!({
        "metadata": {"name": "0", "namespace": "n"}, "spec": {}}))
    .unwrap();
    let snap = snapshot_of([], [&good, &bad, &earlier], [&no_ns]);
    assert_eq!(snap.event_sources.len(), 2);
    // Ordered by namespace and name, whatever the cache's order.
    assert_eq!(snap.event_sources[0].name, "0");
    let snap = snapshot_of([], [&good, &bad], [&no_ns]);
    assert_eq!(snap.event_sources.len(), 1);
    assert_eq!(snap.event_sources[0].namespace, "n");
    assert_eq!(snap.sensors[0].namespace, DEFAULT_NAMESPACE);
    assert_ne!(snap.event_sources[0].doc, snap.sensors[0].doc);
}
