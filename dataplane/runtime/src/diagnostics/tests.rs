use std::sync::atomic::AtomicBool;

use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::ConsumerState;
use argo_events_bus::memory::MemoryBus;
use argo_events_engine::machine::DependencyVerdict;
use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::metrics::{SensorMetrics, admin_router};
use crate::sensor::{LogObserver, SensorObserver};

fn sensor() -> Sensor {
    let value = json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "dependencies": [
                {"name": "push", "eventSourceName": "webhook", "eventName": "push"},
                {"name": "tag", "eventSourceName": "webhook", "eventName": "tag"},
            ],
            "triggers": [
                {"template": {"name": "build", "conditions": "push", "log": {}}},
                {"template": {"name": "notify", "log": {}}},
            ],
        },
    });
    argo_events_api::gocompat::from_value(&value).unwrap().value
}

fn ev(id: &str, subject: &str) -> Event {
    Event {
        id: id.into(),
        source: "webhook".into(),
        specversion: "1.0".into(),
        type_: "webhook".into(),
        datacontenttype: "application/json".into(),
        subject: subject.into(),
        time: None,
        trace: Default::default(),
        data: b"{}".to_vec(),
    }
}

async fn get_json(router: Router, path: &str) -> (StatusCode, Value) {
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

fn router(diagnostics: Arc<SensorDiagnostics>) -> Router {
    let metrics = SensorMetrics::new("ns", "s", &["build", "notify"]);
    admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)))
        .merge(diagnostics_router(diagnostics))
}

#[test]
fn every_trigger_dependency_pair_is_a_subscription() {
    let s = SensorDiagnostics::new(
        &sensor(),
        Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver))),
        "default",
    );
    let pairs: Vec<(&str, &str)> = s
        .subscriptions
        .iter()
        .map(|s| (s.trigger.as_str(), s.dependency.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("build", "push"), ("notify", "push"), ("notify", "tag")]
    );
}

#[test]
fn a_bus_that_cannot_be_asked_still_names_the_subject_and_consumer() {
    let sub = &crate::sensor::subscriptions(&sensor())[0];
    let r = subscription_report(sub, "default", Err("event bus unavailable: down".into()));
    assert_eq!(
        r,
        SubscriptionReport {
            trigger: "build".into(),
            dependency: "push".into(),
            subject: "default.webhook.push".into(),
            messages: None,
            consumer: naming::durable_name("s", "build", "push"),
            state: None,
            error: Some("event bus unavailable: down".into()),
        }
    );
}

#[tokio::test]
async fn the_admin_router_answers_decisions_and_bus() {
    let recorder = Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver)));
    let diagnostics = Arc::new(SensorDiagnostics::new(
        &sensor(),
        recorder.clone(),
        "default",
    ));
    recorder.event(
        "build",
        &ev("e1", "push"),
        &[DependencyVerdict {
            name: "push".into(),
            matched: false,
            reason: "body.ref does not match".into(),
        }],
    );

    let (status, body) = get_json(router(diagnostics.clone()), DECISIONS_PATH).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sensor"], "ns/s");
    assert_eq!(body["dependencies"][0]["name"], "push");
    assert_eq!(body["dependencies"][0]["seen"], 1);
    assert_eq!(body["dependencies"][0]["passed"], 0);
    assert_eq!(body["dependencies"][0]["recent"][0]["eventId"], "e1");
    assert_eq!(body["dependencies"][0]["recent"][0]["passed"], false);
    assert_eq!(body["triggers"][1]["name"], "notify");
    let decoded: Decisions = serde_json::from_value(body).unwrap();
    assert_eq!(decoded, recorder.snapshot());

    // Before the bus is connected: every subscription says so.
    let (status, body) = get_json(router(diagnostics.clone()), BUS_PATH).await;
    assert_eq!(status, StatusCode::OK);
    let report: BusReport = serde_json::from_value(body).unwrap();
    assert_eq!(report.subscriptions.len(), 3);
    assert!(report.subscriptions.iter().all(|s| s.error.is_some()));

    // Connected: live figures. build/push exists and has one delivery unacked.
    let bus = MemoryBus::new();
    let subs = crate::sensor::subscriptions(&sensor());
    let mut consumer = bus.subscribe(&subs[0]).await.unwrap();
    bus.publish(&ev("e1", "push")).await.unwrap();
    bus.publish(&ev("e2", "push")).await.unwrap();
    let got = consumer
        .fetch(1, std::time::Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    diagnostics.set_bus(Arc::new(bus));
    let (_, body) = get_json(router(diagnostics), BUS_PATH).await;
    assert_eq!(body["sensor"], "ns/s");
    let first = &body["subscriptions"][0];
    assert_eq!(first["trigger"], "build");
    assert_eq!(first["dependency"], "push");
    assert_eq!(first["subject"], "default.webhook.push");
    assert_eq!(first["messages"], 2);
    assert_eq!(
        first["consumer"],
        naming::durable_name("s", "build", "push")
    );
    assert_eq!(first["state"]["ackPending"], 1);
    assert_eq!(first["error"], Value::Null);
    let report: BusReport = serde_json::from_value(body).unwrap();
    assert_eq!(
        report.subscriptions[0].state,
        Some(ConsumerState {
            pending: 1,
            ack_pending: 1,
            redelivered: 0,
            delivered_stream_seq: 1,
            ack_floor_stream_seq: 0,
        })
    );
    // notify/tag was never subscribed: no consumer, no error.
    assert_eq!(report.subscriptions[2].state, None);
    assert_eq!(report.subscriptions[2].messages, Some(0));
    assert_eq!(report.subscriptions[2].error, None);
}

#[tokio::test]
async fn the_eventsource_admin_router_does_not_route_them() {
    let metrics = crate::metrics::EventSourceMetrics::new("ns", "es", &["push"]);
    let es_router = admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)));
    for path in [DECISIONS_PATH, BUS_PATH, BUS_MESSAGES_PATH] {
        let (status, _) = get_json(es_router.clone(), path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = send(es_router, "POST", REPLAY_PATH).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn send(router: Router, method: &str, path: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn error_of(body: &Value) -> String {
    serde_json::from_value::<argo_events_api::diagnostics::AdminError>(body.clone())
        .unwrap()
        .error
}

#[tokio::test]
async fn bad_queries_are_answered_with_the_parameter_dependency_or_trigger_at_fault() {
    let diagnostics = Arc::new(SensorDiagnostics::new(
        &sensor(),
        Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver))),
        "default",
    ));
    diagnostics.set_bus(Arc::new(MemoryBus::new()));
    let cases = [
        (
            "/bus/messages",
            StatusCode::BAD_REQUEST,
            "query parameter dependency: required",
        ),
        (
            "/bus/messages?dependency=push&limit=5000",
            StatusCode::BAD_REQUEST,
            "query parameter limit: \"5000\" is not a whole number from 1 to 1000",
        ),
        (
            "/bus/messages?dependency=push&from=3",
            StatusCode::BAD_REQUEST,
            "query parameter from: unknown",
        ),
        (
            "/bus/messages?dependency=push&since=2024-13-01",
            StatusCode::BAD_REQUEST,
            "query parameter since: \"2024-13-01\" is not an RFC 3339 time",
        ),
        (
            "/bus/messages?dependency=pull",
            StatusCode::NOT_FOUND,
            "dependency \"pull\" is not one of Sensor ns/s's dependencies (push, tag)",
        ),
        (
            "/bus/messages?dependency=push&trigger=deploy",
            StatusCode::NOT_FOUND,
            "trigger \"deploy\" is not one of Sensor ns/s's triggers (build, notify)",
        ),
        (
            "/bus/messages?dependency=tag&trigger=build",
            StatusCode::BAD_REQUEST,
            "trigger \"build\" does not use dependency \"tag\"",
        ),
    ];
    for (path, status, message) in cases {
        for (method, path) in [
            ("GET", path.to_owned()),
            ("POST", path.replace("/bus/messages", "/replay")),
        ] {
            let (got, body) = send(router(diagnostics.clone()), method, &path).await;
            assert_eq!(got, status, "{method} {path}: {body}");
            assert!(
                error_of(&body).starts_with(message),
                "{method} {path}: {body}"
            );
        }
    }
    // Good queries: the messages (none yet), and a replay refused since no loop runs here.
    let (status, body) = send(
        router(diagnostics.clone()),
        "GET",
        "/bus/messages?dependency=tag&fromSeq=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dependency"], "tag");
    assert_eq!(body["triggers"], json!(["notify"]));
    assert_eq!(body["subject"], "default.webhook.tag");
    assert_eq!(body["messages"], json!([]));
    assert_eq!(body["truncated"], false);
    let (status, body) = send(
        router(diagnostics.clone()),
        "POST",
        "/replay?dependency=push",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        error_of(&body),
        "this replica is not running the trigger loops of build, notify (a standby under leader election, or a Sensor starting or stopping): replay on the replica that leads"
    );
    // A replay is a POST.
    let (status, _) = send(router(diagnostics), "GET", "/replay?dependency=push").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn without_the_bus_reads_and_replays_are_unavailable() {
    let diagnostics = Arc::new(SensorDiagnostics::new(
        &sensor(),
        Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver))),
        "default",
    ));
    let replays = diagnostics.replays();
    let _build = replays.open("build");
    let _notify = replays.open("notify");
    for (method, path) in [
        ("GET", "/bus/messages?dependency=push"),
        ("POST", "/replay?dependency=push"),
    ] {
        let (status, body) = send(router(diagnostics.clone()), method, path).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert_eq!(
            error_of(&body),
            "the pod is not connected to the event bus yet"
        );
    }
}

#[tokio::test]
async fn a_replay_hands_the_cloudevents_to_the_selected_loops_only() {
    let diagnostics = Arc::new(SensorDiagnostics::new(
        &sensor(),
        Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver))),
        "default",
    ));
    let bus = MemoryBus::new();
    for id in ["e1", "e2", "e3"] {
        bus.publish(&ev(id, "push")).await.unwrap();
    }
    bus.publish(&ev("t1", "tag")).await.unwrap();
    diagnostics.set_bus(Arc::new(bus));
    let replays = diagnostics.replays();
    let mut build = replays.open("build");
    let mut notify = replays.open("notify");

    let (status, body) = send(
        router(diagnostics.clone()),
        "GET",
        "/bus/messages?dependency=push&fromSeq=2",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page: argo_events_api::diagnostics::StoredMessages = serde_json::from_value(body).unwrap();
    assert_eq!(page.sensor, "ns/s");
    assert_eq!(page.triggers, ["build", "notify"]);
    let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(page.messages[0].event, ev("e2", "push").to_cloudevent());
    assert_eq!(page.messages[0].error, None);

    let (status, body) = send(
        router(diagnostics.clone()),
        "POST",
        "/replay?dependency=push&trigger=notify&fromSeq=2&limit=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result: argo_events_api::diagnostics::ReplayResult = serde_json::from_value(body).unwrap();
    assert_eq!(
        result,
        argo_events_api::diagnostics::ReplayResult {
            sensor: "ns/s".into(),
            dependency: "push".into(),
            subject: "default.webhook.push".into(),
            triggers: vec!["notify".into()],
            replayed: 1,
            sequences: vec![2],
            skipped: vec![],
            truncated: true,
        }
    );
    let got = notify.recv().await.unwrap();
    assert_eq!(
        (got.dependency.as_str(), got.sequence, got.event.id.as_str()),
        ("push", 2, "e2")
    );
    // build was not asked.
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(50), build.recv()).await;
    assert!(nothing.is_err(), "build got {nothing:?}");
}

#[test]
fn a_message_that_is_no_cloudevent_is_shown_with_why() {
    let shown = stored_message(&argo_events_bus::StoredMessage {
        sequence: 9,
        stored_at: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1),
        event: Err("not JSON: expected value at line 1 column 1".into()),
    });
    assert_eq!(shown.seq, 9);
    assert_eq!(shown.time.to_rfc3339(), "1970-01-01T00:00:01+00:00");
    assert_eq!(shown.event, Value::Null);
    assert_eq!(
        shown.error.as_deref(),
        Some("not JSON: expected value at line 1 column 1")
    );
}

#[tokio::test]
async fn a_replay_of_a_dependency_no_trigger_uses_reaches_nothing() {
    let value = json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {
            "dependencies": [
                {"name": "push", "eventSourceName": "webhook", "eventName": "push"},
                {"name": "spare", "eventSourceName": "webhook", "eventName": "spare"},
            ],
            "triggers": [{"template": {"name": "build", "conditions": "push", "log": {}}}],
        },
    });
    let sensor: Sensor = argo_events_api::gocompat::from_value(&value).unwrap().value;
    let diagnostics = Arc::new(SensorDiagnostics::new(
        &sensor,
        Arc::new(DecisionRecorder::new(&sensor, Arc::new(LogObserver))),
        "default",
    ));
    // Neither a bus nor a loop is needed: nothing is read or handed over.
    let (status, body) = send(router(diagnostics), "POST", "/replay?dependency=spare").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_value::<argo_events_api::diagnostics::ReplayResult>(body).unwrap(),
        argo_events_api::diagnostics::ReplayResult {
            sensor: "ns/s".into(),
            dependency: "spare".into(),
            subject: "default.webhook.spare".into(),
            ..Default::default()
        }
    );
}
