//! The GitHub source over real HTTP on loopback.

use argo_events_eventsource::github::sign_sha256;
use serde_json::json;

use crate::support::*;

const SECRET: &str = "gh-hook-secret";

fn github(port: u16, events: serde_json::Value) -> argo_events_api::EventSource {
    event_source(
        "gh",
        json!({"github": {"repo": {
            "repositories": [{"owner": "argoproj", "names": ["argo-events"]}],
            "webhook": {"endpoint": "/push", "port": port.to_string(), "method": "POST"},
            "events": events,
            "webhookSecret": {"name": "github", "key": "secret"},
            "metadata": {"via": "github"},
        }}}),
    )
}

fn start(port: u16, events: serde_json::Value) -> Harness {
    let setup = Setup {
        secrets: secrets(&[("github", "secret", SECRET)]),
        ..Setup::default()
    };
    Harness::start_with(github(port, events), setup)
}

fn sign_sha1(secret: &[u8], body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha1={hex}")
}

#[tokio::test]
async fn signed_deliveries_are_published_with_event_keys() {
    let port = free_port();
    let h = start(port, json!(["push"]));
    wait_listening(port).await;
    let body = r#"{"ref": "refs/heads/main", "after": "abc"}"#;
    let r = client()
        .post(format!("http://127.0.0.1:{port}/push"))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", "d-1")
        .header(
            "x-hub-signature-256",
            sign_sha256(SECRET.as_bytes(), body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "success");
    let events = h.bus.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.source.as_str(), e.subject.as_str(), e.type_.as_str()),
        ("gh", "repo", "github")
    );
    let d = data(e);
    assert_eq!(
        d["body"],
        json!({"ref": "refs/heads/main", "after": "abc", "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"})
    );
    assert_eq!(d["headers"]["X-Github-Event"], json!(["push"]));
    assert_eq!(d["headers"]["X-Github-Delivery"], json!(["d-1"]));
    assert_eq!(d["metadata"], json!({"via": "github"}));
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["headers", "body", "metadata"]);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn signatures_are_checked() {
    let port = free_port();
    let h = start(port, json!([]));
    wait_listening(port).await;
    let body = r#"{"zen": "Keep it logically awesome."}"#;
    let url = format!("http://127.0.0.1:{port}/push");
    let good256 = sign_sha256(SECRET.as_bytes(), body.as_bytes());
    let good1 = sign_sha1(SECRET.as_bytes(), body.as_bytes());
    let bad256 = sign_sha256(b"other secret", body.as_bytes());
    type Case<'a> = (Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], 400, "missing signature"),
        (
            vec![("x-hub-signature-256", bad256.clone())],
            400,
            "payload signature check failed",
        ),
        (
            vec![("x-hub-signature-256", "sha256=zz".into())],
            400,
            "error decoding signature",
        ),
        (
            vec![("x-hub-signature", good1.replace("sha1=", "sha1=0"))],
            400,
            "error decoding signature",
        ),
        // The SHA-256 header wins over a valid SHA-1 one.
        (
            vec![
                ("x-hub-signature-256", bad256),
                ("x-hub-signature", good1.clone()),
            ],
            400,
            "payload signature check failed",
        ),
        (vec![("x-hub-signature", good1)], 200, "success"),
        (vec![("x-hub-signature-256", good256)], 200, "success"),
    ];
    for (headers, status, text) in cases {
        let mut request = client()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "ping")
            .body(body);
        for (k, v) in &headers {
            request = request.header(*k, v);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{headers:?}");
        let got = r.text().await.unwrap();
        assert!(got.contains(text), "{got:?} should contain {text:?}");
    }
    assert_eq!(
        h.bus.events().len(),
        2,
        "only the correctly signed deliveries"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn form_encoded_deliveries_and_non_object_bodies() {
    let port = free_port();
    let h = start(port, json!(["*"]));
    wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/push");
    let send = |content_type: &'static str, body: String| {
        let signature = sign_sha256(SECRET.as_bytes(), body.as_bytes());
        client()
            .post(&url)
            .header("content-type", content_type)
            .header("x-github-event", "issues")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
    };
    let r = send(
        "application/x-www-form-urlencoded",
        "payload=%7B%22action%22%3A%22opened%22%7D".into(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        data(&h.bus.events()[0])["body"],
        json!({"action": "opened", "X-GitHub-Event": "issues", "X-GitHub-Delivery": ""})
    );
    for (content_type, body, text) in [
        ("application/json", "[1, 2]", "not a JSON object"),
        ("application/json", "null", "not a JSON object"),
        (
            "text/plain",
            "{}",
            "unsupported Content-Type \"text/plain\"",
        ),
    ] {
        let r = send(content_type, body.into()).await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        assert!(r.text().await.unwrap().contains(text));
    }
    assert_eq!(h.bus.events().len(), 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn unlisted_event_types_are_answered_but_not_published() {
    let port = free_port();
    let h = start(port, json!(["push", "pull_request"]));
    wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/push");
    let body = "{}";
    for (event_type, published) in [
        ("ping", false),
        ("push", true),
        ("issues", false),
        ("pull_request", true),
    ] {
        let r = client()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", event_type)
            .header(
                "x-hub-signature-256",
                sign_sha256(SECRET.as_bytes(), body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{event_type}");
        let text = r.text().await.unwrap();
        assert_eq!(text == "success", published, "{event_type}: {text}");
    }
    let types: Vec<String> = h
        .bus
        .events()
        .iter()
        .map(|e| {
            data(e)["body"]["X-GitHub-Event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["push", "pull_request"]);
    let rejected = h.observer.rejected();
    assert_eq!(rejected.len(), 2);
    assert!(rejected[0].1.contains("\"ping\""), "{rejected:?}");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_secret_nothing_is_checked() {
    let port = free_port();
    let source = event_source(
        "gh",
        json!({"github": {"repo": {
            "repositories": [{"owner": "o", "names": ["r"]}],
            "webhook": {"endpoint": "/push", "port": port.to_string(), "method": "POST"},
            "apiToken": {"name": "github", "key": "token"},
        }}}),
    );
    let h = Harness::start(source);
    wait_listening(port).await;
    let r = client()
        .post(format!("http://127.0.0.1:{port}/push"))
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(h.bus.events().len(), 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn invalid_github_sources_are_refused() {
    let port = free_port().to_string();
    let cases = [
        (
            json!({"repositories": [{"owner": "o", "names": ["r"]}]}),
            "webhook (endpoint, port, method) is required",
        ),
        (
            json!({"webhook": {"endpoint": "/p", "port": port, "method": "POST"}, "contentType": "xml"}),
            "contentType must be",
        ),
        (
            json!({"webhook": {"endpoint": "/p", "port": port, "method": "POST"}, "webhookSecret": {"name": "nope", "key": "k"}}),
            "webhookSecret: secret nope/k is not available",
        ),
        (
            json!({"webhook": {"endpoint": "/p", "port": port, "method": "POST"}, "filter": {"expression": "true"}}),
            "filter expressions are not supported yet",
        ),
    ];
    for (spec, want) in cases {
        let err = start_error(
            event_source("gh", json!({"github": {"repo": spec}})),
            Default::default(),
        )
        .await;
        assert!(err.contains(want), "{err:?} should contain {want:?}");
        assert!(err.contains("github event repo"), "{err}");
    }
}
