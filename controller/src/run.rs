//! `argo-events-controller run`: the thin shell around [`crate::reconcile`]. Three kube-runtime
//! Controllers (EventBus, EventSource, Sensor) over [`Watched`] objects read from reflector
//! stores; children watched metadata-only into [`ChildIndex`]es; nothing is written before
//! every cache has listed; every write through the API (children: server-side apply with one
//! field manager, new Deployments under a generated name; status: merge patch on `/status`;
//! finalizers: merge patch on metadata with the resource version); failed reconciles also
//! become `ReconcileFailed` Events ([`crate::kube_events`]).

pub mod cached;
pub mod fake;
pub mod index;
mod wiring;
mod write;

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use argo_events_api::watched::{ArgoKind, Watched};
use argo_events_api::{EventBus, EventSource, Sensor};
use futures::{FutureExt as _, Stream, StreamExt as _, future};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerRuntimeConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource};
use serde_json::json;
use tracing::{debug, info, warn};

pub use cached::Cached;
pub use index::ChildIndex;
pub use wiring::{Setup, bus_status_predicate, controllers, primary_predicate};
pub use write::execute;

use crate::admin::{Health, Metrics};
use crate::constants::*;
use crate::desired::BuildError;
use crate::desired::ControllerConfig;
use crate::desired::eventbus::{JetStreamCredentials, JetStreamGlobalConfig, StanGlobalConfig};
use crate::kube_events::Events;
use crate::reconcile::{
    BusFacts, ChildKind, FIELD_MANAGER, Plan, PodFacts, Write, backoff_delay, bus_child_names,
    failed_write_status, plan_event_bus, plan_event_source, plan_sensor,
};

/// Flags of `argo-events-controller run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Watch and manage only the managed namespace (needs only a namespaced Role).
    #[arg(long, env = "ARGO_EVENTS_NAMESPACED")]
    pub namespaced: bool,
    /// The controller's namespace: holds the leader-election Lease, and with `--namespaced` the
    /// only namespace watched.
    #[arg(long, env = "NAMESPACE", default_value = "argo-events")]
    pub managed_namespace: String,
    /// Elect a leader with the Lease `argo-events-controller` (`--leader-election=false` to
    /// disable). Losing the lease ends the process with a non-zero exit code.
    #[arg(
        long,
        env = "ARGO_EVENTS_LEADER_ELECTION",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub leader_election: bool,
    /// Port of `/metrics`.
    #[arg(long, env = "ARGO_EVENTS_METRICS_PORT", default_value_t = 7777)]
    pub metrics_port: u16,
    /// Port of `/live` and `/ready`.
    #[arg(long, env = "ARGO_EVENTS_HEALTH_PORT", default_value_t = 8081)]
    pub health_port: u16,
    /// The controller configuration (`eventBus.jetstream` versions and images).
    #[arg(
        long,
        env = "ARGO_EVENTS_CONTROLLER_CONFIG",
        default_value = "/etc/argo-events/controller-config.yaml"
    )]
    pub controller_config: PathBuf,
    /// Image of EventSource and Sensor pods.
    #[arg(long, env = "ARGO_EVENTS_IMAGE")]
    pub image: String,
    /// Pull policy of generated EventSource/Sensor containers.
    #[arg(long, env = "IMAGE_PULL_POLICY", default_value = "Always")]
    pub image_pull_policy: String,
}

/// Why a reconcile failed (all transient: they back off and retry).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{op} {kind} {namespace}/{name}: {source}")]
    Api {
        /// What was attempted (`create`, `apply`, `delete`, `patch status`, …).
        op: &'static str,
        /// Kind of the object written.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name (or the label selector of a collection).
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// A planned object could not be converted for the client.
    #[error("encoding {kind} {namespace}: {source}")]
    Encode {
        /// Kind of the object.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

/// Caches of children, one index per owner kind.
#[derive(Clone)]
pub struct Children {
    /// EventBus children: Secrets, ConfigMaps, Services, StatefulSets, PodDisruptionBudgets.
    pub event_bus: ChildIndex,
    /// EventSource children: Deployments and Services.
    pub event_source: ChildIndex,
    /// Sensor children: Deployments.
    pub sensor: ChildIndex,
}

impl Default for Children {
    fn default() -> Self {
        Children {
            event_bus: ChildIndex::new(&[
                ChildKind::Secret,
                ChildKind::ConfigMap,
                ChildKind::Service,
                ChildKind::StatefulSet,
                ChildKind::PodDisruptionBudget,
            ]),
            event_source: ChildIndex::new(&[ChildKind::Deployment, ChildKind::Service]),
            sensor: ChildIndex::new(&[ChildKind::Deployment]),
        }
    }
}

/// Everything a reconcile reads and writes through.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Image and pull policy of generated pods.
    pub cfg: ControllerConfig,
    /// JetStream versions and defaults.
    pub global: JetStreamGlobalConfig,
    /// NATS Streaming versions.
    pub stan: StanGlobalConfig,
    /// EventBus cache.
    pub buses: Store<Watched<EventBus>>,
    /// EventSource cache (compact entries, see [`Cached`]).
    pub event_sources: Store<Cached<EventSource>>,
    /// Sensor cache (compact entries, see [`Cached`]).
    pub sensors: Store<Cached<Sensor>>,
    /// Children caches.
    pub children: Children,
    /// Reconcile metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per object (`Kind/ns/name`), for exponential back-off; entries of
    /// objects gone from the caches are dropped ([`Context::prune_failures`]).
    pub failures: Mutex<HashMap<String, u32>>,
    /// Set once the three primary caches and every child index have listed; until then every
    /// reconcile only requeues (children that are not known yet must not be re-created).
    pub synced: Arc<AtomicBool>,
    /// The clock (fixed in tests).
    pub clock: fn() -> Time,
    /// Credential generator for new JetStream buses.
    pub credentials: fn(&EventBus) -> Result<JetStreamCredentials, BuildError>,
    /// Token generator for NATS Streaming buses.
    pub token: fn() -> String,
    /// Kubernetes Events about failed reconciles.
    pub events: Events,
}

/// The current time.
pub fn system_clock() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Fresh JetStream credentials: passwords and TLS certificates (the builders' generator).
pub fn generate_credentials(bus: &EventBus) -> Result<JetStreamCredentials, BuildError> {
    crate::desired::eventbus::generate_credentials(bus)
}

fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn failure_key(kind: &str, meta: &ObjectMeta) -> String {
    let (ns, name) = ns_name(meta);
    format!("{kind}/{ns}/{name}")
}

/// How long a reconcile waits for the caches to sync before looking again.
pub const REQUEUE_NOT_SYNCED: Duration = Duration::from_secs(1);

/// Reconciles in flight per kind: bounds the memory of reconciles (each builds its desired
/// objects); 16 keeps a start-up over 10 000 objects to a few seconds.
pub const RECONCILE_CONCURRENCY: u16 = 16;

impl Context {
    /// Whether the caches have synced (see [`Context::synced`]).
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Whether the object of a failure key (`Kind/namespace/name`) is still in its cache.
    fn cached(&self, key: &str) -> bool {
        let mut parts = key.splitn(3, '/');
        let (Some(kind), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        match kind {
            k if k == EventBus::KIND => self.buses.get(&ObjectRef::new(name).within(ns)).is_some(),
            k if k == EventSource::KIND => self
                .event_sources
                .get(&ObjectRef::new(name).within(ns))
                .is_some(),
            k if k == Sensor::KIND => self.sensors.get(&ObjectRef::new(name).within(ns)).is_some(),
            _ => false,
        }
    }

    /// Drops the back-off counters and the reported permanent failures of objects no longer in
    /// their cache (deleted objects).
    pub fn prune_failures(&self) {
        {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if !f.is_empty() {
                f.retain(|key, _| self.cached(key));
            }
        }
        self.events.retain(|key| self.cached(key));
    }

    /// Reports a permanent failure in the status `plan` writes for `obj` (once per message).
    fn report_plan<K: Resource<DynamicType = ()>>(&self, obj: &K, plan: &Plan) {
        let Some(status) = &plan.status else { return };
        let key = failure_key(&K::kind(&()), obj.meta());
        if self.events.planned_status(&key, regarding(obj), status) {
            self.prune_failures();
        }
    }
}

/// The object as an Event's `regarding`: without its resource version, which every status
/// write changes (kube's `Recorder` folds repeats into a series only for an equal reference).
fn regarding<K: Resource<DynamicType = ()>>(
    obj: &K,
) -> k8s_openapi::api::core::v1::ObjectReference {
    let mut reference = obj.object_ref(&());
    reference.resource_version = None;
    reference
}

async fn measured(
    kind: &str,
    ctx: &Context,
    meta: &ObjectMeta,
    fut: impl Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    let start = Instant::now();
    ctx.metrics.started(kind);
    let result = fut.await;
    let outcome = match &result {
        Err(_) => crate::admin::Outcome::Error,
        Ok(action) if *action == Action::await_change() => crate::admin::Outcome::Success,
        Ok(_) => crate::admin::Outcome::RequeueAfter,
    };
    ctx.metrics.observe(kind, start.elapsed(), outcome);
    if result.is_ok() {
        let key = failure_key(kind, meta);
        let mut f = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        if !f.is_empty() {
            f.remove(&key);
        }
    }
    result
}

/// A reconcile's answer before the caches have synced: look again soon, write nothing.
fn not_synced(kind: &str, meta: &ObjectMeta) -> Action {
    let (namespace, name) = ns_name(meta);
    debug!(kind, namespace, name, "caches not synced yet; requeue");
    Action::requeue(REQUEUE_NOT_SYNCED)
}

fn bus_of(ctx: &Context, namespace: &str, name: &str) -> Option<Arc<Watched<EventBus>>> {
    ctx.buses.get(&ObjectRef::new(name).within(namespace))
}

/// Reconciles one Sensor.
pub async fn reconcile_sensor(
    cached: Arc<Cached<Sensor>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if !ctx.is_synced() {
        return Ok(not_synced(Sensor::KIND, &cached.metadata));
    }
    measured(Sensor::KIND, &ctx, &cached.metadata, async {
        let obj = cached.decode();
        let (namespace, _) = ns_name(&obj.metadata);
        let bus = bus_of(&ctx, &namespace, cached.bus_name());
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        let deployments = ctx.children.sensor.owned_by(&uid, ChildKind::Deployment);
        let now = (ctx.clock)();
        let plan = plan_sensor(
            &obj,
            &PodFacts {
                bus: bus.as_deref(),
                deployments: &deployments,
                services: &[],
                cfg: &ctx.cfg,
                now: &now,
            },
        );
        ctx.report_plan(cached.as_ref(), &plan);
        let previous = obj
            .object
            .as_ref()
            .map(|o| o.status.conditions.as_slice())
            .unwrap_or_default();
        execute::<Sensor>(
            &ctx.client,
            &obj.metadata,
            previous,
            &now,
            plan,
            &ctx.children.sensor,
        )
        .await
    })
    .await
}

/// Reconciles one EventSource.
pub async fn reconcile_event_source(
    cached: Arc<Cached<EventSource>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if !ctx.is_synced() {
        return Ok(not_synced(EventSource::KIND, &cached.metadata));
    }
    measured(EventSource::KIND, &ctx, &cached.metadata, async {
        let obj = cached.decode();
        let (namespace, _) = ns_name(&obj.metadata);
        let bus = bus_of(&ctx, &namespace, cached.bus_name());
        let uid = obj.metadata.uid.clone().unwrap_or_default();
        let idx = &ctx.children.event_source;
        let deployments = idx.owned_by(&uid, ChildKind::Deployment);
        let services = idx.owned_by(&uid, ChildKind::Service);
        let now = (ctx.clock)();
        let plan = plan_event_source(
            &obj,
            &PodFacts {
                bus: bus.as_deref(),
                deployments: &deployments,
                services: &services,
                cfg: &ctx.cfg,
                now: &now,
            },
        );
        ctx.report_plan(cached.as_ref(), &plan);
        let previous = obj
            .object
            .as_ref()
            .map(|o| o.status.conditions.as_slice())
            .unwrap_or_default();
        execute::<EventSource>(&ctx.client, &obj.metadata, previous, &now, plan, idx).await
    })
    .await
}

/// Reconciles one EventBus.
pub async fn reconcile_event_bus(
    obj: Arc<Watched<EventBus>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    if !ctx.is_synced() {
        return Ok(not_synced(EventBus::KIND, &obj.metadata));
    }
    measured(EventBus::KIND, &ctx, &obj.metadata, async {
        let (namespace, name) = ns_name(&obj.metadata);
        let named = EventBus {
            metadata: obj.metadata.clone(),
            ..Default::default()
        };
        let idx = &ctx.children.event_bus;
        let children: Vec<_> = bus_child_names(&named)
            .into_iter()
            .filter_map(|(kind, child)| idx.get(kind, &namespace, &child))
            .collect();
        let in_ns = |m: &ObjectMeta| m.namespace.as_deref() == Some(namespace.as_str());
        let event_sources = ctx
            .event_sources
            .state()
            .iter()
            .filter(|c| in_ns(&c.metadata) && c.uses_bus(&name))
            .count();
        let sensors = ctx
            .sensors
            .state()
            .iter()
            .filter(|c| in_ns(&c.metadata) && c.uses_bus(&name))
            .count();
        let now = (ctx.clock)();
        let plan = plan_event_bus(
            &obj,
            &BusFacts {
                children: &children,
                event_sources,
                sensors,
                global: &ctx.global,
                stan: &ctx.stan,
                credentials: &ctx.credentials,
                token: &ctx.token,
                now: &now,
            },
        );
        ctx.report_plan(obj.as_ref(), &plan);
        let previous = obj
            .object
            .as_ref()
            .map(|o| o.status.conditions.as_slice())
            .unwrap_or_default();
        execute::<EventBus>(&ctx.client, &obj.metadata, previous, &now, plan, idx).await
    })
    .await
}

/// Exponential back-off per object after a transient error, reported as a `ReconcileFailed`
/// Event (rate limited).
pub fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    err: &Error,
    ctx: Arc<Context>,
) -> Action {
    let kind = K::kind(&());
    let key = failure_key(&kind, obj.meta());
    ctx.prune_failures();
    let failures = {
        let mut f = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let delay = backoff_delay(failures - 1);
    let (namespace, name) = ns_name(obj.meta());
    warn!(kind = %kind, namespace, name, failures, retry_in = ?delay, error = %err, "reconcile failed");
    ctx.events
        .transient(&key, regarding(obj.as_ref()), &err.to_string(), delay);
    Action::requeue(delay)
}

/// Installs the JSON log subscriber (`RUST_LOG`, default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .try_init();
}

/// `argo-events-controller run`.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging();
    let text = std::fs::read_to_string(&args.controller_config).with_context(|| {
        format!(
            "reading the controller configuration {}",
            args.controller_config.display()
        )
    })?;
    let global = crate::render::parse_controller_config(&text).with_context(|| {
        format!(
            "parsing the controller configuration {}",
            args.controller_config.display()
        )
    })?;
    let stan = StanGlobalConfig::from_controller_config(&text).with_context(|| {
        format!(
            "parsing eventBus.nats of the controller configuration {}",
            args.controller_config.display()
        )
    })?;
    if args.image.trim().is_empty() {
        anyhow::bail!("ARGO_EVENTS_IMAGE (or --image) is empty");
    }
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster or kubeconfig)")?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let admin = future::try_join(
        crate::admin::serve(
            args.metrics_port,
            crate::admin::metrics_router(metrics.clone()),
            "metrics",
        ),
        crate::admin::serve(
            args.health_port,
            crate::admin::health_router(health.clone()),
            "health",
        ),
    );
    let setup = Setup {
        client: client.clone(),
        namespace: args.namespaced.then(|| args.managed_namespace.clone()),
        cfg: ControllerConfig {
            image: args.image.clone(),
            image_pull_policy: args.image_pull_policy.clone(),
        },
        global,
        stan,
        metrics,
        health: health.clone(),
        clock: system_clock,
        credentials: generate_credentials,
        token: crate::desired::stan::generate_token,
    };
    info!(
        namespaced = args.namespaced,
        managed_namespace = %args.managed_namespace,
        leader_election = args.leader_election,
        "starting"
    );
    let work = async {
        if args.leader_election {
            crate::leader::run_as_leader(
                client,
                &args.managed_namespace,
                health.clone(),
                controllers(setup),
            )
            .await
        } else {
            controllers(setup).await;
            Ok(())
        }
    };
    tokio::select! {
        r = admin => r.map(|_| ()),
        r = work => r,
    }
}

#[cfg(test)]
mod tests;
