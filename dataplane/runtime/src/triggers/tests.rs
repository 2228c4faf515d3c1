//! Tests of trigger execution: http against a local recorder, log throttling, nats against a
//! real `nats-server`, and k8s and argoWorkflow against an in-memory API
//! server (`tests/k8s.rs`, `tests/workflow.rs`). Nothing leaves 127.0.0.1.

mod k8s;
mod support;
mod workflow;

use std::time::Duration;

use argo_events_api::TriggerPolicy;
use base64::Engine as _;
use futures::StreamExt as _;
use serde_json::{Value, json};

use super::{KubeTarget, TriggerError};
use support::*;

fn status_policy(allow: &[i32]) -> TriggerPolicy {
    serde_json::from_value(json!({"status": {"allow": allow}})).unwrap()
}

fn http_template(url: &str, extra: Value) -> Value {
    let mut http = json!({"url": url});
    if let (Some(h), Some(e)) = (http.as_object_mut(), extra.as_object()) {
        h.extend(e.clone());
    }
    json!({"name": "notify", "http": http})
}

#[tokio::test]
async fn http_sends_method_headers_secrets_basic_auth_host_and_json_body() {
    let (addr, seen) = http_recorder().await;
    let url = format!("http://{addr}/hook");
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("cm")).unwrap();
    std::fs::write(config.path().join("cm/region"), "eu-west\n").unwrap();
    let (exec, _) = executor(
        KubeTarget::Unavailable("none".into()),
        secrets(&[
            ("tok", "t", "s3cr3t"),
            ("auth", "user", "alice"),
            ("auth", "pass", "wonder"),
        ]),
    );
    let exec = exec.with_config_root(config.path());
    let template = http_template(
        &url,
        json!({
            "method": "PUT",
            "headers": {"X-Fixed": "a"},
            "secureHeaders": [
                {"name": "X-Token", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "t"}}},
                {"name": "X-Region", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "region"}}}
            ],
            "basicAuth": {
                "username": {"name": "auth", "key": "user"},
                "password": {"name": "auth", "key": "pass"}
            },
            "host": "example.test"
        }),
    );
    let output = json!({
        "url": url, "method": "PUT",
        "headers": {"X-Fixed": "a", "X-Token": "<secret tok/t>", "X-Region": "<configmap cm/region>", "X-Dyn": "from-event"},
        "payload": {"name": "x", "n": 1},
    });
    let done = exec
        .execute("notify", &rendered(template, output), &no_events(), None)
        .await
        .unwrap();
    assert_eq!(done.summary, format!("PUT {url} → 200"));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path, "/hook");
    let header = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header("x-fixed").as_deref(), Some("a"));
    assert_eq!(header("x-token").as_deref(), Some("s3cr3t"));
    assert_eq!(header("x-region").as_deref(), Some("eu-west"));
    assert_eq!(header("x-dyn").as_deref(), Some("from-event"));
    assert_eq!(header("host").as_deref(), Some("example.test"));
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:wonder");
    assert_eq!(
        header("authorization").as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        header("content-type"),
        None,
        "upstream sets no content type"
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&r.body).unwrap(),
        json!({"name": "x", "n": 1})
    );
}

#[tokio::test]
async fn http_body_is_json_text_a_string_as_is_or_nothing() {
    let (addr, seen) = http_recorder().await;
    let url = format!("http://{addr}/b");
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let cases = [
        (json!({"a": [1, 2]}), br#"{"a":[1,2]}"#.to_vec()),
        (json!("plain text"), b"plain text".to_vec()),
        (json!(42), b"42".to_vec()),
        (Value::Null, Vec::new()),
    ];
    for (payload, want) in &cases {
        let output = json!({"url": url, "method": "POST", "headers": {}, "payload": payload});
        exec.execute(
            "notify",
            &rendered(http_template(&url, json!({})), output),
            &no_events(),
            None,
        )
        .await
        .unwrap();
        let body = seen.lock().unwrap().last().unwrap().body.clone();
        assert_eq!(&body, want, "payload {payload}");
    }
}

#[tokio::test]
async fn http_status_policy_decides_success() {
    let (addr, _) = http_recorder().await;
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    // (status served, allow list, Ok?, retryable when failing)
    let cases: [(u16, Option<&[i32]>, bool, bool); 6] = [
        (200, Some(&[200]), true, false),
        (201, Some(&[200, 201]), true, false),
        (201, Some(&[200]), false, false),
        (404, Some(&[200]), false, false),
        (503, Some(&[200]), false, true),
        // Without a status policy every response counts, 5xx included (upstream).
        (500, None, true, false),
    ];
    for (code, allow, ok, retryable) in cases {
        let url = format!("http://{addr}/status/{code}");
        let output = json!({"url": url, "method": "POST", "headers": {}, "payload": null});
        let policy = allow.map(status_policy);
        let result = exec
            .execute(
                "notify",
                &rendered(http_template(&url, json!({})), output),
                &no_events(),
                policy.as_ref(),
            )
            .await;
        match result {
            Ok(done) => {
                assert!(ok, "status {code} with {allow:?} should fail");
                assert_eq!(done.summary, format!("POST {url} → {code}"));
            }
            Err(e) => {
                assert!(!ok, "status {code} with {allow:?} should pass: {e}");
                assert!(
                    e.to_string()
                        .contains(&format!("http response status {code} is not allowed")),
                    "{e}"
                );
                assert_eq!(e.is_retryable(), retryable, "{e}");
            }
        }
    }
}

#[tokio::test]
async fn http_timeouts_and_refused_connections_are_retryable() {
    let (addr, _) = http_recorder().await;
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let slow = format!("http://{addr}/slow");
    let output = json!({"url": slow, "method": "GET", "headers": {}, "payload": null});
    let err = exec
        .execute(
            "notify",
            &rendered(http_template(&slow, json!({"timeout": 1})), output),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::HttpRequest { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&slow), "{err}");

    let closed = format!("http://127.0.0.1:{}/x", free_port());
    let output = json!({"url": closed, "method": "POST", "headers": {}, "payload": null});
    let err = exec
        .execute(
            "notify",
            &rendered(http_template(&closed, json!({})), output),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn http_spec_problems_are_clear_and_final() {
    let (addr, seen) = http_recorder().await;
    let url = format!("http://{addr}/x");
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let cases = [
        (
            json!({"secureHeaders": [{"name": "X-T", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]}),
            "secret gone/k is not available",
        ),
        (
            json!({"secureHeaders": [{"name": "X-C", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}),
            "config map cm/k (/argo-events/config/cm/k)",
        ),
        (
            json!({"basicAuth": {"username": {"name": "nope", "key": "u"}}}),
            "basicAuth.username: secret nope/u",
        ),
        (
            json!({"tls": {"clientCertSecret": {"name": "c", "key": "crt"}}}),
            "clientCertSecret and clientKeySecret must be set together",
        ),
    ];
    for (extra, want) in cases {
        let output = json!({"url": url, "method": "POST", "headers": {}, "payload": null});
        let err = exec
            .execute(
                "notify",
                &rendered(http_template(&url, extra.clone()), output),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(want), "{extra}: {err}");
        assert!(err.to_string().contains("trigger notify"), "{err}");
        assert!(!err.is_retryable(), "{err}");
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn log_trigger_throttles_per_trigger_and_counts_skips_as_success() {
    let (exec, sink) = executor(KubeTarget::Print, secrets(&[]));
    let throttled = |name: &str, interval: u64| {
        rendered(
            json!({"name": name, "log": {"intervalSeconds": interval}}),
            json!(format!("message of {name}")),
        )
    };
    let a = throttled("a", 3600);
    let b = throttled("b", 3600);
    let every = throttled("every", 0);
    assert_eq!(
        exec.execute("a", &a, &no_events(), None)
            .await
            .unwrap()
            .summary,
        "logged"
    );
    let skipped = exec.execute("a", &a, &no_events(), None).await.unwrap();
    assert!(skipped.summary.starts_with("not logged"), "{skipped:?}");
    exec.execute("b", &b, &no_events(), None).await.unwrap();
    exec.execute("every", &every, &no_events(), None)
        .await
        .unwrap();
    exec.execute("every", &every, &no_events(), None)
        .await
        .unwrap();
    let logs = sink.logs.lock().unwrap().clone();
    assert_eq!(
        logs,
        vec![
            ("a".to_owned(), "message of a".to_owned()),
            ("b".to_owned(), "message of b".to_owned()),
            ("every".to_owned(), "message of every".to_owned()),
            ("every".to_owned(), "message of every".to_owned()),
        ]
    );
}

#[tokio::test]
async fn unsupported_kinds_say_what_is_supported() {
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let kafka = rendered(
        json!({"name": "k", "kafka": {"url": "127.0.0.1:9092", "topic": "t"}}),
        json!({"url": "127.0.0.1:9092", "topic": "t"}),
    );
    let err = exec
        .execute("k", &kafka, &no_events(), None)
        .await
        .unwrap_err();
    assert!(matches!(&err, TriggerError::Unsupported { kind } if kind == "kafka"));
    assert_eq!(
        err.to_string(),
        "the kafka trigger is not supported yet; supported kinds: k8s, argoWorkflow, http, nats, log"
    );
    assert!(!err.is_retryable());
}

fn nats_rendered(url: &str, auth: Value, payload: Option<Value>) -> super::Rendered {
    let mut spec = json!({"url": url, "subject": "orders.created"});
    if !auth.is_null() {
        spec["auth"] = auth;
    }
    let mut output = spec.clone();
    if let Some(p) = payload {
        output["payload"] = p;
    }
    rendered(json!({"name": "publish", "nats": spec}), output)
}

#[tokio::test]
async fn nats_publishes_the_payload_on_the_subject() {
    let server = NatsServer::start(&[]).await;
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let client = async_nats::connect(&server.url).await.unwrap();
    let mut sub = client.subscribe("orders.created").await.unwrap();
    client.flush().await.unwrap();

    let cases = [
        (
            json!({"id": 7, "items": ["a"]}),
            br#"{"id":7,"items":["a"]}"#.to_vec(),
        ),
        (json!("raw text"), b"raw text".to_vec()),
    ];
    for (payload, want) in cases {
        let done = exec
            .execute(
                "publish",
                &nats_rendered(&server.url, Value::Null, Some(payload)),
                &no_events(),
                None,
            )
            .await
            .unwrap();
        assert!(
            done.summary
                .contains("on orders.created at nats://127.0.0.1")
        );
        let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("message within 5 s")
            .unwrap();
        assert_eq!(msg.payload.to_vec(), want);
    }
    // The connection is cached per URL.
    assert_eq!(exec.nats.lock().await.len(), 1);
}

#[tokio::test]
async fn nats_token_auth_and_refusals() {
    let server = NatsServer::start(&["--auth", "tok-123"]).await;
    let (exec, _) = executor(
        KubeTarget::Print,
        secrets(&[("nats", "token", "tok-123"), ("bad", "token", "wrong")]),
    );
    let observer = async_nats::ConnectOptions::with_token("tok-123".into())
        .connect(&server.url)
        .await
        .unwrap();
    let mut sub = observer.subscribe("orders.created").await.unwrap();
    observer.flush().await.unwrap();

    let token = json!({"token": {"name": "nats", "key": "token"}});
    exec.execute(
        "publish",
        &nats_rendered(&server.url, token, Some(json!({"ok": true}))),
        &no_events(),
        None,
    )
    .await
    .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.payload.as_ref(), br#"{"ok":true}"#);

    let bad = json!({"token": {"name": "bad", "key": "token"}});
    let err = exec
        .execute(
            "publish",
            &nats_rendered(&server.url, bad, Some(json!({}))),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::NatsConnect { .. }), "{err}");
    assert!(err.is_retryable());

    let refusals = [
        (
            json!({"nkey": {"name": "n", "key": "seed"}}),
            Some(json!({})),
            "nats.auth.nkey is not supported yet",
        ),
        (
            json!({"credential": {"name": "n", "key": "creds"}}),
            Some(json!({})),
            "nats.auth.credential is not supported yet",
        ),
        (Value::Null, None, "payload parameters are not specified"),
    ];
    for (auth, payload, want) in refusals {
        let err = exec
            .execute(
                "publish",
                &nats_rendered(&server.url, auth, payload),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn nats_unreachable_server_is_retryable() {
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let url = format!("nats://127.0.0.1:{}", free_port());
    let err = exec
        .execute(
            "publish",
            &nats_rendered(&url, Value::Null, Some(json!({}))),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::NatsConnect { .. }), "{err}");
    assert!(err.to_string().contains(&url));
    assert!(err.is_retryable());
}
