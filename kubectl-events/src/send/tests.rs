use argo_events_api::diagnostics::{DependencyDecisions, TriggerDecisions, TriggerResult};
use chrono::TimeDelta;

use super::*;
use crate::online::fixtures;

#[test]
fn the_service_proxy_is_used_when_a_service_exposes_the_port() {
    let view = fixtures::healthy();
    let es = &view.sources[0];
    let spec = &es.watched.object.as_ref().expect("decodes").spec;
    let listener = listen::listener_of(spec, "example").expect("a webhook");
    assert_eq!(listener.to_string(), "POST :12000/example");
    assert_eq!(
        proxy_path(&view, es, &listener),
        Ok("/api/v1/namespaces/demo/services/webhook-eventsource-svc:12000/proxy/example".into())
    );
}

#[test]
fn without_a_service_a_ready_pod_is_proxied_and_without_one_it_says_so() {
    let mut view = fixtures::healthy();
    view.services.clear();
    let es = view.sources[0].clone();
    let spec = &es.watched.object.as_ref().expect("decodes").spec;
    let listener = listen::listener_of(spec, "example").expect("a webhook");
    assert_eq!(
        proxy_path(&view, &es, &listener),
        Ok("/api/v1/namespaces/demo/pods/webhook-eventsource-7d9f-x2x:12000/proxy/example".into())
    );
    let view = fixtures::with_crashing_source();
    let mut view = view;
    view.services.clear();
    assert_eq!(
        proxy_path(&view, &es, &listener),
        Err("EventSource webhook has no ready pod (and no Service exposing port 12000)".into())
    );
}

#[test]
fn only_webhook_family_events_have_a_listener() {
    let view = fixtures::healthy();
    let spec = &view.sources[0]
        .watched
        .object
        .as_ref()
        .expect("decodes")
        .spec;
    assert_eq!(listen::listener_of(spec, "tick"), None);
    assert_eq!(listen::kind_of(spec, "tick"), Some("calendar"));
    assert_eq!(listen::kind_of(spec, "nope"), None);
}

#[test]
fn the_readers_of_an_event_are_the_dependencies_naming_it() {
    let view = fixtures::with_dangling_sensor();
    let readers: Vec<(&str, String)> = listeners(&view, "demo", "webhook", "example")
        .into_iter()
        .map(|(s, d)| (s.name(), d))
        .collect();
    assert_eq!(readers, [("webhook", "test-dep".to_string())]);
    assert!(listeners(&view, "demo", "webhook", "tick").is_empty());
    let mut view = view;
    let mut raw = view.sensors[0].raw.clone();
    raw["metadata"]["name"] = "elsewhere".into();
    raw["spec"]["eventBusName"] = "other".into();
    view.sensors.push(Object::from_raw(raw).expect("sensor"));
    assert_eq!(
        listeners(&view, "demo", "webhook", "example").len(),
        1,
        "a Sensor on another bus does not listen"
    );
}

#[test]
fn an_answer_holds_only_what_came_after_the_send() {
    let sent = fixtures::now();
    let verdict = |secs: i64, passed| Verdict {
        time: sent + TimeDelta::seconds(secs),
        event_id: format!("e{secs}"),
        passed,
        reason: "r".into(),
    };
    let outcome = |secs: i64| TriggerOutcome {
        time: sent + TimeDelta::seconds(secs),
        result: TriggerResult::Succeeded,
        message: "ok".into(),
    };
    let d = Decisions {
        sensor: "demo/webhook".into(),
        dependencies: vec![DependencyDecisions {
            name: "test-dep".into(),
            seen: 2,
            passed: 2,
            recent: vec![verdict(-10, true), verdict(1, true)],
        }],
        triggers: vec![TriggerDecisions {
            name: "t".into(),
            recent: vec![outcome(-9), outcome(2)],
        }],
    };
    let a = answer_since("webhook", "test-dep", &d, sent);
    assert_eq!(a.verdicts, vec![verdict(1, true)]);
    assert_eq!(a.triggers, vec![("t".to_string(), outcome(2))]);
    assert!(
        answer_since("webhook", "other", &d, sent)
            .verdicts
            .is_empty()
    );
}
