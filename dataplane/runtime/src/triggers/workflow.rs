//! The `argoWorkflow` trigger, through the Kubernetes API instead of upstream's bundled `argo`
//! CLI: what the CLI does for each operation, done on `argoproj.io/v1alpha1` objects.
//!
//! - `submit`: creates the rendered Workflow (`name` or `generateName`) with the three
//!   `events.argoproj.io/*` labels.
//! - `submit-from`: the rendered object names a WorkflowTemplate, ClusterWorkflowTemplate or
//!   CronWorkflow; a Workflow `<name>-…` is created as `argo submit --from` creates it: a
//!   `workflowTemplateRef` (with the `workflows.argoproj.io/(cluster-)workflow-template`
//!   label), or — for a CronWorkflow, read from the cluster — its `spec.workflowSpec` with its
//!   workflow metadata, the `workflows.argoproj.io/cron-workflow` label and an owner reference.
//!   Beyond upstream, it also gets the three `events.argoproj.io/*` labels.
//! - `suspend` / `resume` / `terminate` / `stop`: merge patches of the named Workflow
//!   (`spec.suspend: true` / `spec.suspend: null` / `spec.shutdown: Terminate|Stop`). `resume`
//!   clears a workflow-level suspension only; nodes paused by a `suspend` template need the
//!   Argo Server.
//! - `retry` / `resubmit` need the Argo Server's API and fail with a clear, non-retryable error;
//!   so do non-empty `args` (CLI arguments).

use argo_events_api::TriggerPolicy;
use argo_events_engine::render::Rendered;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::k8s::{await_labels, set_namespace, to_dynamic, to_value};
use super::{
    ActionResult, Executor, FIELD_MANAGER, KubeTarget, TriggerError, add_trigger_labels, invalid,
    meta_str, qualified, top_str,
};

const API_VERSION: &str = "argoproj.io/v1alpha1";
const LABEL_WORKFLOW_TEMPLATE: &str = "workflows.argoproj.io/workflow-template";
const LABEL_CLUSTER_WORKFLOW_TEMPLATE: &str = "workflows.argoproj.io/cluster-workflow-template";
const LABEL_CRON_WORKFLOW: &str = "workflows.argoproj.io/cron-workflow";
const LABEL_CONTROLLER_INSTANCE_ID: &str = "workflows.argoproj.io/controller-instanceid";
const ANNOTATION_CRON_SCHEDULED_TIME: &str = "workflows.argoproj.io/scheduled-time";

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub(super) async fn execute(
    exec: &Executor,
    trigger: &str,
    rendered: &Rendered,
    policy: Option<&TriggerPolicy>,
) -> Result<ActionResult, TriggerError> {
    let spec = rendered
        .template
        .argo_workflow
        .as_ref()
        .ok_or_else(|| invalid(trigger, "the template has no argoWorkflow action"))?;
    let operation = spec.operation.as_str();
    match operation {
        "submit" | "submit-from" | "suspend" | "resume" | "terminate" | "stop" => {}
        "retry" | "resubmit" => {
            return Err(TriggerError::WorkflowOperation {
                trigger: trigger.to_owned(),
                operation: operation.to_owned(),
            });
        }
        "" => {
            return Err(invalid(
                trigger,
                "argoWorkflow.operation must be set (submit, submit-from, suspend, resume, \
                 terminate or stop)",
            ));
        }
        other => {
            return Err(invalid(
                trigger,
                format!("unknown argoWorkflow operation {other:?}"),
            ));
        }
    }
    if !spec.args.is_empty() {
        return Err(invalid(
            trigger,
            format!(
                "argoWorkflow.args {:?} are argo CLI arguments, which do not apply: this Sensor \
                 drives Workflows through the Kubernetes API",
                spec.args
            ),
        ));
    }
    let object = &rendered.output;
    if !object.is_object() {
        return Err(invalid(trigger, "the rendered resource is not an object"));
    }
    let name = meta_str(object, "name").to_owned();
    let namespace = match meta_str(object, "namespace") {
        "" => exec.ctx.namespace.clone(),
        ns => ns.to_owned(),
    };
    let generated = operation == "submit" && !meta_str(object, "generateName").is_empty();
    if name.is_empty() && !generated {
        return Err(invalid(
            trigger,
            if operation == "submit" {
                "failed to trigger the workflow, neither name nor generateName is given".to_owned()
            } else {
                format!("failed to execute the workflow {operation} operation, no name is given")
            },
        ));
    }

    let client = match &exec.ctx.kube {
        KubeTarget::Unavailable(why) => {
            return Err(TriggerError::KubeUnavailable {
                trigger: trigger.to_owned(),
                why: why.clone(),
            });
        }
        KubeTarget::Print => None,
        KubeTarget::Client(client) => Some(client.clone()),
    };
    let workflows = client.as_ref().map(|c| {
        Api::<DynamicObject>::namespaced_with(
            c.clone(),
            &namespace,
            &resource("Workflow", "workflows"),
        )
    });
    let target = |name: &str| {
        format!(
            "{API_VERSION} Workflow {}",
            qualified(Some(&namespace), name)
        )
    };
    let kube_err = |op: &str, target: String| {
        let operation = op.to_owned();
        move |source| TriggerError::Kube {
            trigger: trigger.to_owned(),
            operation,
            target,
            source: Box::new(source),
        }
    };

    let (verb, created) = match operation {
        "submit" | "submit-from" => {
            let mut workflow = if operation == "submit" {
                let kind = top_str(object, "kind");
                if kind != "Workflow" {
                    return Err(invalid(
                        trigger,
                        format!("submit needs a Workflow object, got kind {kind:?}"),
                    ));
                }
                object.clone()
            } else {
                from_source(trigger, client.as_ref(), object, &name, &namespace).await?
            };
            set_namespace(&mut workflow, Some(&namespace));
            add_trigger_labels(&mut workflow, &exec.ctx.sensor, trigger);
            let Some(api) = &workflows else {
                exec.ctx.sink.print_resource(trigger, operation, &workflow);
                return Ok(ActionResult::new(format!(
                    "printed {operation} of {}",
                    target(super::k8s::display_name(&workflow))
                )));
            };
            let post = PostParams {
                dry_run: false,
                field_manager: Some(FIELD_MANAGER.to_owned()),
            };
            let created = api
                .create(&post, &to_dynamic(trigger, &workflow)?)
                .await
                .map_err(kube_err(
                    "create",
                    target(super::k8s::display_name(&workflow)),
                ))?;
            ("created", created)
        }
        _ => {
            let (verb, patch) = match operation {
                "suspend" => ("suspended", json!({"spec": {"suspend": true}})),
                "resume" => ("resumed", json!({"spec": {"suspend": null}})),
                "terminate" => ("terminated", json!({"spec": {"shutdown": "Terminate"}})),
                _ => ("stopped", json!({"spec": {"shutdown": "Stop"}})),
            };
            let Some(api) = &workflows else {
                let mut shown = json!({
                    "apiVersion": API_VERSION,
                    "kind": "Workflow",
                    "metadata": {"name": name, "namespace": namespace},
                });
                if let (Some(shown), Some(patch)) = (shown.as_object_mut(), patch.as_object()) {
                    shown.extend(patch.clone());
                }
                exec.ctx.sink.print_resource(trigger, operation, &shown);
                return Ok(ActionResult::new(format!(
                    "printed {operation} of {}",
                    target(&name)
                )));
            };
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.to_owned()),
                ..PatchParams::default()
            };
            let patched = api
                .patch(&name, &params, &Patch::Merge(&patch))
                .await
                .map_err(kube_err(operation, target(&name)))?;
            (verb, patched)
        }
    };
    let created_name = created.metadata.name.clone().unwrap_or_default();
    let mut summary = format!("{verb} {}", target(&created_name));
    if let (Some(api), Some(k8s_policy)) = (&workflows, policy.and_then(|p| p.k8s.as_ref()))
        && let Some(note) = await_labels(
            api,
            trigger,
            &created_name,
            &target(&created_name),
            k8s_policy,
        )
        .await?
    {
        summary.push_str(&format!(" ({note})"));
    }
    Ok(ActionResult::new(summary))
}

/// The Workflow `argo submit --from <kind>/<name>` creates.
async fn from_source(
    trigger: &str,
    client: Option<&kube::Client>,
    object: &Value,
    name: &str,
    namespace: &str,
) -> Result<Value, TriggerError> {
    let kind = top_str(object, "kind");
    let workflow_template = |cluster_scope: bool| {
        let label = if cluster_scope {
            LABEL_CLUSTER_WORKFLOW_TEMPLATE
        } else {
            LABEL_WORKFLOW_TEMPLATE
        };
        let mut template_ref = json!({"name": name});
        if cluster_scope {
            template_ref["clusterScope"] = json!(true);
        }
        json!({
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": {"generateName": format!("{name}-"), "labels": {label: name}},
            "spec": {"workflowTemplateRef": template_ref},
        })
    };
    match kind.to_ascii_lowercase().as_str() {
        "workflowtemplate" => Ok(workflow_template(false)),
        "clusterworkflowtemplate" => Ok(workflow_template(true)),
        "cronworkflow" => {
            let cron = match client {
                Some(client) => {
                    let api = Api::<DynamicObject>::namespaced_with(
                        client.clone(),
                        namespace,
                        &resource("CronWorkflow", "cronworkflows"),
                    );
                    let live = api.get(name).await.map_err(|source| TriggerError::Kube {
                        trigger: trigger.to_owned(),
                        operation: "get".to_owned(),
                        target: format!("{API_VERSION} CronWorkflow {namespace}/{name}"),
                        source: Box::new(source),
                    })?;
                    to_value(&live)
                }
                // Print mode cannot read the cluster: the rendered CronWorkflow stands in.
                None => object.clone(),
            };
            Ok(from_cron_workflow(&cron, name))
        }
        _ => Err(invalid(
            trigger,
            format!(
                "submit-from needs a WorkflowTemplate, ClusterWorkflowTemplate or CronWorkflow, \
                 got kind {kind:?}"
            ),
        )),
    }
}

/// A Workflow from a CronWorkflow, as Argo Workflows converts one.
fn from_cron_workflow(cron: &Value, name: &str) -> Value {
    let mut labels = serde_json::Map::new();
    if let Some(id) = cron
        .pointer("/metadata/labels")
        .and_then(|l| l.get(LABEL_CONTROLLER_INSTANCE_ID))
    {
        labels.insert(LABEL_CONTROLLER_INSTANCE_ID.into(), id.clone());
    }
    labels.insert(LABEL_CRON_WORKFLOW.into(), json!(name));
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        ANNOTATION_CRON_SCHEDULED_TIME.into(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    let mut finalizers = Vec::new();
    if let Some(meta) = cron.pointer("/spec/workflowMetadata") {
        if let Some(Value::Object(extra)) = meta.get("labels") {
            labels.extend(extra.clone());
        }
        if let Some(Value::Object(extra)) = meta.get("annotations") {
            annotations.extend(extra.clone());
        }
        if let Some(Value::Array(extra)) = meta.get("finalizers") {
            finalizers.extend(extra.iter().cloned());
        }
    }
    let mut metadata = json!({
        "generateName": format!("{name}-"),
        "labels": labels,
        "annotations": annotations,
    });
    if !finalizers.is_empty() {
        metadata["finalizers"] = Value::Array(finalizers);
    }
    let uid = meta_str(cron, "uid");
    if !uid.is_empty() {
        metadata["ownerReferences"] = json!([{
            "apiVersion": API_VERSION,
            "kind": "CronWorkflow",
            "name": name,
            "uid": uid,
            "controller": true,
            "blockOwnerDeletion": true,
        }]);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": metadata,
        "spec": cron.pointer("/spec/workflowSpec").cloned().unwrap_or_else(|| json!({})),
    })
}
