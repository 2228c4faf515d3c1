use std::sync::atomic::AtomicBool;
use std::time::Duration;

use argo_events_api::EventSource;
use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::AdminError;
use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::jetstream::JetStreamBus;
use argo_events_bus::memory::{MemoryBus, MemoryBusOptions};
use argo_events_bus::testserver::NatsServer;
use argo_events_bus::{Consumer, StartAt, StoredRange, Subscription};
use argo_events_eventsource::SystemClock;
use axum::body::Body;
use chrono::Utc;
use http::Request;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::metrics::{EventSourceMetrics, admin_router};

fn event_source() -> EventSource {
    serde_json::from_value(json!({
        "metadata": {"name": "cal", "namespace": "ns"},
        "spec": {
            "calendar": {"tick": {"interval": "1h"}},
            "nats": {"orders": {"url": "nats://127.0.0.1:1", "subject": "orders"}},
        },
    }))
    .unwrap()
}

/// The EventSource pod's admin router as `main` builds it, with its metrics.
fn pod(elected: bool) -> (Arc<EventSourcePublish>, Router) {
    let source = event_source();
    let metrics = Arc::new(EventSourceMetrics::new("ns", "cal", &["tick", "orders"]));
    let publisher = ManualPublisher::new(
        &source,
        Arc::new(SystemClock),
        metrics.clone(),
        Duration::from_secs(5),
    )
    .unwrap();
    let publish = Arc::new(EventSourcePublish::new(
        publisher,
        naming::STREAM_NAME,
        elected,
    ));
    let router = admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)))
        .merge(publish_router(publish.clone()));
    (publish, router)
}

async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
    )
}

async fn post(
    router: &Router,
    uri: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = Request::post(uri);
    if let Some(ct) = content_type {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    call(router, request.body(Body::from(body.to_vec())).unwrap()).await
}

fn error_of(body: &Value) -> String {
    serde_json::from_value::<AdminError>(body.clone())
        .unwrap_or_else(|e| panic!("not an AdminError ({e}): {body}"))
        .error
}

fn subscription(event_name: &str) -> Subscription {
    Subscription {
        sensor: "s".into(),
        trigger: "t".into(),
        dependency: event_name.into(),
        event_source: "cal".into(),
        event_name: event_name.into(),
    }
}

async fn one_delivery(consumer: &mut dyn Consumer) -> Event {
    let mut got = consumer.fetch(10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let delivery = got.remove(0);
    delivery.acker.ack().await.unwrap();
    delivery.event
}

/// A calendar event posted to the router reaches a subscriber of its subject as the calendar
/// source would have published it, the body as its data; the answer names it.
async fn a_calendar_event_reaches_its_subject(bus: Arc<dyn EventBus>) {
    let (publish, router) = pod(false);
    publish.set_bus(bus.clone());
    publish.set_running(true);
    let mut consumer = bus.subscribe(&subscription("tick")).await.unwrap();
    let data = br#"{"eventTime":"2024-01-02 15:04:05.1 +0000 UTC","metadata":{"team":"a"}}"#;
    let before = Utc::now();
    let (status, body) = post(&router, "/publish?event=tick", None, data).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let published: Published = serde_json::from_value(body).unwrap();
    assert_eq!(published.event_source, "ns/cal");
    assert_eq!(published.event, "tick");
    assert_eq!(published.type_, "calendar");
    assert_eq!(published.subject, "default.cal.tick");

    let event = one_delivery(consumer.as_mut()).await;
    assert_eq!(event.id, published.id);
    assert_eq!(event.source, "cal");
    assert_eq!(event.subject, "tick");
    assert_eq!(event.type_, argo_events_eventsource::calendar::EVENT_TYPE);
    assert_eq!(event.specversion, "1.0");
    assert_eq!(event.datacontenttype, "application/json");
    assert_eq!(event.data, data);
    assert_eq!(event.data_json().unwrap()["metadata"]["team"], "a");
    let time = event.time.unwrap();
    assert!(time >= before && time <= Utc::now(), "{time}");
    assert_eq!(
        time.timestamp_micros(),
        published.time.timestamp_micros(),
        "the answer's time is the event's"
    );

    // Another kind, another type; a non-JSON media type carries the bytes as they are.
    let mut orders = bus.subscribe(&subscription("orders")).await.unwrap();
    let (status, body) = post(
        &router,
        "/publish?event=orders",
        Some("text/plain; charset=utf-8"),
        b"not { json",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "nats");
    assert_eq!(body["subject"], "default.cal.orders");
    let event = one_delivery(orders.as_mut()).await;
    assert_eq!(event.type_, "nats");
    assert_eq!(event.datacontenttype, "text/plain; charset=utf-8");
    assert_eq!(event.data, b"not { json");
    assert_ne!(event.id, published.id);

    // Counted as the sources' events are.
    let (_, metrics) = call(
        &router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    let metrics = metrics.as_str().unwrap().to_owned();
    for event in ["tick", "orders"] {
        let line = format!(
            "argo_events_events_sent_total{{namespace=\"ns\",eventsource_name=\"cal\",event_name=\"{event}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
}

#[tokio::test]
async fn a_calendar_event_is_published_on_the_in_memory_bus() {
    a_calendar_event_reaches_its_subject(Arc::new(MemoryBus::new())).await;
}

#[tokio::test]
async fn a_calendar_event_is_published_on_jetstream() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = NatsServer::start().unwrap();
    let bus = Arc::new(
        JetStreamBus::connect(JetStreamOptions::new(&server.url))
            .await
            .unwrap(),
    );
    tokio::time::timeout(
        Duration::from_secs(60),
        a_calendar_event_reaches_its_subject(bus.clone()),
    )
    .await
    .unwrap();
    // The stream holds them on their subjects.
    let page = bus
        .stored_messages(
            "cal",
            "tick",
            StoredRange {
                from: StartAt::First,
                limit: 10,
                max_bytes: 1 << 20,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.subject, "default.cal.tick");
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].event.as_ref().unwrap().type_, "calendar");
}

#[tokio::test]
async fn unknown_events_and_bad_requests_are_refused_before_the_bus() {
    let (publish, router) = pod(false);
    let bus = MemoryBus::new();
    publish.set_bus(Arc::new(bus.clone()));
    publish.set_running(true);

    let (status, body) = post(&router, "/publish?event=tock", None, b"{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error_of(&body),
        "EventSource ns/cal has no event \"tock\"; its events: tick, orders"
    );

    let cases: [(&str, Option<&str>, &[u8], &str); 8] = [
        ("/publish", None, b"{}", "query parameter event is required"),
        (
            "/publish?event=",
            None,
            b"{}",
            "query parameter event is empty",
        ),
        (
            "/publish?event=tick&event=tick",
            None,
            b"{}",
            "query parameter event given more than once",
        ),
        (
            "/publish?event=tick&dependency=x",
            None,
            b"{}",
            "unknown query parameter \"dependency\"",
        ),
        (
            "/publish?event=tick",
            None,
            b"{\"eventTime\":",
            "the data is not valid JSON (content type application/json)",
        ),
        (
            "/publish?event=tick",
            Some("application/merge-patch+json"),
            b"nope",
            "the data is not valid JSON (content type application/merge-patch+json)",
        ),
        (
            "/publish?event=tick",
            None,
            b"",
            "the data is not valid JSON",
        ),
        (
            "/publish?event=tick",
            Some("json"),
            b"{}",
            "content type \"json\" is not a media type",
        ),
    ];
    for (uri, content_type, data, error) in cases {
        let (status, body) = post(&router, uri, content_type, data).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {content_type:?}");
        assert!(error_of(&body).starts_with(error), "{uri}: {body}");
    }
    let request = Request::post("/publish?event=tick")
        .header(
            header::CONTENT_TYPE,
            http::HeaderValue::from_bytes(b"application/j\xe9son").unwrap(),
        )
        .body(Body::from("{}"))
        .unwrap();
    let (status, body) = call(&router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&body),
        "the Content-Type header is not visible ASCII"
    );
    // Past axum's 2 MiB body limit.
    let huge = vec![b' '; 3 << 20];
    let (status, body) = post(&router, "/publish?event=tick", None, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        error_of(&body).starts_with("reading the request body: "),
        "{body}"
    );
    // None of them reached the bus.
    assert_eq!(bus.last_sequence(), 0);
}

#[tokio::test]
async fn without_the_bus_or_when_it_refuses_the_answer_is_503_with_the_reason() {
    let (publish, router) = pod(false);
    let (status, body) = post(&router, "/publish?event=tick", None, b"{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        error_of(&body),
        "the pod is not connected to the event bus yet"
    );

    // Connected, before the events run (every replica runs them: no election).
    let full = MemoryBus::with_options(MemoryBusOptions {
        max_msgs: Some(0),
        ..MemoryBusOptions::default()
    });
    publish.set_bus(Arc::new(full.clone()));
    let (status, body) = post(&router, "/publish?event=tick", None, b"{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        error_of(&body),
        "EventSource ns/cal: its events have not started on this replica yet"
    );

    publish.set_running(true);
    let (status, body) = post(&router, "/publish?event=tick", None, b"{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let error = error_of(&body);
    assert!(
        error.starts_with("publishing event tick (id ")
            && error.contains("event bus refused publish: the in-memory stream is full"),
        "{error}"
    );
    assert_eq!(full.last_sequence(), 0);
    let (_, metrics) = call(
        &router,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(
        metrics.as_str().unwrap().contains(
            "argo_events_events_sent_failed_total{namespace=\"ns\",eventsource_name=\"cal\",event_name=\"tick\"} 1"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_standby_under_leader_election_refuses_and_the_leader_publishes() {
    let (publish, router) = pod(true);
    let bus = MemoryBus::new();
    publish.set_bus(Arc::new(bus.clone()));
    let mut consumer = bus.subscribe(&subscription("tick")).await.unwrap();
    publish.set_running(false);
    let (status, body) = post(&router, "/publish?event=tick", None, b"{}").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        error_of(&body),
        "EventSource ns/cal: this replica stands by under leader election and runs none of its events; the leader's pod publishes them"
    );
    assert_eq!(bus.last_sequence(), 0);

    // Elected: it runs the events now.
    publish.set_running(true);
    let (status, body) = post(&router, "/publish?event=tick", None, b"{}").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(one_delivery(consumer.as_mut()).await.id, body["id"]);
}

#[tokio::test]
async fn only_post_is_routed_and_only_on_eventsource_pods() {
    let (_, router) = pod(false);
    let (status, _) = call(
        &router,
        Request::get("/publish").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // The Sensor pod's admin router has no /publish.
    let metrics = crate::metrics::SensorMetrics::new("ns", "s", &["t"]);
    let sensor_router = admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)));
    let (status, _) = post(&sensor_router, "/publish?event=tick", None, b"{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
