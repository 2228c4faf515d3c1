//! What every online command shares: the client from `--kubeconfig`/`--context`, the namespace
//! scope from `-n`/`-A`, one snapshot of the objects a command looks at ([`View`]), and the
//! requests that go through the API server to the pods (their admin endpoints, by the pod
//! proxy).
//!
//! Commands decide on a [`View`] with pure functions; this module only fetches.

use std::path::Path;

use anyhow::Context as _;
use argo_events_api::diagnostics;
use argo_events_api::watched::{ArgoKind, Watched};
use argo_events_api::{EventBus, EventSource, Sensor};
use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::KubeArgs;

/// Where a command looks: one namespace or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `-n NS`, or the context's namespace, or `default`.
    Namespace(String),
    /// `-A`.
    All,
}

impl Scope {
    /// The namespace, when the scope is one.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) => Some(ns),
            Scope::All => None,
        }
    }
}

/// A client and the scope the flags chose.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The scope.
    pub scope: Scope,
    /// The namespace for commands naming one object (`-n`, else the context's, else `default`).
    pub namespace: String,
}

/// Builds the client as kubectl would: `--kubeconfig` (or `KUBECONFIG`, a `:`-separated list,
/// merged) else `~/.kube/config`, else in-cluster; `--context`; `-n` over the context's
/// namespace.
pub async fn connect(kube: &KubeArgs) -> anyhow::Result<Connection> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = KubeConfigOptions {
        context: kube.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &kube.kubeconfig {
        Some(paths) => {
            let kubeconfig = read_kubeconfigs(paths)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .with_context(|| format!("kubeconfig {}", paths.display()))?
        }
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .context("kubeconfig ~/.kube/config")?,
            Err(_) if kube.context.is_none() => kube::Config::incluster().context(
                "no kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config) and not in a cluster",
            )?,
            Err(e) => return Err(e).context("reading ~/.kube/config"),
        },
    };
    let namespace = kube
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    let scope = if kube.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(namespace.clone())
    };
    Ok(Connection {
        client,
        scope,
        namespace,
    })
}

fn read_kubeconfigs(paths: &Path) -> anyhow::Result<Kubeconfig> {
    let text = paths.to_string_lossy();
    let mut merged: Option<Kubeconfig> = None;
    for path in text.split(':').filter(|p| !p.is_empty()) {
        let one = Kubeconfig::read_from(path).with_context(|| format!("reading {path}"))?;
        merged = Some(match merged {
            None => one,
            Some(m) => m.merge(one).with_context(|| format!("merging {path}"))?,
        });
    }
    merged.ok_or_else(|| anyhow::anyhow!("--kubeconfig names no file"))
}

/// One object of the three kinds: as stored (for `-o json|yaml`) and as decoded.
#[derive(Debug, Clone)]
pub struct Object<T> {
    /// The object as the API server returned it (managedFields trimmed).
    pub raw: Value,
    /// Its decoding with upstream's rules.
    pub watched: Watched<T>,
}

impl<T: ArgoKind> Object<T> {
    /// Decodes a stored object.
    pub fn from_raw(mut raw: Value) -> Result<Self, String> {
        argo_events_api::watched::trim_json(&mut raw);
        let watched = Watched::from_json(raw.clone())?;
        Ok(Object { raw, watched })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        self.watched.metadata.name.as_deref().unwrap_or_default()
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        self.watched
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// When it was created.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.watched
            .metadata
            .creation_timestamp
            .as_ref()
            .and_then(|t| chrono_time(&t.0))
    }
}

/// A Kubernetes timestamp as a chrono time.
pub fn chrono_time(t: &k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().max(0) as u32)
}

/// Everything a command decides on, fetched at one moment.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// When it was fetched.
    pub now: DateTime<Utc>,
    /// EventBus objects.
    pub buses: Vec<Object<EventBus>>,
    /// EventSource objects.
    pub sources: Vec<Object<EventSource>>,
    /// Sensor objects.
    pub sensors: Vec<Object<Sensor>>,
    /// The StatefulSets of buses.
    pub statefulsets: Vec<StatefulSet>,
    /// The Deployments of EventSources and Sensors.
    pub deployments: Vec<Deployment>,
    /// The pods of all of them.
    pub pods: Vec<Pod>,
    /// The Services of EventSources.
    pub services: Vec<Service>,
    /// Kubernetes Events regarding the three kinds.
    pub events: Vec<KubeEvent>,
}

/// The API resource of one of the three kinds.
pub fn api_resource<T: ArgoKind>() -> ApiResource {
    ApiResource {
        group: argo_events_api::GROUP.into(),
        version: argo_events_api::VERSION.into(),
        api_version: format!("{}/{}", argo_events_api::GROUP, argo_events_api::VERSION),
        kind: T::KIND.into(),
        plural: T::PLURAL.into(),
    }
}

fn scoped<K>(client: &Client, scope: &Scope) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match scope {
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
        Scope::All => Api::all(client.clone()),
    }
}

/// Lists one of the three kinds; objects that cannot be decoded stay, with their error.
pub async fn list_kind<T: ArgoKind>(
    client: &Client,
    scope: &Scope,
) -> anyhow::Result<Vec<Object<T>>> {
    let resource = api_resource::<T>();
    let api: Api<DynamicObject> = match scope {
        Scope::Namespace(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        Scope::All => Api::all_with(client.clone(), &resource),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {}", T::PLURAL))?;
    let mut out = Vec::with_capacity(list.items.len());
    for item in list.items {
        let raw = serde_json::to_value(&item).context("re-encoding a listed object")?;
        let mut raw = raw;
        if let Some(map) = raw.as_object_mut() {
            map.insert(
                "apiVersion".into(),
                Value::from(resource.api_version.clone()),
            );
            map.insert("kind".into(), Value::from(T::KIND));
        }
        out.push(Object::from_raw(raw).map_err(anyhow::Error::msg)?);
    }
    out.sort_by(|a, b| (a.namespace(), a.name()).cmp(&(b.namespace(), b.name())));
    Ok(out)
}

async fn list_all<K>(
    client: &Client,
    scope: &Scope,
    what: &str,
    params: &ListParams,
) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    Ok(scoped::<K>(client, scope)
        .list(params)
        .await
        .with_context(|| format!("listing {what}"))?
        .items)
}

/// Fetches a [`View`] of `scope`.
pub async fn fetch_view(client: &Client, scope: &Scope) -> anyhow::Result<View> {
    let owned = ListParams::default().labels("controller");
    let everything = ListParams::default();
    let (buses, sources, sensors) = futures::try_join!(
        list_kind::<EventBus>(client, scope),
        list_kind::<EventSource>(client, scope),
        list_kind::<Sensor>(client, scope),
    )?;
    let (statefulsets, deployments, pods, services, events) = futures::try_join!(
        list_all::<StatefulSet>(client, scope, "statefulsets", &owned),
        list_all::<Deployment>(client, scope, "deployments", &owned),
        list_all::<Pod>(client, scope, "pods", &everything),
        list_all::<Service>(client, scope, "services", &owned),
        list_events(client, scope),
    )?;
    Ok(View {
        now: Utc::now(),
        buses,
        sources,
        sensors,
        statefulsets,
        deployments,
        pods,
        services,
        events,
    })
}

/// Events regarding objects of the three kinds (`regarding.apiVersion=argoproj.io/v1alpha1`).
async fn list_events(client: &Client, scope: &Scope) -> anyhow::Result<Vec<KubeEvent>> {
    let params = ListParams::default().fields("regarding.apiVersion=argoproj.io/v1alpha1");
    list_all::<KubeEvent>(client, scope, "events", &params).await
}

/// GETs `path` from a pod's port through the API server's pod proxy.
pub async fn pod_proxy_get(
    client: &Client,
    namespace: &str,
    pod: &str,
    port: u16,
    path: &str,
) -> anyhow::Result<String> {
    let uri = format!("/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy{path}",);
    let request = http::Request::get(&uri)
        .body(Vec::new())
        .context("building the proxy request")?;
    client
        .request_text(request)
        .await
        .with_context(|| format!("GET {path} from pod {namespace}/{pod}:{port} (pod proxy)"))
}

/// Sends `method path` (query included) with `body` to a pod's admin port through the API
/// server's pod proxy; the answer's status and body, whatever the status.
pub async fn pod_proxy_send(
    client: &Client,
    method: http::Method,
    pod: &Pod,
    path: &str,
    body: Vec<u8>,
    content_type: Option<&str>,
) -> anyhow::Result<(http::StatusCode, String)> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let port = admin_port(pod);
    let uri = format!("/api/v1/namespaces/{namespace}/pods/{name}:{port}/proxy{path}");
    let mut request = http::Request::builder().method(method.clone()).uri(&uri);
    if let Some(ct) = content_type {
        request = request.header(http::header::CONTENT_TYPE, ct);
    }
    let request = request
        .body(kube::client::Body::from(body))
        .context("building the proxy request")?;
    let what = || format!("{method} {path} on pod {namespace}/{name}:{port} (pod proxy)");
    let response = client.send(request).await.with_context(what)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect_bytes()
        .await
        .with_context(what)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// [`pod_proxy_send`] without a body; a non-2xx answer of the pod is an error carrying its
/// body.
pub async fn pod_proxy_call(
    client: &Client,
    method: http::Method,
    pod: &Pod,
    path: &str,
) -> anyhow::Result<String> {
    let (status, text) =
        pod_proxy_send(client, method.clone(), pod, path, Vec::new(), None).await?;
    if !status.is_success() {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        anyhow::bail!(
            "{method} {path} on pod {namespace}/{name}:{} (pod proxy): {status}: {}",
            admin_port(pod),
            text.trim()
        );
    }
    Ok(text)
}

/// The admin port of a pod of ours: the port of `METRICS_ADDR` in its main container's env,
/// else upstream's 7777.
pub fn admin_port(pod: &Pod) -> u16 {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == "METRICS_ADDR"))
        .and_then(|e| e.value.as_deref())
        .and_then(|v| v.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(diagnostics::DEFAULT_ADMIN_PORT)
}

/// Reads a JSON document from a pod's admin endpoint.
pub async fn pod_admin_json<T: DeserializeOwned>(
    client: &Client,
    pod: &Pod,
    path: &str,
) -> anyhow::Result<T> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let text = pod_proxy_get(client, namespace, name, admin_port(pod), path).await?;
    serde_json::from_str(&text)
        .with_context(|| format!("decoding {path} of pod {namespace}/{name}"))
}

#[cfg(test)]
pub mod fixtures;
