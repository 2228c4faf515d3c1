//! The webhook source over real HTTP on loopback.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::*;

fn webhook(port: u16, extra: serde_json::Value) -> argo_events_api::EventSource {
    let mut spec = json!({"endpoint": "/example", "method": "POST", "port": port.to_string()});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    event_source("hooks", json!({"webhook": {"example": spec}}))
}

#[tokio::test]
async fn post_json_publishes_the_exact_payload_then_answers() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({"metadata": {"team": "a"}})));
    wait_listening(port).await;

    let body = r#"{ "a": 1, "big": 123456789012345678901234567890, "b": [true] }"#;
    let request = format!(
        "POST /example HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         x-custom: v1\r\nX-Custom: v2\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, text) = raw_http(port, &request).await;
    assert_eq!((status, text.as_str()), (200, "success"));

    let events = h.bus.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.id.len(), 32);
    assert!(e.id.chars().all(|c| c.is_ascii_hexdigit()), "{}", e.id);
    assert_eq!(
        (e.source.as_str(), e.subject.as_str(), e.type_.as_str()),
        ("hooks", "example", "webhook")
    );
    assert_eq!(e.specversion, "1.0");
    assert_eq!(e.datacontenttype, "application/json");
    assert_eq!(e.time, Some(utc("2024-01-02T10:30:00Z")));
    assert_eq!(
        String::from_utf8(e.data.clone()).unwrap(),
        format!(
            r#"{{"header":{{"Connection":["close"],"Content-Length":["{}"],"Content-Type":["application/json"],"X-Custom":["v1","v2"]}},"body":{{"a":1,"big":123456789012345678901234567890,"b":[true]}},"metadata":{{"team":"a"}}}}"#,
            body.len()
        )
    );
    assert_eq!(h.observer.published(), ["example"]);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_number_beyond_f64_is_valid_json_and_passed_on_unchanged() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({})));
    wait_listening(port).await;
    let body = r#"{"n": 1e400, "tiny": -1e-400}"#;
    let request = format!(
        "POST /example HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, _, text) = raw_http(port, &request).await;
    assert_eq!((status, text.as_str()), (200, "success"));
    let events = h.bus.events();
    assert_eq!(events.len(), 1);
    let data = String::from_utf8(events[0].data.clone()).unwrap();
    assert!(
        data.contains(r#""body":{"n":1e400,"tiny":-1e-400}"#),
        "{data}"
    );
    // On the wire (the bus's structured CloudEvent) the bytes survive: JSON data that serde
    // cannot hold as a number goes as data_base64, and comes back the same.
    let wire = events[0].to_cloudevent();
    let back = argo_events_api::cloudevent::Event::from_cloudevent(&wire).unwrap();
    assert_eq!(back.data, events[0].data);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn get_publishes_query_parameters() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({"method": "GET"})));
    wait_listening(port).await;
    let r = client()
        .get(format!(
            "http://127.0.0.1:{port}/example?x=1&x=2&y=hello+world&z=%2F"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = h.bus.events();
    assert_eq!(
        data(&events[0])["body"],
        json!({"x": ["1", "2"], "y": ["hello world"], "z": ["/"]})
    );
    assert!(
        data(&events[0]).get("metadata").is_none(),
        "no metadata key when empty"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn form_post_publishes_form_values() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({})));
    wait_listening(port).await;
    let r = client()
        .post(format!("http://127.0.0.1:{port}/example"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=1&b=two+words&a=3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        data(&h.bus.events()[0])["body"],
        json!({"a": ["1", "3"], "b": ["two words"]})
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn rejections_are_answered_and_nothing_is_published() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({"maxPayloadSize": 32})));
    wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/example");
    let c = client();
    let big = format!(r#"{{"padding": "{}"}}"#, "x".repeat(64));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.post(&url).body(big.clone()),
            413,
            "exceeds maxPayloadSize of 32 bytes",
        ),
        (c.get(&url), 400, "http method does not match"),
        (c.put(&url).body("{}"), 400, "http method does not match"),
        (
            c.post(&url).body("not json"),
            400,
            "request body is not valid JSON",
        ),
        (c.post(&url), 400, "request body is not valid JSON"),
        (
            c.post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("a=1;b=2"),
            400,
            "failed to parse form body",
        ),
    ];
    for (request, status, text) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status);
        let body = r.text().await.unwrap();
        assert!(body.contains(text), "{body:?} should contain {text:?}");
    }
    // A body over the limit without Content-Length (chunked) is cut off too.
    let chunk = "x".repeat(40);
    let request = format!(
        "POST /example HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let (status, _, _) = raw_http(port, &request).await;
    assert_eq!(status, 413);

    let r = c
        .get(format!("http://127.0.0.1:{port}/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    assert_eq!(h.bus.attempts(), 0, "nothing reached the bus");
    assert_eq!(h.observer.rejected().len(), 7);
    assert!(h.observer.rejected().iter().all(|(e, _)| e == "example"));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn auth_secret_is_required_and_masked() {
    let port = free_port();
    let setup = Setup {
        secrets: secrets(&[("hook-auth", "token", "s3cret")]),
        ..Setup::default()
    };
    let source = webhook(
        port,
        json!({"authSecret": {"name": "hook-auth", "key": "token"}}),
    );
    let h = Harness::start_with(source, setup);
    wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/example");
    let c = client();
    for (auth, status, text) in [
        (None, 401, "Invalid Authorization Header"),
        (Some("Basic s3cret"), 401, "Invalid Authorization Header"),
        (Some("Bearer wrong"), 401, "Invalid Auth token"),
        (Some("Bearer s3cret"), 200, "success"),
    ] {
        let mut request = c.post(&url).body("{}");
        if let Some(a) = auth {
            request = request.header("authorization", a);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{auth:?}");
        assert_eq!(r.text().await.unwrap(), text);
    }
    let events = h.bus.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        data(&events[0])["header"]["Authorization"],
        json!(["*** Masked Auth Secret ***"])
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn authorization_is_masked_even_without_auth_secret() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({})));
    wait_listening(port).await;
    client()
        .post(format!("http://127.0.0.1:{port}/example"))
        .header("authorization", "Bearer whatever")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        data(&h.bus.events()[0])["header"]["Authorization"],
        json!(["*** Masked Auth Secret ***"])
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn health_answers_on_every_port() {
    let (p1, p2) = (free_port(), free_port());
    let source = event_source(
        "hooks",
        json!({"webhook": {
            "a": {"endpoint": "/a", "method": "POST", "port": p1.to_string()},
            "b": {"endpoint": "/b", "method": "POST", "port": p2.to_string()},
        }}),
    );
    let h = Harness::start(source);
    for port in [p1, p2] {
        wait_listening(port).await;
        for method in ["GET", "POST"] {
            let (status, _, body) = raw_http(
                port,
                &format!("{method} /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            )
            .await;
            assert_eq!((status, body.as_str()), (200, "OK"));
        }
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_bus_is_answered_503_with_retry_after() {
    let port = free_port();
    let h = Harness::start(webhook(port, json!({})));
    wait_listening(port).await;
    h.bus.set_mode(BusMode::Fail);
    let r = client()
        .post(format!("http://127.0.0.1:{port}/example"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let text = r.text().await.unwrap();
    assert!(text.contains("test bus is down"), "{text}");
    assert_eq!(h.observer.failed().len(), 1);
    assert!(h.observer.published().is_empty());

    h.bus.set_mode(BusMode::Store);
    let r = client()
        .post(format!("http://127.0.0.1:{port}/example"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the same listener works again once the bus does"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_hanging_bus_is_answered_503_after_the_publish_timeout() {
    let port = free_port();
    let setup = Setup {
        publish_timeout: Duration::from_millis(300),
        ..Setup::default()
    };
    let h = Harness::start_with(webhook(port, json!({})), setup);
    wait_listening(port).await;
    h.bus.set_mode(BusMode::Hang);
    let started = Instant::now();
    let r = client()
        .post(format!("http://127.0.0.1:{port}/example"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let text = r.text().await.unwrap();
    assert!(text.contains("did not confirm"), "{text}");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn events_share_a_port_routed_by_exact_path() {
    let port = free_port();
    let source = event_source(
        "hooks",
        json!({"webhook": {
            "push": {"endpoint": "/push", "method": "POST", "port": port.to_string()},
            "poll": {"endpoint": "/push/poll", "method": "GET", "port": port.to_string()},
        }}),
    );
    let h = Harness::start(source);
    wait_listening(port).await;
    let c = client();
    let r = c
        .post(format!("http://127.0.0.1:{port}/push"))
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("http://127.0.0.1:{port}/push/poll?q=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("http://127.0.0.1:{port}/push/"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "paths match exactly");
    let subjects: Vec<String> = h.bus.events().iter().map(|e| e.subject.clone()).collect();
    assert_eq!(subjects, ["push", "poll"]);
    assert_eq!(data(&h.bus.events()[1])["body"], json!({"q": ["2"]}));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_webhooks_are_refused_at_start() {
    let port = free_port().to_string();
    let hook = |extra: serde_json::Value| {
        let mut spec = json!({"endpoint": "/x", "method": "POST", "port": port});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        event_source("hooks", json!({"webhook": {"x": spec}}))
    };
    let cases = [
        (
            hook(
                json!({"serverCertSecret": {"name": "tls", "key": "crt"}, "serverKeySecret": {"name": "tls", "key": "key"}}),
            ),
            "TLS listeners are not supported yet",
        ),
        (
            hook(json!({"port": "12a"})),
            "port \"12a\" is not a TCP port number",
        ),
        (hook(json!({"port": ""})), "port is required"),
        (
            hook(json!({"endpoint": "x"})),
            "must be a path starting with /",
        ),
        (
            hook(json!({"method": "PUT"})),
            "method \"PUT\" can never produce an event",
        ),
        (hook(json!({"method": ""})), "method is required"),
        (
            hook(json!({"maxPayloadSize": 0})),
            "maxPayloadSize must be a positive",
        ),
        (
            hook(json!({"filter": {"expression": "body.a == 1"}})),
            "EventSource filter expressions are not supported yet",
        ),
        (
            hook(json!({"authSecret": {"name": "missing", "key": "token"}})),
            "authSecret: secret missing/token is not available",
        ),
        (
            event_source(
                "hooks",
                json!({"webhook": {
                    "a": {"endpoint": "/x", "method": "POST", "port": port},
                    "b": {"endpoint": "/x", "method": "GET", "port": port},
                }}),
            ),
            "endpoint /x on port",
        ),
    ];
    for (source, want) in cases {
        let err = start_error(source, Default::default()).await;
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(err.starts_with("EventSource hooks"), "{err}");
    }
}

#[tokio::test]
async fn a_port_in_use_fails_the_start() {
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = start_error(webhook(port, json!({})), Default::default()).await;
    assert!(
        err.contains(&format!("HTTP listener on port {port}")),
        "{err}"
    );
}
