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

/// Cache facts: the EventBus `default` and the EventSource `github` in argo-events.
fn cached_facts() -> Facts {
    let bus: Watched<EventBus> = serde_json::from_value(json!({
        "metadata": {"name": "default", "namespace": NS},
        "spec": {"jetstream": {"version": "latest"}}}))
    .unwrap();
    let source: Watched<EventSource> = serde_json::from_value(json!({
        "metadata": {"name": "github", "namespace": NS},
        "spec": {"webhook": {"push": {"port": "12000", "endpoint": "/push", "method": "POST"}}}}))
    .unwrap();
    Facts::new(snapshot_of([&bus], [&source], []))
}

/// The lagging cache lacks the near-miss EventSource `github2` and the EventBus `fast`: one
/// live GET each decides. Found: no finding; absent: the error; failed: a warning.
#[tokio::test]
async fn absences_from_the_cache_are_confirmed_with_a_live_read() {
    let facts = cached_facts();
    let mut review = sensor_review("github2");
    review["request"]["object"]["spec"]["eventBusName"] = json!("fast");
    // (name, answer to both GETs, allowed, warnings)
    type Answer = Arc<dyn Fn(&str) -> Option<(u16, Value)> + Send + Sync>;
    let exists = |kind: &str| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": kind,
            "metadata": {"name": "x", "namespace": NS}, "spec": {}})
    };
    let cases: Vec<(&str, Answer, bool, usize)> = vec![
        (
            "both exist",
            Arc::new(move |kind: &str| Some((200, exists(kind)))),
            true,
            0,
        ),
        (
            "both absent",
            Arc::new(|_: &str| Some((404, fake_api::status(404, "NotFound", "not found")))),
            false,
            0,
        ),
        (
            "API error",
            Arc::new(|_: &str| Some((500, fake_api::status(500, "InternalError", "etcd is down")))),
            true,
            2,
        ),
        ("no answer", Arc::new(|_: &str| None), true, 2),
    ];
    for (name, answer, allowed, warnings) in cases {
        let handler: fake_api::Handler = Arc::new(move |req: &Seen| {
            let kind = if req.uri.contains("/eventsources/") {
                "EventSource"
            } else {
                "EventBus"
            };
            answer(kind)
        });
        let (client, seen) = fake_api::client(handler);
        let live = LiveReader::new(client, Duration::from_millis(200));
        let parsed = Review::parse(review.clone(), false).unwrap();
        let absent = parsed.absences(&facts);
        assert_eq!(absent.len(), 2, "{name}: {absent:?}");
        let presence = tokio::time::timeout(Duration::from_secs(10), live.confirm(&absent))
            .await
            .unwrap();
        let response = parsed.answer_confirmed(&facts, &[], None, &presence);
        let r = &response["response"];
        assert_eq!(r["allowed"], allowed, "{name}: {response}");
        let got = r["warnings"].as_array().map_or(0, Vec::len);
        assert_eq!(got, warnings, "{name}: {response}");
        if warnings > 0 {
            let w = r["warnings"][0].as_str().unwrap();
            assert!(
                w.contains("a live read to confirm it failed"),
                "{name}: {w}"
            );
        }
        if !allowed {
            let m = r["status"]["message"].as_str().unwrap();
            assert!(
                m.contains("no EventSource \"github2\"") && m.contains("no EventBus \"fast\""),
                "{name}: {m}"
            );
        }
        // One GET of each missing object, namespaced.
        let mut uris: Vec<String> = seen.lock().unwrap().iter().map(|s| s.uri.clone()).collect();
        uris.sort();
        assert_eq!(
            uris,
            [
                format!("/apis/argoproj.io/v1alpha1/namespaces/{NS}/eventbus/fast"),
                format!("/apis/argoproj.io/v1alpha1/namespaces/{NS}/eventsources/github2"),
            ],
            "{name}"
        );
    }
    // Without live reads (lint, --snapshot): the errors stand, as before.
    let parsed = Review::parse(review, false).unwrap();
    let response = parsed.answer(&facts, &[], None);
    assert_eq!(response["response"]["allowed"], false, "{response}");
}

/// Only events that change what the facts are built from trigger a rebuild: status-only
/// updates (the controller's) do not.
#[test]
fn only_spec_label_and_membership_changes_rebuild_the_facts() {
    let sensor = |generation: i64, labels: Value, status: &str| -> Watched<Sensor> {
        serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": NS, "uid": "u1", "generation": generation,
                "labels": labels, "resourceVersion": status},
            "spec": {}, "status": {"conditions": [{"type": "Deployed", "status": status}]}}))
        .unwrap()
    };
    let mut observed = Observed::default();
    let base = sensor(1, json!({"a": "1"}), "False");
    let cases: Vec<(&str, watcher::Event<Watched<Sensor>>, bool)> = vec![
        ("re-list starts", watcher::Event::Init, false),
        ("listed", watcher::Event::InitApply(base.clone()), false),
        ("list done", watcher::Event::InitDone, true),
        ("same again", watcher::Event::Apply(base.clone()), false),
        (
            "status only",
            watcher::Event::Apply(sensor(1, json!({"a": "1"}), "True")),
            false,
        ),
        (
            "spec",
            watcher::Event::Apply(sensor(2, json!({"a": "1"}), "True")),
            true,
        ),
        (
            "labels",
            watcher::Event::Apply(sensor(2, json!({"a": "2"}), "True")),
            true,
        ),
        (
            "deleted",
            watcher::Event::Delete(sensor(2, json!({"a": "2"}), "True")),
            true,
        ),
        (
            "created again",
            watcher::Event::Apply(sensor(2, json!({"a": "2"}), "True")),
            true,
        ),
    ];
    for (name, event, rebuild) in cases {
        assert_eq!(observed.changes_facts(&event), rebuild, "{name}");
    }
    // A recreated object with the same name and generation is a new uid: a change.
    let mut recreated = sensor(2, json!({"a": "2"}), "True");
    recreated.metadata.uid = Some("u2".into());
    assert!(observed.changes_facts(&watcher::Event::Apply(recreated)));
}
