//! The argoWorkflow trigger against the in-memory API server of `support`.

use serde_json::{Value, json};

use super::support::*;
use crate::triggers::{KubeTarget, TriggerError};

const WORKFLOWS: &str = "/apis/argoproj.io/v1alpha1/namespaces/argo-events/workflows";

fn workflow(operation: &str, object: Value, args: &[&str]) -> crate::triggers::Rendered {
    rendered(
        json!({"name": "wf", "argoWorkflow": {
            "operation": operation, "args": args, "source": {"resource": object.clone()}
        }}),
        object,
    )
}

fn wf_object(kind: &str, meta: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": meta,
           "spec": {"entrypoint": "main"}})
}

#[tokio::test]
async fn workflow_submit_creates_the_workflow_with_labels() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let object = wf_object("Workflow", json!({"generateName": "build-"}));
    let done = exec
        .execute("wf", &workflow("submit", object, &[]), &no_events(), None)
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "created argoproj.io/v1alpha1 Workflow argo-events/build-x0001"
    );
    let requests = api.requests.lock().unwrap().clone();
    assert_eq!(
        requests.len(),
        1,
        "no discovery for Workflows: {requests:?}"
    );
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, WORKFLOWS);
    assert_trigger_labels(&requests[0].body, "wf");
    assert_eq!(requests[0].body["spec"], json!({"entrypoint": "main"}));

    let err = exec
        .execute(
            "wf",
            &workflow(
                "submit",
                wf_object("WorkflowTemplate", json!({"name": "t"})),
                &[],
            ),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("submit needs a Workflow object, got kind \"WorkflowTemplate\""),
        "{err}"
    );
}

#[tokio::test]
async fn workflow_submit_from_templates_and_cron_workflows() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));

    let cases = [
        (
            "WorkflowTemplate",
            json!({"name": "tmpl"}),
            "workflows.argoproj.io/workflow-template",
        ),
        (
            "ClusterWorkflowTemplate",
            json!({"name": "tmpl", "clusterScope": true}),
            "workflows.argoproj.io/cluster-workflow-template",
        ),
    ];
    for (kind, template_ref, label) in cases {
        exec.execute(
            "wf",
            &workflow("submit-from", wf_object(kind, json!({"name": "tmpl"})), &[]),
            &no_events(),
            None,
        )
        .await
        .unwrap();
        let post = api.writes_and_reads().pop().unwrap();
        assert_eq!(
            (post.method.as_str(), post.path.as_str()),
            ("POST", WORKFLOWS)
        );
        assert_eq!(post.body["kind"], "Workflow");
        assert_eq!(post.body["metadata"]["generateName"], "tmpl-");
        assert_eq!(
            post.body["spec"],
            json!({"workflowTemplateRef": template_ref})
        );
        assert_eq!(post.body["metadata"]["labels"][label], "tmpl", "{kind}");
        assert_trigger_labels(&post.body, "wf");
    }

    api.put(
        "/apis/argoproj.io/v1alpha1/namespaces/argo-events/cronworkflows/nightly",
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow",
            "metadata": {"name": "nightly", "namespace": "argo-events", "uid": "cron-uid"},
            "spec": {"schedule": "0 1 * * *",
                     "workflowSpec": {"entrypoint": "nightly-main"},
                     "workflowMetadata": {"labels": {"team": "a"}}},
        }),
    );
    let source = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": {"name": "nightly"}});
    let done = exec
        .execute(
            "wf",
            &workflow("submit-from", source, &[]),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert!(
        done.summary
            .starts_with("created argoproj.io/v1alpha1 Workflow argo-events/nightly-")
    );
    let post = api.writes_and_reads().pop().unwrap();
    assert_eq!(post.body["spec"], json!({"entrypoint": "nightly-main"}));
    assert_eq!(post.body["metadata"]["generateName"], "nightly-");
    assert_eq!(post.body["metadata"]["labels"]["team"], "a");
    assert_eq!(
        post.body["metadata"]["labels"]["workflows.argoproj.io/cron-workflow"],
        "nightly"
    );
    assert_eq!(
        post.body["metadata"]["ownerReferences"][0]["uid"],
        "cron-uid"
    );
    assert_eq!(
        post.body["metadata"]["ownerReferences"][0]["controller"],
        true
    );

    let err = exec
        .execute(
            "wf",
            &workflow(
                "submit-from",
                wf_object("Workflow", json!({"name": "w"})),
                &[],
            ),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("got kind \"Workflow\""), "{err}");
}

#[tokio::test]
async fn workflow_suspend_resume_terminate_stop_patch_the_workflow() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    api.put(
        &format!("{WORKFLOWS}/build-1"),
        wf_object("Workflow", json!({"name": "build-1"})),
    );
    let cases = [
        ("suspend", json!({"spec": {"suspend": true}}), "suspended"),
        ("resume", json!({"spec": {"suspend": null}}), "resumed"),
        (
            "terminate",
            json!({"spec": {"shutdown": "Terminate"}}),
            "terminated",
        ),
        ("stop", json!({"spec": {"shutdown": "Stop"}}), "stopped"),
    ];
    for (operation, body, verb) in cases {
        let source = wf_object("Workflow", json!({"name": "build-1"}));
        let done = exec
            .execute("wf", &workflow(operation, source, &[]), &no_events(), None)
            .await
            .unwrap();
        assert_eq!(
            done.summary,
            format!("{verb} argoproj.io/v1alpha1 Workflow argo-events/build-1")
        );
        let sent = api.writes_and_reads().pop().unwrap();
        assert_eq!(sent.method, "PATCH");
        assert_eq!(sent.path, format!("{WORKFLOWS}/build-1"));
        assert_eq!(sent.content_type, "application/merge-patch+json");
        assert_eq!(sent.body, body, "{operation}");
    }
    let stored = api.object(&format!("{WORKFLOWS}/build-1")).unwrap();
    assert_eq!(stored["spec"]["shutdown"], "Stop");
    assert_eq!(stored["spec"].get("suspend"), None, "resume cleared it");

    let err = exec
        .execute(
            "wf",
            &workflow(
                "suspend",
                wf_object("Workflow", json!({"name": "missing"})),
                &[],
            ),
            &no_events(),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("suspend argoproj.io/v1alpha1 Workflow argo-events/missing failed"),
        "{err}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn workflow_operations_that_cannot_work_say_why() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let named = || wf_object("Workflow", json!({"name": "build-1"}));
    for operation in ["retry", "resubmit"] {
        let err = exec
            .execute("wf", &workflow(operation, named(), &[]), &no_events(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, TriggerError::WorkflowOperation { .. }),
            "{err}"
        );
        let text = err.to_string();
        assert!(text.contains("needs the Argo Server API"), "{text}");
        assert!(text.contains("`submit` of a new Workflow"), "{text}");
        assert!(!err.is_retryable());
    }
    let cases = [
        (
            "submit",
            named(),
            vec!["--watch"],
            "argo CLI arguments, which do not apply",
        ),
        ("", named(), vec![], "argoWorkflow.operation must be set"),
        (
            "restart",
            named(),
            vec![],
            "unknown argoWorkflow operation \"restart\"",
        ),
        (
            "suspend",
            wf_object("Workflow", json!({"generateName": "b-"})),
            vec![],
            "failed to execute the workflow suspend operation, no name is given",
        ),
        (
            "submit",
            wf_object("Workflow", json!({})),
            vec![],
            "neither name nor generateName is given",
        ),
    ];
    for (operation, object, args, want) in cases {
        let err = exec
            .execute(
                "wf",
                &workflow(operation, object, &args),
                &no_events(),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(want), "{operation}: {err}");
        assert!(!err.is_retryable());
    }
    assert!(api.requests.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn workflow_print_mode_prints_objects_and_patches() {
    let (exec, sink) = executor(KubeTarget::Print, secrets(&[]));
    exec.execute(
        "wf",
        &workflow(
            "submit",
            wf_object("Workflow", json!({"generateName": "build-"})),
            &[],
        ),
        &no_events(),
        None,
    )
    .await
    .unwrap();
    exec.execute(
        "wf",
        &workflow(
            "submit-from",
            wf_object("WorkflowTemplate", json!({"name": "tmpl"})),
            &[],
        ),
        &no_events(),
        None,
    )
    .await
    .unwrap();
    let done = exec
        .execute(
            "wf",
            &workflow(
                "terminate",
                wf_object("Workflow", json!({"name": "build-1"})),
                &[],
            ),
            &no_events(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "printed terminate of argoproj.io/v1alpha1 Workflow argo-events/build-1"
    );
    let printed = sink.printed.lock().unwrap().clone();
    assert_eq!(printed.len(), 3);
    assert_eq!(printed[0].1, "submit");
    assert_eq!(printed[0].2["metadata"]["namespace"], "argo-events");
    assert_trigger_labels(&printed[0].2, "wf");
    assert_eq!(printed[1].1, "submit-from");
    assert_eq!(
        printed[1].2["spec"]["workflowTemplateRef"],
        json!({"name": "tmpl"})
    );
    assert_eq!(printed[2].1, "terminate");
    assert_eq!(
        printed[2].2,
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
               "metadata": {"name": "build-1", "namespace": "argo-events"},
               "spec": {"shutdown": "Terminate"}})
    );
}

#[tokio::test]
async fn workflow_policy_polls_the_created_workflow() {
    let (client, api) = fake_apiserver().await;
    let (exec, _) = executor(KubeTarget::Client(client), secrets(&[]));
    let labelled = json!({"generateName": "build-", "labels": {"phase": "done"}});
    let matched = label_policy(json!({"phase": "done"}), true);
    let done = exec
        .execute(
            "wf",
            &workflow("submit", wf_object("Workflow", labelled.clone()), &[]),
            &no_events(),
            Some(&matched),
        )
        .await
        .unwrap();
    assert_eq!(
        done.summary,
        "created argoproj.io/v1alpha1 Workflow argo-events/build-x0001"
    );
    let last = api.writes_and_reads().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", format!("{WORKFLOWS}/build-x0001").as_str())
    );

    let never = label_policy(json!({"phase": "never"}), true);
    let err = exec
        .execute(
            "wf",
            &workflow("submit", wf_object("Workflow", labelled), &[]),
            &no_events(),
            Some(&never),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::PolicyTimeout { .. }), "{err}");
    assert!(
        err.to_string().contains("Workflow argo-events/build-x0002"),
        "{err}"
    );
}
