use argo_events_api::diagnostics::{
    ConsumerState, DependencyDecisions, SubscriptionReport, TriggerDecisions, TriggerOutcome,
    Verdict,
};
use chrono::TimeDelta;

use super::*;
use crate::assert_snapshot;
use crate::online::fixtures;
use argo_events_api::diagnostics::TriggerResult;

fn at(minutes_ago: i64) -> DateTime<Utc> {
    fixtures::now() - TimeDelta::minutes(minutes_ago)
}

fn bus(messages: u64, consumer: bool) -> BusReport {
    BusReport {
        sensor: "demo/webhook".into(),
        subscriptions: vec![SubscriptionReport {
            trigger: "webhook-workflow-trigger".into(),
            dependency: "test-dep".into(),
            subject: "default.webhook.example".into(),
            messages: Some(messages),
            consumer: "webhook-webhook-workflow-trigger-test-dep".into(),
            state: consumer.then_some(ConsumerState {
                pending: 0,
                ack_pending: 0,
                redelivered: 0,
                delivered_stream_seq: messages,
                ack_floor_stream_seq: messages,
            }),
            error: None,
        }],
    }
}

fn decisions(passed: bool, outcome: TriggerResult, message: &str) -> Decisions {
    Decisions {
        sensor: "demo/webhook".into(),
        dependencies: vec![DependencyDecisions {
            name: "test-dep".into(),
            seen: 3,
            passed: if passed { 3 } else { 0 },
            recent: vec![Verdict {
                time: at(5),
                event_id: "e-1".into(),
                passed,
                reason: if passed {
                    "passed".into()
                } else {
                    "data filter body.action: \"closed\" is not one of [\"opened\"]".into()
                },
            }],
        }],
        triggers: vec![TriggerDecisions {
            name: "webhook-workflow-trigger".into(),
            recent: vec![TriggerOutcome {
                time: at(5),
                result: outcome,
                message: message.into(),
            }],
        }],
    }
}

fn access(view: &View, allowed: bool) -> Vec<(AccessCheck, AccessDecision)> {
    let sensor = view.sensors[0].watched.object.as_ref().expect("decodes");
    sensor_access_checks("demo", sensor)
        .into_iter()
        .map(|c| {
            (
                c,
                if allowed {
                    AccessDecision::Allowed
                } else {
                    AccessDecision::Denied
                },
            )
        })
        .collect()
}

fn report(
    view: &View,
    bus_report: Result<BusReport, String>,
    d: Result<Decisions, String>,
    allowed: bool,
) -> Report {
    let ev = Evidence {
        view,
        sensor: &view.sensors[0],
        trigger: None,
        since: at(60),
        bus: bus_report,
        decisions: d,
        access: access(view, allowed),
    };
    ladder(&ev)
}

fn statuses(r: &Report) -> Vec<Status> {
    r.layers.iter().map(|l| l.status).collect()
}

fn text(r: &Report) -> String {
    let mut out = Vec::new();
    print(r, false, false, &mut out).expect("printing");
    String::from_utf8(out).expect("UTF-8")
}

use Status::{Broken as B, Ok as O, Unknown as U};

#[test]
fn a_healthy_pipeline_has_no_broken_layer() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Ok(bus(3, true)),
        Ok(decisions(
            true,
            TriggerResult::Succeeded,
            "submitted Workflow webhook-x7k",
        )),
        true,
    );
    assert_eq!(statuses(&r), [O, O, O, O, O, O]);
    assert!(r.broken().is_none());
    assert_snapshot("why-healthy", &text(&r));
}

#[test]
fn layer_1_a_crashing_event_source() {
    let view = fixtures::with_crashing_source();
    let r = report(
        &view,
        Ok(bus(3, true)),
        Ok(decisions(true, TriggerResult::Succeeded, "ok")),
        true,
    );
    assert_eq!(statuses(&r), [B, U, U, U, U, U]);
    assert_snapshot("why-layer-1", &text(&r));
}

#[test]
fn layer_1_a_missing_event_source_or_event() {
    let mut view = fixtures::healthy();
    view.sources.clear();
    let r = report(
        &view,
        Ok(bus(0, true)),
        Ok(decisions(true, TriggerResult::Succeeded, "ok")),
        true,
    );
    assert_eq!(r.broken().map(|l| l.layer), Some(1));
    assert!(
        r.layers[0].evidence[0].contains("no EventSource webhook"),
        "{:?}",
        r.layers[0]
    );
}

#[test]
fn layer_2_the_bus_not_ready() {
    let mut view = fixtures::healthy();
    view.buses[0].raw["status"]["conditions"][1] = serde_json::json!({"type": "Deployed", "status": "False", "message": "waiting for the StatefulSet"});
    view.buses[0] = Object::from_raw(view.buses[0].raw.clone()).expect("bus");
    let r = report(
        &view,
        Ok(bus(3, true)),
        Ok(decisions(true, TriggerResult::Succeeded, "ok")),
        true,
    );
    assert_eq!(statuses(&r), [O, B, U, U, U, U]);
    assert!(
        r.layers[1].evidence[0].contains("Deployed: waiting for the StatefulSet"),
        "{:?}",
        r.layers[1]
    );
}

#[test]
fn layer_3_nothing_on_the_subject() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Ok(bus(0, true)),
        Ok(decisions(true, TriggerResult::Succeeded, "ok")),
        true,
    );
    assert_eq!(statuses(&r), [O, O, B, U, U, U]);
    assert_snapshot("why-layer-3", &text(&r));
}

#[test]
fn layer_3_no_consumer() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Ok(bus(2, false)),
        Ok(decisions(true, TriggerResult::Succeeded, "ok")),
        true,
    );
    assert_eq!(r.broken().map(|l| l.layer), Some(3));
    assert!(
        r.layers[2]
            .evidence
            .iter()
            .any(|e| e.contains("does not exist"))
    );
}

#[test]
fn layer_4_a_filter_that_fails() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Ok(bus(3, true)),
        Ok(decisions(
            false,
            TriggerResult::NotFired,
            "dependency test-dep not satisfied",
        )),
        true,
    );
    assert_eq!(statuses(&r), [O, O, O, B, U, U]);
    assert_snapshot("why-layer-4", &text(&r));
}

#[test]
fn layer_5_a_trigger_that_errors() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Ok(bus(3, true)),
        Ok(decisions(
            true,
            TriggerResult::Failed,
            "POST http://ci/hook: 500 Internal Server Error",
        )),
        true,
    );
    assert_eq!(statuses(&r), [O, O, O, O, B, U]);
    assert_snapshot("why-layer-5", &text(&r));
}

#[test]
fn layer_6_a_service_account_without_its_binding() {
    let view = fixtures::healthy();
    let failure = "workflows.argoproj.io is forbidden: User \"system:serviceaccount:demo:operate-workflow-sa\" cannot create resource \"workflows\"";
    let r = report(
        &view,
        Ok(bus(3, true)),
        Ok(decisions(true, TriggerResult::Failed, failure)),
        false,
    );
    assert_eq!(
        statuses(&r),
        [O, O, O, O, U, B],
        "the refused trigger is RBAC's, not the trigger's"
    );
    assert_snapshot("why-layer-6", &text(&r));
    let hint = r.layers[5].hint.as_deref().expect("a fix");
    assert!(hint.contains("kubectl create rolebinding operate-workflow-sa-argo-events-triggers -n demo --role=operate-workflow-sa-argo-events-triggers --serviceaccount=demo:operate-workflow-sa"), "{hint}");
}

#[test]
fn an_unreachable_sensor_pod_leaves_its_layers_unknown() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Err("no pod of the Sensor is ready".into()),
        Err("no pod of the Sensor is ready".into()),
        true,
    );
    assert_eq!(statuses(&r), [O, O, U, U, U, O]);
    assert!(r.broken().is_none());
}

#[test]
fn the_json_shape_is_exactly_the_documented_one() {
    let view = fixtures::healthy();
    let r = report(
        &view,
        Ok(bus(0, true)),
        Ok(decisions(true, TriggerResult::Succeeded, "ok")),
        true,
    );
    let doc = serde_json::to_value(&r).expect("JSON");
    let keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["sensor", "layers"]);
    assert_eq!(doc["sensor"], "demo/webhook");
    let layer = doc["layers"][2].as_object().expect("a layer");
    let keys: Vec<&str> = layer.keys().map(String::as_str).collect();
    assert_eq!(keys, ["layer", "name", "status", "evidence", "hint"]);
    assert_eq!(doc["layers"][2]["layer"], 3);
    assert_eq!(doc["layers"][2]["status"], "broken");
    assert_eq!(doc["layers"][0]["hint"], serde_json::Value::Null);
    assert_eq!(doc["layers"].as_array().map(Vec::len), Some(6));
}
