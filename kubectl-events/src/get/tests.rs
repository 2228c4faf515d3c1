use super::*;
use crate::assert_snapshot;
use crate::online::fixtures;

fn all_tables(view: &View, wide: bool, all: bool) -> String {
    [Kind::EventBus, Kind::EventSource, Kind::Sensor]
        .into_iter()
        .map(|k| table(view, k, None, wide, all).0.render(true))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn healthy_namespace_tables() {
    let view = fixtures::healthy();
    assert_snapshot("get-healthy", &all_tables(&view, false, false));
    assert_snapshot(
        "get-healthy-wide-all-namespaces",
        &all_tables(&view, true, true),
    );
    for k in [Kind::EventBus, Kind::EventSource, Kind::Sensor] {
        assert!(!table(&view, k, None, false, false).1, "{k:?} healthy");
    }
}

#[test]
fn a_crashing_event_source_pod_is_not_ready_with_its_last_error() {
    let view = fixtures::with_crashing_source();
    assert_snapshot("get-crashing-source", &all_tables(&view, false, false));
    assert!(
        table(&view, Kind::EventSource, None, false, false).1,
        "broken"
    );
    assert!(
        !table(&view, Kind::Sensor, None, false, false).1,
        "the Sensor itself is fine"
    );
}

#[test]
fn a_name_selects_one_row_and_an_unknown_name_none() {
    let view = fixtures::with_dangling_sensor();
    let (t, _) = table(&view, Kind::Sensor, Some("orphan"), false, false);
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.rows[0][0], "orphan");
    let (t, broken) = table(&view, Kind::Sensor, Some("nope"), false, false);
    assert!(t.rows.is_empty() && !broken);
}

#[test]
fn a_false_condition_is_the_message() {
    let mut view = fixtures::healthy();
    view.buses[0].raw["status"]["conditions"][1] = serde_json::json!({"type": "Deployed", "status": "False", "reason": "Failed", "message": "StatefulSet eventbus-default-js: forbidden"});
    view.buses[0] = Object::from_raw(view.buses[0].raw.clone()).expect("bus");
    let (t, broken) = table(&view, Kind::EventBus, None, false, false);
    assert!(broken);
    assert_eq!(t.rows[0][1], "False");
    assert_eq!(
        t.rows[0].last().map(String::as_str),
        Some("Deployed: StatefulSet eventbus-default-js: forbidden")
    );
}

#[test]
fn the_last_trigger_event_is_shown_with_its_age() {
    let mut view = fixtures::healthy();
    let event: KubeEvent = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "webhook.1", "namespace": "demo"},
        "eventTime": "2026-12-06T11:58:00.000000Z",
        "reason": "TriggerSucceeded", "type": "Normal", "note": "trigger webhook-workflow-trigger: created Workflow webhook-abc",
        "reportingController": "argo-events-sensor", "reportingInstance": "webhook-sensor-5c4b-k8q", "action": "Trigger",
        "regarding": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Sensor", "name": "webhook", "namespace": "demo"},
    }))
    .expect("a valid Event");
    view.events.push(event);
    let (t, _) = table(&view, Kind::Sensor, None, false, false);
    assert_eq!(t.rows[0][6], "2m ago (ok)");
}

#[test]
fn documents_are_one_object_or_a_kubectl_list() {
    let view = fixtures::healthy();
    let one = documents(&view, Kind::Sensor, Some("webhook")).expect("found");
    assert_eq!(one["kind"], "Sensor");
    assert_eq!(one["metadata"]["name"], "webhook");
    let list = documents(&view, Kind::EventSource, None).expect("a list");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "EventSource");
    assert!(documents(&view, Kind::EventBus, Some("nope")).is_none());
}
