//! Kubernetes object watches (`spec.resource.<name>`): every ADD, UPDATE or DELETE of an
//! object of `group`/`version`/`resource` (the plural), in `namespace` or in all namespaces
//! when it is empty, becomes `{"type", "body", "oldBody", "group", "version", "resource",
//! "metadata"?}` (the rules and the exact encoding: [`rules`]).
//!
//! Upstream runs a client-go informer; this runs kube's `watcher` through the same store
//! semantics ([`informer`]): the initial list announces every existing object as ADD (as
//! upstream's does), later relists only what changed meanwhile. `filter.labels` becomes the
//! label selector of the list and watch requests ([`labels`]); the other filters are applied
//! here to each change.
//!
//! The client is the EventSource context's [`KubeAccess`]: in a pod the ServiceAccount
//! (in-cluster config), elsewhere `KUBECONFIG`. The resource's kind and scope are looked up
//! once through discovery (list responses do not carry the items' kind; upstream's dynamic
//! client fills it in from the list's kind, so objects here carry `apiVersion` and `kind`
//! too). Until discovery, list and watch succeed — the API server unreachable, the resource
//! not served yet, permissions missing — the source logs each failure and retries with
//! backoff (up to 30 s apart); it never stops on its own.
//!
//! A change is published with retries until the bus takes it or the source is stopped: the
//! watch simply waits meanwhile (what the API server sends in the meantime is picked up by a
//! resumed watch or a relist), so unlike a NATS message no change is dropped for a bus outage.
//!
//! Differences from upstream: a `namespace` set for a cluster-scoped resource is ignored with
//! a warning (upstream's requests fail forever); `eventTypes: []` is refused like an absent
//! list (upstream accepts it and publishes nothing); objects deleted while the watch was down
//! are a DELETE of their last known state ([`informer`]).

mod gojson;
mod informer;
mod labels;
mod rules;

use std::time::Duration;

use argo_events_api::ResourceEventSource;
use futures::StreamExt as _;
use kube::api::{Api, ApiResource, DynamicObject, TypeMeta};
use kube::core::GroupVersion;
use kube::discovery::Scope;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;

use crate::publish::{Retry, new_event, publish_retrying};
use crate::{SourceContext, SourceError};
use informer::{Change, Informer};
use rules::{Rules, Skip};

/// The CloudEvent `type` (and spec key) of resource events.
pub const EVENT_TYPE: &str = "resource";

/// Longest wait between two discovery attempts.
const MAX_DISCOVERY_WAIT: Duration = Duration::from_secs(30);

/// How sources that watch Kubernetes reach the API server.
#[derive(Clone)]
pub enum KubeAccess {
    /// kube's inference, as the runtime's other Kubernetes clients: a kubeconfig
    /// (`KUBECONFIG`, else `~/.kube/config`) when there is one, else the pod's in-cluster
    /// ServiceAccount. Built when the EventSource has a resource event to run.
    Infer,
    /// This client.
    Client(kube::Client),
}

impl KubeAccess {
    pub(crate) async fn client(&self) -> Result<kube::Client, String> {
        match self {
            KubeAccess::Client(client) => Ok(client.clone()),
            KubeAccess::Infer => kube::Client::try_default().await.map_err(|e| {
                format!("no Kubernetes API configuration (in-cluster or KUBECONFIG): {e}")
            }),
        }
    }
}

/// One resource event, checked and ready to run.
pub(crate) struct ResourceSource {
    event_source: String,
    event_name: String,
    group: String,
    version: String,
    resource: String,
    namespace: String,
    label_selector: String,
    rules: Rules,
}

/// Checks one resource event: upstream's validation, the label selector, the filters.
pub(crate) fn prepare(
    event_source: &str,
    event_name: &str,
    spec: &ResourceEventSource,
) -> Result<ResourceSource, SourceError> {
    let invalid = |reason: String| SourceError::Invalid {
        event_source: event_source.to_owned(),
        kind: EVENT_TYPE,
        event: event_name.to_owned(),
        reason,
    };
    if spec.version.is_empty() {
        return Err(invalid("version must be specified".into()));
    }
    if spec.resource.is_empty() {
        return Err(invalid("resource must be specified".into()));
    }
    let (rules, warnings) = Rules::new(spec).map_err(invalid)?;
    let filter = spec.filter.clone().unwrap_or_default();
    for (i, field) in filter.fields.iter().enumerate() {
        if field.key.is_empty() {
            return Err(invalid(format!(
                "filter.fields[{i}]: key can't be empty for selector"
            )));
        }
    }
    let label_selector =
        labels::label_selector(&filter.labels).map_err(|e| invalid(format!("filter.{e}")))?;
    for warning in warnings {
        tracing::warn!(event_source, event = event_name, %warning, "resource filter");
    }
    Ok(ResourceSource {
        event_source: event_source.to_owned(),
        event_name: event_name.to_owned(),
        group: spec.group.clone(),
        version: spec.version.clone(),
        resource: spec.resource.clone(),
        namespace: spec.namespace.clone(),
        label_selector,
        rules,
    })
}

impl ResourceSource {
    /// `resource` or `resource.group`, with the version: what the logs call it.
    fn gvr(&self) -> String {
        match self.group.as_str() {
            "" => format!("{}/{}", self.resource, self.version),
            group => format!("{}.{group}/{}", self.resource, self.version),
        }
    }

    /// Watches and publishes until `ctx.shutdown` is cancelled.
    pub(crate) async fn run(
        self,
        client: kube::Client,
        ctx: SourceContext,
    ) -> Result<(), SourceError> {
        let start = ctx.clock.now();
        let (api_resource, scope) = tokio::select! {
            found = self.discover(&client) => found,
            () = ctx.shutdown.cancelled() => return Ok(()),
        };
        let api: Api<DynamicObject> = match (scope, self.namespace.as_str()) {
            (Scope::Namespaced, namespace) if !namespace.is_empty() => {
                Api::namespaced_with(client, namespace, &api_resource)
            }
            (Scope::Cluster, namespace) if !namespace.is_empty() => {
                tracing::warn!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    resource = %self.gvr(),
                    namespace,
                    "the resource is cluster-scoped; namespace is ignored"
                );
                Api::all_with(client, &api_resource)
            }
            _ => Api::all_with(client, &api_resource),
        };
        let mut config = watcher::Config::default();
        if !self.label_selector.is_empty() {
            config = config.labels(&self.label_selector);
        }
        tracing::info!(
            event_source = %self.event_source,
            event = %self.event_name,
            resource = %self.gvr(),
            kind = %api_resource.kind,
            namespace = if self.namespace.is_empty() { "(all)" } else { self.namespace.as_str() },
            label_selector = %self.label_selector,
            "watching Kubernetes objects"
        );
        let mut stream = watcher(api, config).default_backoff().boxed();
        let mut informer = Informer::default();
        let mut failing = false;
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = ctx.shutdown.cancelled() => return Ok(()),
            };
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(e)) => {
                    tracing::warn!(
                        event_source = %self.event_source,
                        event = %self.event_name,
                        resource = %self.gvr(),
                        error = %e,
                        "watching Kubernetes objects failed; retrying with backoff"
                    );
                    failing = true;
                    continue;
                }
                None => {
                    return Err(SourceError::Start {
                        event_source: self.event_source.clone(),
                        what: format!(
                            "resource event {}: watching {}",
                            self.event_name,
                            self.gvr()
                        ),
                        reason: "the watch stream ended".into(),
                    });
                }
            };
            if std::mem::take(&mut failing) {
                tracing::info!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    resource = %self.gvr(),
                    "watching Kubernetes objects again"
                );
            }
            let list_done = matches!(event, watcher::Event::InitDone);
            let event = match event {
                watcher::Event::Init => watcher::Event::Init,
                watcher::Event::InitApply(o) => {
                    watcher::Event::InitApply(object_value(o, &api_resource))
                }
                watcher::Event::InitDone => watcher::Event::InitDone,
                watcher::Event::Apply(o) => watcher::Event::Apply(object_value(o, &api_resource)),
                watcher::Event::Delete(o) => watcher::Event::Delete(object_value(o, &api_resource)),
            };
            for change in informer.apply(event) {
                if !self.handle(&ctx, &change, start).await {
                    return Ok(());
                }
            }
            if list_done {
                tracing::debug!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    objects = informer.len(),
                    "objects listed"
                );
            }
        }
    }

    /// Publishes the event of one change, if it makes one; `false` when stopped meanwhile.
    async fn handle(
        &self,
        ctx: &SourceContext,
        change: &Change,
        start: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let data = match self.rules.event_data(change, start, ctx.clock.now()) {
            Ok(data) => data,
            Err(Skip::NotWatched) => return true,
            Err(Skip::Unchanged(reason) | Skip::Filtered(reason)) => {
                tracing::debug!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    object = %object_name(change),
                    %reason,
                    "change not published"
                );
                return true;
            }
        };
        let event = new_event(ctx, &self.event_source, EVENT_TYPE, &self.event_name, data);
        tokio::select! {
            published = publish_retrying(ctx, &event, Retry::UNTIL_STOPPED, tokio::time::sleep) => {
                // Without a last attempt, only stopping ends the retries (the other branch).
                if published.is_ok() {
                    tracing::debug!(
                        event_source = %self.event_source,
                        event = %self.event_name,
                        id = %event.id,
                        object = %object_name(change),
                        "resource event published"
                    );
                }
                true
            }
            () = ctx.shutdown.cancelled() => {
                let reason = "stopped before the bus took the event";
                tracing::warn!(
                    event_source = %self.event_source,
                    event = %self.event_name,
                    id = %event.id,
                    object = %object_name(change),
                    "{reason}"
                );
                ctx.observer.publish_failed(&self.event_name, reason);
                false
            }
        }
    }

    /// The resource's kind and scope, from discovery; retried with backoff until found.
    async fn discover(&self, client: &kube::Client) -> (ApiResource, Scope) {
        let gv = GroupVersion::gv(&self.group, &self.version);
        let mut wait = Duration::from_secs(1);
        loop {
            let found = kube::discovery::pinned_group(client, &gv)
                .await
                .map_err(|e| e.to_string())
                .and_then(|group| {
                    group
                        .versioned_resources(&self.version)
                        .into_iter()
                        .find(|(ar, _)| ar.plural == self.resource)
                        .ok_or_else(|| {
                            format!(
                                "the API server does not serve {} in {}",
                                self.resource,
                                gv.api_version()
                            )
                        })
                });
            match found {
                Ok((ar, caps)) => return (ar, caps.scope),
                Err(e) => {
                    tracing::warn!(
                        event_source = %self.event_source,
                        event = %self.event_name,
                        resource = %self.gvr(),
                        error = %e,
                        retry_in = ?wait,
                        "looking up the resource failed"
                    );
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_DISCOVERY_WAIT);
                }
            }
        }
    }
}

/// The object as upstream's unstructured object holds it: list items get the `apiVersion` and
/// `kind` their list implies (upstream's dynamic client does the same).
fn object_value(mut object: DynamicObject, resource: &ApiResource) -> Value {
    let untyped = object
        .types
        .as_ref()
        .is_none_or(|t| t.api_version.is_empty() && t.kind.is_empty());
    if untyped {
        object.types = Some(TypeMeta {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
        });
    }
    serde_json::to_value(&object).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a Kubernetes object could not be encoded");
        Value::Null
    })
}

/// `namespace/name` of a change's object, for logs.
fn object_name(change: &Change) -> String {
    let object = match change {
        Change::Add(o) | Change::Delete(o) => o,
        Change::Update { new, .. } => new,
    };
    let meta = &object["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    match meta["namespace"].as_str() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}
