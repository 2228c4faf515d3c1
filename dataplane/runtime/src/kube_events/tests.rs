use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        source: "webhook".into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: "push".into(),
        time: None,
        trace: Default::default(),
        data: b"{}".to_vec(),
    }
}

fn regarding() -> ObjectReference {
    ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some("Sensor".into()),
        name: Some("s".into()),
        namespace: Some("ns".into()),
        uid: Some("uid-s".into()),
        ..Default::default()
    }
}

fn started() -> (KubeEvents, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let reporter = Reporter {
        controller: REPORTING_CONTROLLER.into(),
        instance: Some("s-sensor-abcde".into()),
    };
    (KubeEvents::start(client, reporter, regarding()), handle)
}

async fn next(
    handle: &mut Handle,
) -> (
    Method,
    String,
    Value,
    tower_test::mock::SendResponse<Response<Body>>,
) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .expect("timed out waiting for a request")
        .expect("client dropped");
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    (method, path, serde_json::from_slice(&bytes).unwrap(), send)
}

async fn assert_quiet(handle: &mut Handle) {
    // Quiet: nothing within the wait, or the writer gone (it held the only client).
    let got = tokio::time::timeout(Duration::from_millis(100), handle.next_request()).await;
    if let Ok(Some((req, _))) = &got {
        panic!("unexpected request {} {}", req.method(), req.uri());
    }
}

fn respond(send: tower_test::mock::SendResponse<Response<Body>>, status: u16, body: &Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

#[test]
fn verdicts_and_outcomes_map_to_reasons_types_and_notes() {
    let passed = DependencyVerdict {
        name: "push".into(),
        matched: true,
        reason: "passed".into(),
    };
    assert_eq!(dependency_notice(&passed, &event("e1")), None);
    let rejected = DependencyVerdict {
        matched: false,
        reason: "body.ref = \"refs/heads/x\" does not match \"^refs/heads/main$\"".into(),
        ..passed
    };
    let n = dependency_notice(&rejected, &event("e1")).unwrap();
    assert_eq!(
        n,
        Notice {
            warning: true,
            reason: "DependencyFilterFailed",
            action: "Filter",
            about: "push".into(),
            note: "dependency push rejected event e1: body.ref = \"refs/heads/x\" does not match \"^refs/heads/main$\"".into(),
        }
    );
    assert_eq!(n.key(), "DependencyFilterFailed/Filter/push");

    let ok = execution_notice("build", &Ok("created Workflow build-x".into()));
    assert_eq!(
        (ok.warning, ok.reason, ok.note.as_str()),
        (
            false,
            "TriggerSucceeded",
            "trigger build: created Workflow build-x"
        )
    );
    let failed = execution_notice("build", &Err("403 Forbidden".into()));
    assert_eq!(
        (failed.warning, failed.reason, failed.note.as_str()),
        (true, "TriggerFailed", "trigger build failed: 403 Forbidden")
    );
    assert_ne!(ok.key(), failed.key());

    let retry = retry_notice(
        "build",
        "timeout",
        &Retry::Backoff {
            attempt: 2,
            steps: 3,
            wait: Duration::from_millis(1500),
        },
    );
    assert_eq!(
        (retry.warning, retry.reason, retry.note.as_str()),
        (
            false,
            "TriggerRetried",
            "trigger build: timeout; attempt 2 of 3 failed; retrying in 1.5s"
        )
    );
    let dlq = dead_letter_notice("build", "timeout", Some("build-dlq"));
    assert_eq!(
        (dlq.warning, dlq.reason, dlq.note.as_str()),
        (
            true,
            "TriggerSentToDLQ",
            "trigger build: timeout; gave up; dlqTrigger build-dlq runs"
        )
    );
    let none = dead_letter_notice("build", "timeout", None);
    assert!(
        none.note
            .ends_with("no dlqTrigger, the event is acknowledged")
    );
}

#[test]
fn the_reporter_is_the_pod() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let r = reporter(env(&[("POD_NAME", "s-sensor-abc"), ("HOSTNAME", "h")]));
    assert_eq!(r.controller, "argo-events-sensor");
    assert_eq!(r.instance.as_deref(), Some("s-sensor-abc"));
    assert_eq!(
        reporter(env(&[("POD_NAME", " "), ("HOSTNAME", "h")]))
            .instance
            .as_deref(),
        Some("h")
    );
    assert_eq!(reporter(env(&[])).instance, None);
}

#[test]
fn the_sensor_is_the_regarding_object() {
    let value = json!({
        "metadata": {"name": "s", "namespace": "ns", "uid": "uid-s"},
        "spec": {"dependencies": [], "triggers": []},
    });
    let sensor: Sensor = argo_events_api::gocompat::from_value(&value).unwrap().value;
    assert_eq!(sensor_reference(&sensor), regarding());
}

#[tokio::test]
async fn events_are_written_once_per_interval_per_key() {
    let (events, mut handle) = started();
    events.send(execution_notice("build", &Err("boom".into())));
    let (method, path, body, send) = next(&mut handle).await;
    assert_eq!(method, Method::POST);
    assert_eq!(path, "/apis/events.k8s.io/v1/namespaces/ns/events");
    assert_eq!(body["type"], "Warning");
    assert_eq!(body["reason"], "TriggerFailed");
    assert_eq!(body["action"], "Trigger");
    assert_eq!(body["note"], "trigger build failed: boom");
    assert_eq!(body["reportingController"], "argo-events-sensor");
    assert_eq!(body["reportingInstance"], "s-sensor-abcde");
    assert_eq!(body["regarding"]["kind"], "Sensor");
    assert_eq!(body["regarding"]["name"], "s");
    assert_eq!(body["regarding"]["uid"], "uid-s");
    assert_eq!(body["metadata"]["namespace"], "ns");
    respond(send, 201, &body);
    // The same key within the interval: skipped. Another key: written.
    events.send(execution_notice("build", &Err("boom again".into())));
    assert_quiet(&mut handle).await;
    events.send(execution_notice("build", &Ok("done".into())));
    let (_, _, body, send) = next(&mut handle).await;
    assert_eq!(body["reason"], "TriggerSucceeded");
    assert_eq!(body["type"], "Normal");
    respond(send, 201, &body);
    assert_quiet(&mut handle).await;
    assert_eq!(events.dropped(), 0);
}

#[tokio::test]
async fn a_forbidden_answer_stops_the_events() {
    let (events, mut handle) = started();
    let rejected = DependencyVerdict {
        name: "push".into(),
        matched: false,
        reason: "no".into(),
    };
    events.send(dependency_notice(&rejected, &event("e1")).unwrap());
    let (_, path, body, send) = next(&mut handle).await;
    assert_eq!(path, "/apis/events.k8s.io/v1/namespaces/ns/events");
    assert_eq!(body["reason"], "DependencyFilterFailed");
    respond(
        send,
        403,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                "message": "events.events.k8s.io is forbidden", "code": 403}),
    );
    // Let the writer see the answer, then stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    events.send(execution_notice("build", &Err("boom".into())));
    events.send(execution_notice("notify", &Ok("done".into())));
    // The writer stopped: it dropped the client, so the mock sees no more requests at all.
    let after = tokio::time::timeout(Duration::from_secs(1), handle.next_request()).await;
    assert!(matches!(after, Ok(None)), "the writer still runs");
    assert_eq!(events.dropped(), 0, "a stopped writer is not a full queue");
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    // Sent before the writer task first runs (one thread): QUEUE fit, the rest are dropped.
    let (events, mut handle) = started();
    for i in 0..QUEUE + 10 {
        events.send(execution_notice(&format!("t{i}"), &Ok("done".into())));
    }
    let (_, _, _, _send) = next(&mut handle).await;
    assert_eq!(events.dropped(), 10);
}
