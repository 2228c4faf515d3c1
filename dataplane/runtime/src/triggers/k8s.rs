//! The `k8s` trigger: create, update, patch or delete the rendered object through the dynamic
//! API (`apiVersion`/`kind` mapped to a resource by discovery, cached per kind).
//!
//! As upstream: the namespace is the object's, else the Sensor's (none for cluster-scoped
//! kinds — here known from discovery rather than upstream's fixed list); `create` adds the
//! `events.argoproj.io/{sensor,trigger,action-timestamp}` labels; `update` reads the live
//! object, merges the rendered one over it (maps merged key by key, everything else replaced)
//! and replaces it, creating the object when absent; `patch` creates when absent, else patches
//! with `patchStrategy`; `delete` of an absent object succeeds. `liveObject` (update only)
//! starts from the live object and applies `k8s.parameters` to it. Beyond upstream, every
//! write names the field manager `argo-events-sensor` (server-side apply needs one; it is
//! forced, as controllers apply).

use std::collections::BTreeMap;

use argo_events_api::cloudevent::Event;
use argo_events_api::{K8SResourcePolicy, TriggerPolicy};
use argo_events_engine::render::Rendered;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Scope;
use serde_json::Value;

use super::{
    ActionResult, Executor, FIELD_MANAGER, KubeTarget, TriggerError, add_trigger_labels, invalid,
    meta_str, metadata_mut, qualified, top_str,
};

/// A resource found by discovery.
#[derive(Clone, Debug)]
pub(super) struct Discovered {
    resource: ApiResource,
    namespaced: bool,
}

const MERGE_PATCH: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC_PATCH: &str = "application/strategic-merge-patch+json";
const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// Kinds print mode treats as cluster-scoped (it has no discovery to ask).
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "ClusterWorkflowTemplate",
];

pub(super) async fn execute(
    exec: &Executor,
    trigger: &str,
    rendered: &Rendered,
    events: &BTreeMap<String, Event>,
    policy: Option<&TriggerPolicy>,
) -> Result<ActionResult, TriggerError> {
    let spec = rendered
        .template
        .k8s
        .as_ref()
        .ok_or_else(|| invalid(trigger, "the template has no k8s action"))?;
    let operation = spec.effective_operation();
    if !matches!(operation, "create" | "update" | "patch" | "delete") {
        return Err(invalid(
            trigger,
            format!("unknown k8s operation {operation:?} (create, update, patch or delete)"),
        ));
    }
    let strategy = match spec.patch_strategy.as_str() {
        "" => MERGE_PATCH,
        s => s,
    };
    if operation == "patch" {
        check_patch_strategy(trigger, strategy)?;
    }
    let mut object = rendered.output.clone();
    let (api_version, kind) = type_of(trigger, &object)?;
    let name = meta_str(&object, "name").to_owned();
    if operation != "create" && name.is_empty() {
        return Err(invalid(
            trigger,
            format!("{operation} needs metadata.name on the {kind} object"),
        ));
    }
    if operation == "create" && name.is_empty() && meta_str(&object, "generateName").is_empty() {
        return Err(invalid(
            trigger,
            format!("the {kind} object has neither metadata.name nor metadata.generateName"),
        ));
    }

    let client = match &exec.ctx.kube {
        KubeTarget::Unavailable(why) => {
            return Err(TriggerError::KubeUnavailable {
                trigger: trigger.to_owned(),
                why: why.clone(),
            });
        }
        KubeTarget::Print => {
            let namespaced = !CLUSTER_SCOPED_KINDS.contains(&kind.as_str());
            set_namespace(
                &mut object,
                namespaced.then_some(exec.ctx.namespace.as_str()),
            );
            if operation == "create" {
                add_trigger_labels(&mut object, &exec.ctx.sensor, trigger);
            }
            exec.ctx.sink.print_resource(trigger, operation, &object);
            let namespace = namespaced.then(|| meta_str(&object, "namespace"));
            return Ok(ActionResult::new(format!(
                "printed {operation} of {api_version} {kind} {}",
                qualified(namespace, display_name(&object))
            )));
        }
        KubeTarget::Client(client) => client.clone(),
    };

    let found = exec.discover(&client, trigger, &api_version, &kind).await?;
    let namespace = found.namespaced.then(|| {
        let own = meta_str(&object, "namespace");
        if own.is_empty() {
            exec.ctx.namespace.clone()
        } else {
            own.to_owned()
        }
    });
    set_namespace(&mut object, namespace.as_deref());
    let api: Api<DynamicObject> = match &namespace {
        Some(ns) => Api::namespaced_with(client, ns, &found.resource),
        None => Api::all_with(client, &found.resource),
    };
    let target = |name: &str| {
        format!(
            "{api_version} {kind} {}",
            qualified(namespace.as_deref(), name)
        )
    };
    let kube_err = |op: &str, name: &str| {
        let target = target(name);
        let operation = op.to_owned();
        move |source| TriggerError::Kube {
            trigger: trigger.to_owned(),
            operation,
            target,
            source: Box::new(source),
        }
    };
    let post = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    };

    let (verb, result) = match operation {
        "create" => {
            add_trigger_labels(&mut object, &exec.ctx.sensor, trigger);
            let created = api
                .create(&post, &to_dynamic(trigger, &object)?)
                .await
                .map_err(kube_err("create", display_name(&object)))?;
            ("created", created)
        }
        "update" => {
            if spec.live_object {
                let mut live = api
                    .get(&name)
                    .await
                    .map_err(kube_err("get (liveObject)", &name))?;
                let mut live_value = to_value(&live);
                argo_events_engine::params::apply(&mut live_value, &spec.parameters, events)
                    .map_err(|e| invalid(trigger, format!("liveObject parameters: {e}")))?;
                live = to_dynamic(trigger, &live_value)?;
                object = to_value(&live);
            }
            match api.get_opt(&name).await.map_err(kube_err("get", &name))? {
                None => {
                    let created = api
                        .create(&post, &to_dynamic(trigger, &object)?)
                        .await
                        .map_err(kube_err("create", &name))?;
                    ("created (absent for update)", created)
                }
                Some(live) => {
                    let mut merged = to_value(&live);
                    merge_override(&mut merged, &object);
                    let updated = api
                        .replace(&name, &post, &to_dynamic(trigger, &merged)?)
                        .await
                        .map_err(kube_err("update", &name))?;
                    ("updated", updated)
                }
            }
        }
        "patch" => match api.get_opt(&name).await.map_err(kube_err("get", &name))? {
            None => {
                let created = api
                    .create(&post, &to_dynamic(trigger, &object)?)
                    .await
                    .map_err(kube_err("create", &name))?;
                ("created (absent for patch)", created)
            }
            Some(_) => {
                let patched = patch(&api, trigger, &name, strategy, &object)
                    .await
                    .map_err(kube_err("patch", &name))?;
                ("patched", patched)
            }
        },
        _ => {
            if api
                .get_opt(&name)
                .await
                .map_err(kube_err("get", &name))?
                .is_none()
            {
                return Ok(ActionResult::new(format!(
                    "nothing to delete: {} not found",
                    target(&name)
                )));
            }
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(kube_err("delete", &name)(e)),
            }
            return Ok(ActionResult::new(format!("deleted {}", target(&name))));
        }
    };
    let result_name = result.metadata.name.clone().unwrap_or_default();
    let mut summary = format!("{verb} {}", target(&result_name));
    if let Some(k8s_policy) = policy.and_then(|p| p.k8s.as_ref())
        && let Some(note) = await_labels(
            &api,
            trigger,
            &result_name,
            &target(&result_name),
            k8s_policy,
        )
        .await?
    {
        summary.push_str(&format!(" ({note})"));
    }
    Ok(ActionResult::new(summary))
}

fn check_patch_strategy(trigger: &str, strategy: &str) -> Result<(), TriggerError> {
    match strategy {
        MERGE_PATCH | STRATEGIC_PATCH | APPLY_PATCH => Ok(()),
        JSON_PATCH => Err(invalid(
            trigger,
            "patchStrategy application/json-patch+json needs a JSON Patch (an array of \
             operations), but a k8s trigger's source is always an object; use \
             application/merge-patch+json, application/strategic-merge-patch+json or \
             application/apply-patch+yaml",
        )),
        other => Err(invalid(
            trigger,
            format!(
                "unknown patchStrategy {other:?} (application/merge-patch+json, \
                 application/strategic-merge-patch+json or application/apply-patch+yaml)"
            ),
        )),
    }
}

async fn patch(
    api: &Api<DynamicObject>,
    trigger: &str,
    name: &str,
    strategy: &str,
    object: &Value,
) -> Result<DynamicObject, kube::Error> {
    let manager = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match strategy {
        STRATEGIC_PATCH => api.patch(name, &manager, &Patch::Strategic(object)).await,
        APPLY_PATCH => {
            let params = PatchParams::apply(FIELD_MANAGER).force();
            api.patch(name, &params, &Patch::Apply(object)).await
        }
        _ => {
            tracing::debug!(trigger, name, "merge patch");
            api.patch(name, &manager, &Patch::Merge(object)).await
        }
    }
}

impl Executor {
    /// The resource and scope of `apiVersion`/`kind`, asked once per kind.
    pub(super) async fn discover(
        &self,
        client: &kube::Client,
        trigger: &str,
        api_version: &str,
        kind: &str,
    ) -> Result<Discovered, TriggerError> {
        let key = (api_version.to_owned(), kind.to_owned());
        {
            let cache = self
                .discovery
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(found) = cache.get(&key) {
                return Ok(found.clone());
            }
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) =
            kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|source| TriggerError::Kube {
                    trigger: trigger.to_owned(),
                    operation: "discover".to_owned(),
                    target: format!("{api_version} {kind}"),
                    source: Box::new(source),
                })?;
        let found = Discovered {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        };
        self.discovery
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }
}

/// Polls `name` with the policy's backoff until it carries every policy label. `Ok(None)`:
/// matched (or no labels to wait for); `Ok(Some(note))`: gave up without
/// `errorOnBackoffTimeout`.
pub(super) async fn await_labels(
    api: &Api<DynamicObject>,
    trigger: &str,
    name: &str,
    target: &str,
    policy: &K8SResourcePolicy,
) -> Result<Option<String>, TriggerError> {
    if policy.labels.is_empty() || name.is_empty() {
        return Ok(None);
    }
    let backoff = match &policy.backoff {
        Some(b) => b
            .effective()
            .map_err(|e| invalid(trigger, format!("policy.k8s.backoff: {e}")))?,
        None => argo_events_api::Backoff::default()
            .effective()
            .map_err(|e| invalid(trigger, format!("default backoff: {e}")))?,
    };
    let steps = backoff.steps.max(1);
    let mut wait = backoff.duration;
    for attempt in 1..=steps {
        let live = api.get(name).await.map_err(|source| TriggerError::Kube {
            trigger: trigger.to_owned(),
            operation: "get (policy.k8s)".to_owned(),
            target: target.to_owned(),
            source: Box::new(source),
        })?;
        let labels = live.metadata.labels.unwrap_or_default();
        if policy
            .labels
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
        {
            return Ok(None);
        }
        if attempt == steps {
            break;
        }
        let mut sleep = wait;
        if backoff.jitter > 0.0 {
            sleep += wait.mul_f64(rand::random::<f64>() * backoff.jitter);
        }
        tokio::time::sleep(sleep).await;
        wait = wait.mul_f64(backoff.factor.max(0.0));
    }
    let labels = policy
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    if policy.error_on_backoff_timeout {
        return Err(TriggerError::PolicyTimeout {
            trigger: trigger.to_owned(),
            target: target.to_owned(),
            labels,
            attempts: steps,
        });
    }
    Ok(Some(format!(
        "labels {labels} not seen after {steps} checks; counted as success without errorOnBackoffTimeout"
    )))
}

/// `apiVersion` and `kind` of a rendered object.
pub(super) fn type_of(trigger: &str, object: &Value) -> Result<(String, String), TriggerError> {
    if !object.is_object() {
        return Err(invalid(trigger, "the rendered resource is not an object"));
    }
    let api_version = top_str(object, "apiVersion");
    let kind = top_str(object, "kind");
    if api_version.is_empty() || kind.is_empty() {
        return Err(invalid(
            trigger,
            "the rendered resource needs apiVersion and kind",
        ));
    }
    Ok((api_version.to_owned(), kind.to_owned()))
}

/// Sets `metadata.namespace`, or removes it for cluster-scoped objects.
pub(super) fn set_namespace(object: &mut Value, namespace: Option<&str>) {
    let Some(meta) = metadata_mut(object) else {
        return;
    };
    match namespace {
        Some(ns) => {
            let own = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
            if own.is_empty() {
                meta.insert("namespace".into(), Value::String(ns.to_owned()));
            }
        }
        None => {
            meta.remove("namespace");
        }
    }
}

/// The name, or `<generateName>*` for an object still to be named.
pub(super) fn display_name(object: &Value) -> &str {
    match meta_str(object, "name") {
        "" => meta_str(object, "generateName"),
        name => name,
    }
}

pub(super) fn to_dynamic(trigger: &str, object: &Value) -> Result<DynamicObject, TriggerError> {
    serde_json::from_value(object.clone()).map_err(|e| {
        invalid(
            trigger,
            format!("the rendered resource is not a Kubernetes object: {e}"),
        )
    })
}

pub(super) fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// Upstream's update merge (mergo with override on unstructured maps): keys of `src` replace
/// those of `dst`, except that two objects are merged key by key; arrays are replaced whole.
pub(super) fn merge_override(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (key, value) in s {
                match d.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        merge_override(existing, value);
                    }
                    _ => {
                        d.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (dst, src) => *dst = src.clone(),
    }
}
