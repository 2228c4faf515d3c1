//! The k8s trigger against the in-memory API server of `support`.

use std::collections::BTreeMap;

use argo_events_api::cloudevent::Event;
use serde_json::{Value, json};

use super::support::*;
use crate::triggers::{KubeTarget, TriggerError};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/argo-events/deployments";
const CONFIGMAPS: &str = "/api/v1/namespaces/argo-events/configmaps";

fn k8s(operation: &str, object: Value, extra: Value) -> crate::triggers::Rendered {
    let mut spec = json!({"operation": operation, "source": {"resource": object.clone()}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    rendered(json!({"name": "deploy", "k8s": spec}), object)
}

fn configmap(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

#[tokio::test]
async fn k8s_create_with_generate_name_defaults_namespace_and_adds_labels() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let object = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"generateName": "web-", "labels": {"app": "web"}},
        "spec": {"replicas": 1},
    });
    let rendered = k8s("create", object, json!({}));
    let done = exec
        .execute("deploy", &rendered, &no_events(), None)
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "created apps/v1 Deployment argo-events/web-x0001"
    );
    let stored = api.object(&format!("{DEPLOYMENTS}/web-x0001")).unwrap();
    assert_trigger_labels(&stored, "deploy");
    assert_eq!(stored["metadata"]["labels"]["app"], "web");
    assert_eq!(stored["metadata"]["namespace"], "argo-events");
    assert_eq!(stored["spec"]["replicas"], 1);

    exec.execute("deploy", &rendered, &no_events(), None)
        .await
        .unwrap();
    let requests = api.requests.lock().unwrap().clone();
    let discovery: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "/apis/apps/v1")
        .collect();
    assert_eq!(discovery.len(), 1, "discovery is cached per kind");
    let posts: Vec<_> = requests.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].path, DEPLOYMENTS);
    assert!(posts[0].query.contains("fieldManager=argo-events-sensor"));
}

#[tokio::test]
async fn k8s_cluster_scoped_objects_get_no_namespace() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "namespace": "ignored"}});
    let done = exec
        .execute(
            "deploy",
            &k8s("create", object, json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.summary, "created v1 Namespace team-a");
    let post = api.writes_and_reads().pop().unwrap();
    assert_eq!(post.path, "/api/v1/namespaces");
    assert_eq!(post.body["metadata"].get("namespace"), None);
}

#[tokio::test]
async fn k8s_update_merges_over_the_live_object_or_creates_it() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));

    let absent = configmap("fresh", json!({"a": "1"}));
    let done = exec
        .execute(
            "deploy",
            &k8s("update", absent, json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "created (absent for update) v1 ConfigMap argo-events/fresh"
    );

    let mut live = configmap("settings", json!({"a": "1", "b": "2"}));
    live["metadata"] = json!({"name": "settings", "namespace": "argo-events", "labels": {"keep": "yes"}, "resourceVersion": "7"});
    api.put(&format!("{CONFIGMAPS}/settings"), live);
    let update = configmap("settings", json!({"b": "20", "c": "3"}));
    let done = exec
        .execute(
            "deploy",
            &k8s("update", update, json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.summary, "updated v1 ConfigMap argo-events/settings");
    let put = api.writes_and_reads().pop().unwrap();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.path, format!("{CONFIGMAPS}/settings"));
    assert_eq!(put.body["data"], json!({"a": "1", "b": "20", "c": "3"}));
    assert_eq!(put.body["metadata"]["labels"], json!({"keep": "yes"}));
    assert_eq!(
        put.body["metadata"]["resourceVersion"], "7",
        "optimistic lock kept"
    );
}

#[tokio::test]
async fn k8s_update_live_object_applies_parameters_to_the_cluster_copy() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    api.put(
        &format!("{CONFIGMAPS}/counter"),
        configmap("counter", json!({"count": "1", "other": "x"})),
    );
    let mut events = BTreeMap::new();
    events.insert(
        "dep".to_owned(),
        Event {
            id: "1".into(),
            source: "es".into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: "application/json".into(),
            subject: "e".into(),
            time: None,
            trace: Default::default(),
            data: b"{}".to_vec(),
        },
    );
    let extra = json!({"liveObject": true, "parameters": [
        {"src": {"dependencyName": "dep", "value": "5"}, "dest": "data.count"}
    ]});
    let source = configmap("counter", json!({}));
    exec.execute("deploy", &k8s("update", source, extra), &events, None)
        .await
        .unwrap();
    let put = api.writes_and_reads().pop().unwrap();
    assert_eq!(put.method, "PUT");
    assert_eq!(put.body["data"], json!({"count": "5", "other": "x"}));
}

#[tokio::test]
async fn k8s_patch_strategies() {
    // (patchStrategy, content type sent, query must contain)
    let cases = [
        (
            "",
            "application/merge-patch+json",
            "fieldManager=argo-events-sensor",
        ),
        (
            "application/merge-patch+json",
            "application/merge-patch+json",
            "fieldManager=argo-events-sensor",
        ),
        (
            "application/strategic-merge-patch+json",
            "application/strategic-merge-patch+json",
            "fieldManager=argo-events-sensor",
        ),
        (
            "application/apply-patch+yaml",
            "application/apply-patch+yaml",
            "force=true",
        ),
    ];
    for (strategy, content_type, query) in cases {
        let (client, api) = fake_apiserver().await;
        let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
        api.put(
            &format!("{CONFIGMAPS}/cfg"),
            configmap("cfg", json!({"a": "1"})),
        );
        let patch = configmap("cfg", json!({"b": "2"}));
        let done = exec
            .execute(
                "deploy",
                &k8s("patch", patch, json!({"patchStrategy": strategy})),
                &no_events(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(done.summary, "patched v1 ConfigMap argo-events/cfg");
        let sent = api.writes_and_reads().pop().unwrap();
        assert_eq!(sent.method, "PATCH", "{strategy}");
        assert_eq!(sent.content_type, content_type, "{strategy}");
        assert!(sent.query.contains(query), "{strategy}: {}", sent.query);
        assert_eq!(sent.body["data"], json!({"b": "2"}));
        assert_eq!(
            api.object(&format!("{CONFIGMAPS}/cfg")).unwrap()["data"],
            json!({"a": "1", "b": "2"})
        );
    }
}

#[tokio::test]
async fn k8s_patch_creates_absent_objects_and_refuses_bad_strategies() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let done = exec
        .execute(
            "deploy",
            &k8s("patch", configmap("new", json!({"a": "1"})), json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "created (absent for patch) v1 ConfigMap argo-events/new"
    );
    assert_eq!(api.writes_and_reads().pop().unwrap().method, "POST");

    let before = api.requests.lock().unwrap().len();
    for (strategy, want) in [
        ("application/json-patch+json", "needs a JSON Patch"),
        ("text/plain", "unknown patchStrategy \"text/plain\""),
    ] {
        let err = exec
            .execute(
                "deploy",
                &k8s(
                    "patch",
                    configmap("new", json!({})),
                    json!({"patchStrategy": strategy}),
                ),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert!(!err.is_retryable());
    }
    assert_eq!(api.requests.lock().unwrap().len(), before, "nothing sent");
}

#[tokio::test]
async fn k8s_delete_of_an_absent_object_succeeds() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let done = exec
        .execute(
            "deploy",
            &k8s("delete", configmap("gone", json!({})), json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "nothing to delete: v1 ConfigMap argo-events/gone not found"
    );
    assert!(api.writes_and_reads().iter().all(|r| r.method != "DELETE"));

    api.put(&format!("{CONFIGMAPS}/old"), configmap("old", json!({})));
    let done = exec
        .execute(
            "deploy",
            &k8s("delete", configmap("old", json!({})), json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.summary, "deleted v1 ConfigMap argo-events/old");
    assert_eq!(api.writes_and_reads().pop().unwrap().method, "DELETE");
    assert!(api.object(&format!("{CONFIGMAPS}/old")).is_none());
}

#[tokio::test]
async fn k8s_api_errors_are_classified() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    {
        let mut fail = api.fail.lock().unwrap();
        fail.insert("locked".into(), 403);
        fail.insert("invalid".into(), 422);
        fail.insert("busy".into(), 409);
        fail.insert("down".into(), 503);
        fail.insert("broken".into(), 500);
    }
    let cases = [
        ("locked", false),
        ("invalid", false),
        ("busy", true),
        ("down", true),
        ("broken", true),
    ];
    for (name, retryable) in cases {
        let err = exec
            .execute(
                "deploy",
                &k8s("create", configmap(name, json!({})), json!({})),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, TriggerError::Kube { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&format!("create v1 ConfigMap argo-events/{name} failed")),
            "{err}"
        );
        assert_eq!(err.is_retryable(), retryable, "{name}: {err}");
    }
    for (api_version, kind) in [("apps/v1", "Widget"), ("example.com/v1", "Gadget")] {
        let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}});
        let err = exec
            .execute(
                "deploy",
                &k8s("create", object, json!({})),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("discover {api_version} {kind} failed")),
            "{err}"
        );
        assert!(!err.is_retryable(), "{err}");
    }
}

#[tokio::test]
async fn k8s_policy_waits_for_labels() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let object = |name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "labels": {"phase": "done"}}})
    };

    let matched = label_policy(json!({"phase": "done"}), true);
    let done = exec
        .execute(
            "deploy",
            &k8s("create", object("a"), json!({})),
            &no_events(),
            Some(&matched),
        )
        .await
        .unwrap();
    assert_eq!(done.summary, "created v1 ConfigMap argo-events/a");

    let never = label_policy(json!({"phase": "never"}), true);
    let err = exec
        .execute(
            "deploy",
            &k8s("create", object("b"), json!({})),
            &no_events(),
            Some(&never),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, TriggerError::PolicyTimeout { attempts: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("phase=never"), "{err}");
    let polls = api
        .writes_and_reads()
        .iter()
        .filter(|r| r.method == "GET" && r.path == format!("{CONFIGMAPS}/b"))
        .count();
    assert_eq!(polls, 2);

    let lenient = label_policy(json!({"phase": "never"}), false);
    let done = exec
        .execute(
            "deploy",
            &k8s("create", object("c"), json!({})),
            &no_events(),
            Some(&lenient),
        )
        .await
        .unwrap();
    assert!(done.summary.contains("not seen after 2 checks"), "{done:?}");
}

#[tokio::test]
async fn k8s_print_mode_and_unavailable_api() {
    let (exec, sink) = executor(KubeTarget::Print, secrets(&[]));
    let object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generateName": "web-"}});
    let done = exec
        .execute(
            "deploy",
            &k8s("create", object, json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "printed create of apps/v1 Deployment argo-events/web-"
    );
    let printed = sink.printed.lock().unwrap().clone();
    assert_eq!(printed.len(), 1);
    let (trigger, operation, resource) = &printed[0];
    assert_eq!((trigger.as_str(), operation.as_str()), ("deploy", "create"));
    assert_eq!(resource["metadata"]["namespace"], "argo-events");
    assert_trigger_labels(resource, "deploy");

    let (exec, _) = executor(
        KubeTarget::Unavailable("no kubeconfig found".into()),
        secrets(&[]),
    );
    let err = exec
        .execute(
            "deploy",
            &k8s("create", configmap("x", json!({})), json!({})),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "trigger deploy: no Kubernetes API server: no kubeconfig found"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn k8s_invalid_objects_and_operations() {
    let (exec, _) = executor(KubeTarget::Print, secrets(&[]));
    let cases = [
        (
            "create",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
            "neither metadata.name nor metadata.generateName",
        ),
        (
            "update",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "a-"}}),
            "update needs metadata.name",
        ),
        (
            "create",
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}}),
            "needs apiVersion and kind",
        ),
        (
            "replace",
            configmap("a", json!({})),
            "unknown k8s operation \"replace\"",
        ),
    ];
    for (operation, object, want) in cases {
        let err = exec
            .execute(
                "deploy",
                &k8s(operation, object, json!({})),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
        assert!(!err.is_retryable());
    }
}
