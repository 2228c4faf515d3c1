//! The NATS source against a real nats-server on loopback.

use bytes::Bytes;
use serde_json::json;

use crate::support::*;

fn nats(url: &str, extra: serde_json::Value) -> argo_events_api::EventSource {
    let mut spec = json!({"url": url, "subject": "orders.*", "jsonBody": true});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    event_source("msgs", json!({"nats": {"orders": spec}}))
}

const CLIENT_NAME: &str = "argo-events msgs/orders";

async fn publisher(url: &str, options: async_nats::ConnectOptions) -> async_nats::Client {
    bounded("test publisher connects", options.connect(url))
        .await
        .unwrap()
}

#[tokio::test]
async fn messages_become_events() {
    let server = NatsServer::start(&[]).await;
    let source = nats(&server.url(), json!({"metadata": {"from": "nats"}}));
    let h = Harness::start(source);
    server.wait_subscription(CLIENT_NAME, "orders.*").await;

    let client = publisher(&server.url(), async_nats::ConnectOptions::new()).await;
    let mut headers = async_nats::HeaderMap::new();
    headers.append("X-Trace", "t-1");
    headers.append("X-Trace", "t-2");
    client
        .publish_with_headers("orders.new", headers, Bytes::from_static(br#"{"id": 7}"#))
        .await
        .unwrap();
    client
        .publish("orders.old", Bytes::from_static(b"plain text"))
        .await
        .unwrap();
    client
        .publish("ignored.subject", Bytes::new())
        .await
        .unwrap();
    client.flush().await.unwrap();

    let events = h.bus.wait_events(2).await;
    let e = &events[0];
    assert_eq!(
        (e.source.as_str(), e.subject.as_str(), e.type_.as_str()),
        ("msgs", "orders", "nats")
    );
    assert_eq!(
        String::from_utf8(e.data.clone()).unwrap(),
        r#"{"subject":"orders.new","body":{"id":7},"header":{"X-Trace":["t-1","t-2"]},"metadata":{"from":"nats"}}"#
    );
    assert_eq!(
        data(&events[1]),
        json!({"subject": "orders.old", "body": "cGxhaW4gdGV4dA==", "metadata": {"from": "nats"}}),
        "not JSON although jsonBody: base64 as Go marshals bytes"
    );
    assert_eq!(h.observer.published(), ["orders", "orders"]);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn without_json_body_the_payload_is_base64() {
    let server = NatsServer::start(&[]).await;
    let h = Harness::start(nats(
        &server.url(),
        json!({"jsonBody": false, "queue": "workers"}),
    ));
    server.wait_subscription(CLIENT_NAME, "orders.*").await;
    let client = publisher(&server.url(), async_nats::ConnectOptions::new()).await;
    client
        .publish("orders.new", Bytes::from_static(br#"{"id":7}"#))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let events = h.bus.wait_events(1).await;
    assert_eq!(
        data(&events[0]),
        json!({"subject": "orders.new", "body": "eyJpZCI6N30="})
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn token_and_basic_auth() {
    let token_server = NatsServer::start(&["--auth", "s3cret-token"]).await;
    let user_server = NatsServer::start(&["--user", "argo", "--pass", "pa55"]).await;
    let creds = secrets(&[
        ("nats", "token", "s3cret-token"),
        ("nats", "user", "argo"),
        ("nats", "pass", "pa55"),
    ]);

    let source = event_source(
        "msgs",
        json!({"nats": {
            "orders": {"url": token_server.url(), "subject": "orders.*",
                       "auth": {"token": {"name": "nats", "key": "token"}}},
            "users": {"url": user_server.url(), "subject": "users.*",
                      "auth": {"basic": {"username": {"name": "nats", "key": "user"},
                                         "password": {"name": "nats", "key": "pass"}}}},
        }}),
    );
    let h = Harness::start_with(
        source,
        Setup {
            secrets: creds,
            ..Setup::default()
        },
    );
    token_server
        .wait_subscription(CLIENT_NAME, "orders.*")
        .await;
    user_server
        .wait_subscription("argo-events msgs/users", "users.*")
        .await;

    let c1 = publisher(
        &token_server.url(),
        async_nats::ConnectOptions::with_token("s3cret-token".into()),
    )
    .await;
    c1.publish("orders.a", Bytes::from_static(b"1"))
        .await
        .unwrap();
    c1.flush().await.unwrap();
    let c2 = publisher(
        &user_server.url(),
        async_nats::ConnectOptions::with_user_and_password("argo".into(), "pa55".into()),
    )
    .await;
    c2.publish("users.b", Bytes::from_static(b"2"))
        .await
        .unwrap();
    c2.flush().await.unwrap();

    let events = h.bus.wait_events(2).await;
    let mut subjects: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
    subjects.sort();
    assert_eq!(subjects, ["orders", "users"]);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_wrong_token_fails_the_start() {
    let server = NatsServer::start(&["--auth", "right"]).await;
    let source = nats(
        &server.url(),
        json!({"auth": {"token": {"name": "nats", "key": "token"}},
               "connectionBackoff": {"duration": "10ms", "steps": 2}}),
    );
    let err = start_error(source, secrets(&[("nats", "token", "wrong")])).await;
    assert!(err.contains("nats event orders: connecting"), "{err}");
    assert!(err.contains(&server.url()), "names the URL: {err}");
    assert!(err.contains("after 2 attempts"), "{err}");
}

#[tokio::test]
async fn a_failing_bus_is_retried() {
    let server = NatsServer::start(&[]).await;
    let h = Harness::start(nats(&server.url(), json!({})));
    server.wait_subscription(CLIENT_NAME, "orders.*").await;
    h.bus.set_mode(BusMode::Fail);
    let client = publisher(&server.url(), async_nats::ConnectOptions::new()).await;
    client
        .publish("orders.new", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    client.flush().await.unwrap();
    wait_until("two failed publishes", || h.bus.attempts() >= 2).await;
    h.bus.set_mode(BusMode::Store);
    let events = h.bus.wait_events(1).await;
    assert_eq!(data(&events[0])["subject"], "orders.new");
    let failed = h.observer.failed();
    assert!(failed.len() >= 2, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|(e, m)| e == "orders" && m.contains("test bus is down"))
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn unsupported_nats_options_are_refused() {
    let url = "nats://127.0.0.1:4222";
    for (extra, want) in [
        (
            json!({"tls": {"caCertSecret": {"name": "n", "key": "ca"}}}),
            "tls: TLS connections to NATS are not supported yet",
        ),
        (
            json!({"auth": {"nkey": {"name": "n", "key": "seed"}}}),
            "auth.nkey: NKey authentication is not supported yet",
        ),
        (
            json!({"auth": {"credential": {"name": "n", "key": "creds"}}}),
            "auth.credential: credentials-file authentication is not supported yet",
        ),
        (
            json!({"auth": {"token": {"name": "n", "key": "t"}, "basic": {}}}),
            "set only one of",
        ),
        (
            json!({"auth": {"token": {"name": "n", "key": "t"}}}),
            "auth.token: secret n/t is not available",
        ),
        (json!({"queue": ""}), "queue group cannot be empty"),
        (json!({"subject": ""}), "subject must be specified"),
        (
            json!({"connectionBackoff": {"factor": "2"}}),
            "connectionBackoff: factor",
        ),
    ] {
        let err = bounded(
            "start error",
            start_error(nats(url, extra.clone()), Default::default()),
        )
        .await;
        assert!(err.contains("nats event orders"), "{err}");
        assert!(
            err.contains(want),
            "{extra}: {err:?} should contain {want:?}"
        );
    }
}
