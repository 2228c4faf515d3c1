//! The GitLab source over real HTTP on loopback.

use serde_json::json;

use crate::support::*;

fn gitlab(port: u16, events: serde_json::Value) -> argo_events_api::EventSource {
    event_source(
        "gl",
        json!({"gitlab": {"mr": {
            "projects": ["group/project"],
            "webhook": {"endpoint": "/gitlab", "port": port.to_string(), "method": "POST",
                        "url": "https://hooks.example.com"},
            "events": events,
            "accessToken": {"name": "gitlab", "key": "access"},
            "secretToken": {"name": "gitlab", "key": "token"},
            "gitlabBaseURL": "https://gitlab.example.com",
        }}}),
    )
}

fn start(port: u16, events: serde_json::Value) -> Harness {
    let setup = Setup {
        secrets: secrets(&[("gitlab", "token", "gl-token")]),
        ..Setup::default()
    };
    Harness::start_with(gitlab(port, events), setup)
}

#[tokio::test]
async fn the_secret_token_must_match() {
    let port = free_port();
    let h = start(port, json!(["PushEvents"]));
    wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/gitlab");
    for (token, status, text) in [
        (None, 400, "token mismatch"),
        (Some("gl-token-but-longer"), 400, "token mismatch"),
        (Some("wrong"), 400, "token mismatch"),
        (Some("gl-token"), 200, "success"),
    ] {
        let mut request = client()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-gitlab-event", "Push Hook")
            .body(r#"{"object_kind": "push", "ref": "refs/heads/main"}"#);
        if let Some(t) = token {
            request = request.header("x-gitlab-token", t);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{token:?}");
        assert_eq!(r.text().await.unwrap(), text);
    }
    let events = h.bus.events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.source.as_str(), e.subject.as_str(), e.type_.as_str()),
        ("gl", "mr", "gitlab")
    );
    let d = data(e);
    assert_eq!(
        d["body"],
        json!({"object_kind": "push", "ref": "refs/heads/main"})
    );
    assert_eq!(d["headers"]["X-Gitlab-Event"], json!(["Push Hook"]));
    assert_eq!(d["headers"]["X-Gitlab-Token"], json!(["gl-token"]));
    assert!(d.get("metadata").is_none());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn only_configured_hook_events_are_published() {
    let port = free_port();
    let h = start(
        port,
        json!(["PushEvents", "MergeRequestsEvents", "TagPushEvents"]),
    );
    wait_listening(port).await;
    let url = format!("http://127.0.0.1:{port}/gitlab");
    for (header, published) in [
        ("Push Hook", true),
        ("Issue Hook", false),
        ("Merge Request Hook", true),
        ("Pipeline Hook", false),
        ("Tag Push Hook", true),
        ("", false),
    ] {
        let r = client()
            .post(&url)
            .header("x-gitlab-token", "gl-token")
            .header("x-gitlab-event", header)
            .body(r#"{"k": 1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{header}");
        assert_eq!(r.text().await.unwrap() == "success", published, "{header}");
    }
    let published: Vec<String> = h
        .bus
        .events()
        .iter()
        .map(|e| {
            data(e)["headers"]["X-Gitlab-Event"][0]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        published,
        ["Push Hook", "Merge Request Hook", "Tag Push Hook"]
    );
    assert_eq!(h.observer.rejected().len(), 3);

    let r = client()
        .post(&url)
        .header("x-gitlab-token", "gl-token")
        .header("x-gitlab-event", "Push Hook")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid event"));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_hook_events_are_refused() {
    let err = start_error(
        gitlab(free_port(), json!(["PushEvents", "PushHook"])),
        secrets(&[("gitlab", "token", "t")]),
    )
    .await;
    assert!(
        err.contains("gitlab event mr: unknown GitLab hook event \"PushHook\""),
        "{err}"
    );
    assert!(
        err.contains("MergeRequestsEvents"),
        "lists the known names: {err}"
    );
}
