//! What `run` refuses before starting anything.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn unsupported_kinds_are_named_with_their_events() {
    let port = free_port().to_string();
    let source = event_source(
        "mixed",
        json!({
            "webhook": {"hook": {"endpoint": "/x", "method": "POST", "port": port}},
            "kafka": {
                "orders": {"url": "kafka:9092", "topic": "orders", "partition": "0"},
                "payments": {"url": "kafka:9092", "topic": "payments", "partition": "0"},
            },
        }),
    );
    let err = start_error(source, Default::default()).await;
    assert_eq!(
        err,
        "EventSource mixed: the kafka source kind is not supported yet (events: orders, payments); \
         supported: webhook, github, gitlab, calendar, nats, resource"
    );
    // Nothing was started: the webhook port is still free.
    std::net::TcpListener::bind(("0.0.0.0", port.parse::<u16>().unwrap()))
        .expect("the webhook port was never bound");
}

#[tokio::test]
async fn event_names_must_be_unique_across_kinds() {
    let source = event_source(
        "dup",
        json!({
            "webhook": {"tick": {"endpoint": "/x", "method": "POST", "port": free_port().to_string()}},
            "calendar": {"tick": {"interval": "1m"}},
        }),
    );
    let err = start_error(source, Default::default()).await;
    assert!(err.contains("webhook event tick"), "{err}");
    assert!(
        err.contains("the calendar source already has an event with this name"),
        "{err}"
    );
}

#[tokio::test]
async fn an_empty_event_source_waits_for_shutdown() {
    let h = Harness::start(event_source("empty", json!({})));
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    h.stop().await.unwrap();
}
