//! Reconcile decisions as pure functions: from a watched object and the facts read from the
//! reflector caches (its EventBus, its existing children with their `resource-spec-hash`
//! annotations, how many EventSources/Sensors use a bus, the time) to a [`Plan`]: children to
//! create, apply or delete, the status to write, the finalizers to set, when to look again.
//!
//! The shell ([`crate::run`]) only gathers the facts and carries the plan out. Rules:
//! - an unchanged child (same hash annotation as desired) is never written; an unchanged status
//!   is never written (`plan.status` is `None`);
//! - an invalid spec (a body that did not decode, or upstream's validation as the admission
//!   webhook runs it) becomes the kind's first condition `False` with the same messages, and no
//!   child is touched;
//! - EventSources and Sensors need a ready EventBus; otherwise `Deployed=False` and a requeue;
//! - the EventBus finalizer holds deletion while EventSources or Sensors use the bus; deletion
//!   of EventSources and Sensors is never blocked (their children go by garbage collection).

use std::time::Duration;

use argo_events_api::watched::Watched;
use argo_events_api::{BusConfig, Condition, EventBus, EventSource, Sensor};
use argo_events_webhook::validate::{
    FieldError, validate_event_bus, validate_event_source, validate_sensor,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Serialize;
use serde_json::{Value, json};

use crate::constants::*;
use crate::desired::eventbus::{
    JetStreamCredentials, JetStreamGlobalConfig, StanGlobalConfig, bus_config, client_secret_name,
    event_bus_labels, jetstream_config_map, jetstream_pod_disruption_budget, jetstream_secrets,
    jetstream_service, jetstream_stateful_set, server_secret_name,
};
use crate::desired::eventsource::{event_source_deployment, event_source_service};
use crate::desired::sensor::sensor_deployment;
use crate::desired::stan;
use crate::desired::{BuildError, ControllerConfig};
use crate::status::{Check, compute, condition, is_ready, reason};

/// The one field manager of every write the controller makes.
pub const FIELD_MANAGER: &str = "argo-events-controller";

/// How long to wait before looking again at an object whose EventBus is missing or not ready,
/// or at an EventBus whose deletion is held (the EventBus watch usually comes first).
pub const REQUEUE_WAITING: Duration = Duration::from_secs(30);

/// Reasons this controller adds to upstream's ([`crate::status::reason`]).
pub mod extra_reason {
    /// EventBus `Deployed=True` while its deletion waits for EventSources/Sensors to go.
    pub const DELETION_BLOCKED: &str = "DeletionBlocked";
    /// EventBus `Deployed=False`: a bus whose client configuration cannot be built.
    pub const UNSUPPORTED_EVENT_BUS: &str = "UnsupportedEventBus";
    /// EventBus `Deployed=False`: `spec.nats.native.auth` is neither `none` nor `token`
    /// (upstream's reason).
    pub const UNSUPPORTED_AUTH_STRATEGY: &str = "UnsupportedAuthStrategy";
    /// EventBus `Deployed=False`: building a NATS Streaming child failed.
    pub const NATS_STREAMING_FAILED: &str = "NATSStreamingFailed";
    /// EventBus `Deployed=False`: deleting the volume claims of a deleted bus failed (upstream
    /// only logs it).
    pub const DELETE_VOLUMES_FAILED: &str = "DeletePersistentVolumeClaimsFailed";
    /// EventSource/Sensor `Deployed=False`: deleting a duplicate Deployment failed.
    pub const DELETE_DEPLOYMENT_FAILED: &str = "DeleteDeploymentFailed";
}

/// Note put in condition messages of NATS Streaming buses.
pub const NATS_STREAMING_DEPRECATED: &str =
    "NATS Streaming is deprecated upstream (end of life June 2023); use a JetStream EventBus";

/// Kinds of objects the controller creates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChildKind {
    /// `apps/v1` Deployment.
    #[default]
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `v1` Service.
    Service,
    /// `v1` ConfigMap.
    ConfigMap,
    /// `v1` Secret.
    Secret,
    /// `policy/v1` PodDisruptionBudget.
    PodDisruptionBudget,
    /// `v1` PersistentVolumeClaim (only ever deleted).
    PersistentVolumeClaim,
}

impl ChildKind {
    /// `(group, version, kind, plural)`.
    pub fn gvkp(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            ChildKind::Deployment => ("apps", "v1", "Deployment", "deployments"),
            ChildKind::StatefulSet => ("apps", "v1", "StatefulSet", "statefulsets"),
            ChildKind::Service => ("", "v1", "Service", "services"),
            ChildKind::ConfigMap => ("", "v1", "ConfigMap", "configmaps"),
            ChildKind::Secret => ("", "v1", "Secret", "secrets"),
            ChildKind::PodDisruptionBudget => (
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            ),
            ChildKind::PersistentVolumeClaim => {
                ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
            }
        }
    }
}

/// What the caches know of one existing child (metadata only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExistingChild {
    /// Its kind.
    pub kind: ChildKind,
    /// Its name.
    pub name: String,
    /// Its `resource-spec-hash` annotation.
    pub spec_hash: Option<String>,
    /// UID of its controller owner reference.
    pub controller_uid: Option<String>,
    /// Its `strategy` annotation (NATS Streaming auth Secrets).
    pub auth_strategy: Option<String>,
}

impl ExistingChild {
    /// Reads the facts out of a child's metadata.
    pub fn from_meta(kind: ChildKind, meta: &ObjectMeta) -> Self {
        ExistingChild {
            kind,
            name: meta.name.clone().unwrap_or_default(),
            spec_hash: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_RESOURCE_SPEC_HASH))
                .cloned(),
            controller_uid: meta.owner_references.as_ref().and_then(|refs| {
                refs.iter()
                    .find(|r| r.controller == Some(true))
                    .map(|r| r.uid.clone())
            }),
            auth_strategy: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(stan::AUTH_STRATEGY_ANNOTATION))
                .cloned(),
        }
    }
}

/// One write to the API server.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Create of a generated-name Deployment: the body carries `metadata.generateName`; the
    /// shell picks `<generateName><5 random [a-z0-9]>` and creates it by server-side apply with
    /// [`FIELD_MANAGER`] (never forced), picking another name on a conflict.
    Create {
        /// Kind of the object.
        kind: ChildKind,
        /// The object (with `apiVersion` and `kind`).
        body: Value,
    },
    /// Server-side apply with [`FIELD_MANAGER`], forced.
    Apply {
        /// Kind of the object.
        kind: ChildKind,
        /// Name of the object.
        name: String,
        /// The object (with `apiVersion`, `kind` and `metadata.name`).
        body: Value,
    },
    /// DELETE (background propagation).
    Delete {
        /// Kind of the object.
        kind: ChildKind,
        /// Name of the object.
        name: String,
    },
    /// DELETE of the collection matching a label selector.
    DeleteCollection {
        /// Kind of the objects.
        kind: ChildKind,
        /// `k=v,k=v` selector.
        label_selector: String,
    },
}

/// What to do for one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Writes to children, in order (deletes before re-creates).
    pub writes: Vec<Write>,
    /// The whole new `status` (merge-patched on `/status`); `None` when unchanged.
    pub status: Option<Value>,
    /// The new `metadata.finalizers`; `None` when unchanged. Applied before `writes` when it
    /// adds, after them when it removes.
    pub finalizers: Option<Vec<String>>,
    /// Look again after this long even without a change.
    pub requeue: Option<Duration>,
    /// Things people should know (logged as warnings).
    pub notes: Vec<String>,
}

/// Facts for an EventSource or a Sensor.
#[derive(Clone, Copy, Debug)]
pub struct PodFacts<'a> {
    /// Its EventBus (`spec.eventBusName`, default `default`) from the cache, if there.
    pub bus: Option<&'a Watched<EventBus>>,
    /// Deployments controlled by the object (first = the one kept, as upstream).
    pub deployments: &'a [ExistingChild],
    /// Services controlled by the object (EventSource only).
    pub services: &'a [ExistingChild],
    /// Image and pull policy of generated pods.
    pub cfg: &'a ControllerConfig,
    /// The time, for condition transitions.
    pub now: &'a Time,
}

/// Facts for an EventBus.
#[derive(Clone, Copy)]
pub struct BusFacts<'a> {
    /// Existing children named like the bus's desired children (any owner).
    pub children: &'a [ExistingChild],
    /// EventSources in the namespace using the bus.
    pub event_sources: usize,
    /// Sensors in the namespace using the bus.
    pub sensors: usize,
    /// The controller configuration (JetStream versions and images).
    pub global: &'a JetStreamGlobalConfig,
    /// The controller configuration (NATS Streaming versions and images).
    pub stan: &'a StanGlobalConfig,
    /// Makes fresh JetStream credentials, called only when a bus Secret is missing.
    pub credentials: &'a dyn Fn(&EventBus) -> Result<JetStreamCredentials, BuildError>,
    /// Makes a fresh NATS Streaming token, called only when the auth Secrets are not current.
    pub token: &'a dyn Fn() -> String,
    /// The time, for condition transitions.
    pub now: &'a Time,
}

fn deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

fn finalizers(meta: &ObjectMeta) -> &[String] {
    meta.finalizers.as_deref().unwrap_or_default()
}

fn without_finalizer(meta: &ObjectMeta, f: &str) -> Option<Vec<String>> {
    let list = finalizers(meta);
    list.iter()
        .any(|x| x == f)
        .then(|| list.iter().filter(|x| *x != f).cloned().collect())
}

fn with_finalizer(meta: &ObjectMeta, f: &str) -> Option<Vec<String>> {
    let list = finalizers(meta);
    (!list.iter().any(|x| x == f)).then(|| {
        let mut out = list.to_vec();
        out.push(f.to_owned());
        out
    })
}

fn join(errors: &[&FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The previous value of a condition as a [`Check`], so an untouched condition stays as it was.
fn previous_check(previous: &[Condition], type_: &str) -> Check {
    match previous.iter().find(|c| c.type_ == type_) {
        Some(c) if c.status == argo_events_api::condition_status::TRUE => Check::True {
            reason: c.reason.clone(),
            message: c.message.clone(),
        },
        Some(c) if c.status == argo_events_api::condition_status::FALSE => Check::False {
            reason: c.reason.clone(),
            message: c.message.clone(),
        },
        _ => Check::Unknown,
    }
}

/// The new conditions, or `None` when equal to `previous`.
fn conditions(
    previous: &[Condition],
    types: &[&str],
    checks: &[(&str, Check)],
    now: &Time,
) -> Option<Vec<Condition>> {
    let next = compute(previous, types, checks, now);
    (next != previous).then_some(next)
}

fn to_json<T: Serialize>(v: &T) -> Value {
    // Serialising k8s-openapi and API types cannot fail (string keys, no custom serialisers
    // that error).
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn annotation_hash(meta: &ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_RESOURCE_SPEC_HASH))
        .map(String::as_str)
}

/// Writes for a generated-name Deployment: create when none exists; server-side apply onto the
/// kept one when its hash differs; nothing when it matches. With several controlled
/// Deployments (a duplicate from an earlier race), the first by name is kept and the others
/// are deleted, so an extra copy never runs on.
fn deployment_writes(mut desired: Deployment, existing: &[ExistingChild]) -> Vec<Write> {
    let mut sorted: Vec<&ExistingChild> = existing.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let Some((current, extra)) = sorted.split_first() else {
        return vec![Write::Create {
            kind: ChildKind::Deployment,
            body: to_json(&desired),
        }];
    };
    let mut out: Vec<Write> = extra
        .iter()
        .map(|e| Write::Delete {
            kind: ChildKind::Deployment,
            name: e.name.clone(),
        })
        .collect();
    if current.spec_hash.as_deref() != annotation_hash(&desired.metadata) {
        desired.metadata.name = Some(current.name.clone());
        desired.metadata.generate_name = None;
        out.push(Write::Apply {
            kind: ChildKind::Deployment,
            name: current.name.clone(),
            body: to_json(&desired),
        });
    }
    out
}

/// Upstream's `Deployed=False` message when the EventBus does not exist.
pub const EVENT_BUS_NOT_FOUND_MESSAGE: &str = "EventBus not found.";
/// Upstream's `Deployed=False` message when the EventBus is not ready.
pub const EVENT_BUS_NOT_READY_MESSAGE: &str = "EventBus not ready.";

/// The `Deployed` check of a missing EventBus (upstream's reason and message).
fn bus_not_found() -> Check {
    Check::failed(reason::EVENT_BUS_NOT_FOUND, EVENT_BUS_NOT_FOUND_MESSAGE)
}

/// The EventBus of an EventSource/Sensor, ready, or the `Deployed` check saying why not
/// (upstream's reasons and messages; a bus whose body does not decode counts as not ready).
fn ready_bus(bus: Option<&Watched<EventBus>>) -> Result<&EventBus, Check> {
    let Some(bus) = bus else {
        return Err(bus_not_found());
    };
    match &bus.object {
        Ok(b) if is_ready(&b.status.conditions) => Ok(b),
        _ => Err(Check::failed(
            reason::EVENT_BUS_NOT_READY,
            EVENT_BUS_NOT_READY_MESSAGE,
        )),
    }
}

fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn status_conditions(conds: Vec<Condition>) -> Value {
    json!({ "conditions": conds })
}

/// Plan for a Sensor: validate (against its bus), then its Deployment, then the conditions
/// `DependenciesProvided`, `TriggersProvided`, `Deployed`.
pub fn plan_sensor(sensor: &Watched<Sensor>, facts: &PodFacts<'_>) -> Plan {
    let mut plan = Plan::default();
    if deleting(&sensor.metadata) {
        plan.finalizers = without_finalizer(&sensor.metadata, FINALIZER_SENSOR);
        return plan;
    }
    let obj = match &sensor.object {
        Err(e) => {
            plan.status = conditions(
                &[],
                condition::SENSOR,
                &[(
                    condition::DEPENDENCIES_PROVIDED,
                    Check::failed(reason::INVALID_DEPENDENCIES, e.to_string()),
                )],
                facts.now,
            )
            .map(status_conditions);
            return plan;
        }
        Ok(s) => s,
    };
    let previous = &obj.status.conditions;
    // As upstream: the bus is looked up first; without it only `Deployed` changes.
    if facts.bus.is_none() {
        plan.requeue = Some(REQUEUE_WAITING);
        plan.status = conditions(
            previous,
            condition::SENSOR,
            &[
                (
                    condition::DEPENDENCIES_PROVIDED,
                    previous_check(previous, condition::DEPENDENCIES_PROVIDED),
                ),
                (
                    condition::TRIGGERS_PROVIDED,
                    previous_check(previous, condition::TRIGGERS_PROVIDED),
                ),
                (condition::DEPLOYED, bus_not_found()),
            ],
            facts.now,
        )
        .map(status_conditions);
        return plan;
    }
    let errors = validate_sensor(obj, facts.bus.and_then(|b| b.object.as_ref().ok()));
    let (triggers, deps): (Vec<&FieldError>, Vec<&FieldError>) = errors
        .iter()
        .partition(|e| e.path.starts_with("spec.triggers"));
    let check_of = |errs: &[&FieldError], why: &str| {
        if errs.is_empty() {
            Check::ok()
        } else {
            Check::failed(why, join(errs))
        }
    };
    let deps_check = check_of(&deps, reason::INVALID_DEPENDENCIES);
    let triggers_check = check_of(&triggers, reason::INVALID_TRIGGERS);
    let deployed = if errors.is_empty() {
        match ready_bus(facts.bus) {
            Err(check) => {
                plan.requeue = Some(REQUEUE_WAITING);
                check
            }
            Ok(bus) => match sensor_deployment(obj, bus, facts.cfg) {
                Err(e) => Check::failed(reason::BUILD_DEPLOYMENT_SPEC_FAILED, e.to_string()),
                Ok(d) => {
                    plan.writes = deployment_writes(d, facts.deployments);
                    Check::ok()
                }
            },
        }
    } else {
        previous_check(previous, condition::DEPLOYED)
    };
    plan.status = conditions(
        previous,
        condition::SENSOR,
        &[
            (condition::DEPENDENCIES_PROVIDED, deps_check),
            (condition::TRIGGERS_PROVIDED, triggers_check),
            (condition::DEPLOYED, deployed),
        ],
        facts.now,
    )
    .map(status_conditions);
    plan
}

/// Writes for an EventSource Service: applied when missing, deleted and re-applied when its
/// hash changed (upstream re-creates it, e.g. for a new `clusterIP`), deleted when unwanted.
fn service_writes(desired: Option<Service>, existing: &[ExistingChild]) -> Vec<Write> {
    let mut out = Vec::new();
    let want = desired
        .as_ref()
        .map(|s| s.metadata.name.clone().unwrap_or_default());
    for e in existing {
        if Some(&e.name) != want.as_ref() {
            out.push(Write::Delete {
                kind: ChildKind::Service,
                name: e.name.clone(),
            });
        }
    }
    if let (Some(svc), Some(name)) = (desired, want) {
        match existing.iter().find(|e| e.name == name) {
            Some(e) if e.spec_hash.as_deref() == annotation_hash(&svc.metadata) => {}
            Some(_) => {
                out.push(Write::Delete {
                    kind: ChildKind::Service,
                    name: name.clone(),
                });
                out.push(Write::Apply {
                    kind: ChildKind::Service,
                    name,
                    body: to_json(&svc),
                });
            }
            None => out.push(Write::Apply {
                kind: ChildKind::Service,
                name,
                body: to_json(&svc),
            }),
        }
    }
    out
}

/// Plan for an EventSource: validate, then its Deployment and Service, then the conditions
/// `SourcesProvided`, `Deployed`.
pub fn plan_event_source(es: &Watched<EventSource>, facts: &PodFacts<'_>) -> Plan {
    let mut plan = Plan::default();
    if deleting(&es.metadata) {
        plan.finalizers = without_finalizer(&es.metadata, FINALIZER_EVENT_SOURCE);
        return plan;
    }
    let obj = match &es.object {
        Err(e) => {
            plan.status = conditions(
                &[],
                condition::EVENT_SOURCE,
                &[(
                    condition::SOURCES_PROVIDED,
                    Check::failed(reason::INVALID_EVENT_SOURCE, e.to_string()),
                )],
                facts.now,
            )
            .map(status_conditions);
            return plan;
        }
        Ok(o) => o,
    };
    let previous = &obj.status.conditions;
    let errors = validate_event_source(obj);
    let (sources, deployed) = if errors.is_empty() {
        let deployed = match ready_bus(facts.bus) {
            Err(check) => {
                plan.requeue = Some(REQUEUE_WAITING);
                check
            }
            Ok(bus) => match (
                event_source_deployment(obj, bus, facts.cfg),
                event_source_service(obj),
            ) {
                (Err(e), _) => Check::failed(reason::BUILD_DEPLOYMENT_SPEC_FAILED, e.to_string()),
                (_, Err(e)) => Check::failed(reason::BUILD_SERVICE_FAILED, e.to_string()),
                (Ok(d), Ok(svc)) => {
                    plan.writes = service_writes(svc, facts.services);
                    plan.writes.extend(deployment_writes(d, facts.deployments));
                    Check::ok()
                }
            },
        };
        (Check::ok(), deployed)
    } else {
        let refs: Vec<&FieldError> = errors.iter().collect();
        (
            Check::failed(reason::INVALID_EVENT_SOURCE, join(&refs)),
            previous_check(previous, condition::DEPLOYED),
        )
    };
    plan.status = conditions(
        previous,
        condition::EVENT_SOURCE,
        &[
            (condition::SOURCES_PROVIDED, sources),
            (condition::DEPLOYED, deployed),
        ],
        facts.now,
    )
    .map(status_conditions);
    plan
}

/// Whether an EventSource/Sensor with `spec.eventBusName` = `used` (empty = `default`) uses the
/// bus named `bus`.
pub fn uses_bus(used: &str, bus: &str) -> bool {
    let used = if used.is_empty() { "default" } else { used };
    used == bus
}

/// Whether a bus child name is one of NATS Streaming's (upstream's names: `eventbus-<bus>-stan`,
/// `-stan-svc`, `-stan-configmap`, `-server`, `-client`; JetStream's all carry `-js`).
fn is_stan_child(name: &str) -> bool {
    ["-stan", "-stan-svc", "-stan-configmap", "-client"]
        .iter()
        .any(|s| name.ends_with(s))
        || (name.ends_with("-server") && !name.ends_with("-js-server"))
}

/// Whether the write at `i` of `writes` is half of a Service re-create (a delete followed by an
/// apply of the same Service).
fn is_recreate(writes: &[Write], i: usize) -> bool {
    let same = |a: &Write, b: &Write| match (a, b) {
        (
            Write::Delete { kind: k1, name: n1 },
            Write::Apply {
                kind: k2, name: n2, ..
            },
        ) => k1 == k2 && n1 == n2,
        _ => false,
    };
    let next = writes.get(i + 1).zip(writes.get(i));
    let prev = i
        .checked_sub(1)
        .and_then(|p| writes.get(p))
        .zip(writes.get(i));
    next.is_some_and(|(n, w)| same(w, n)) || prev.is_some_and(|(p, w)| same(p, w))
}

/// Upstream's `Deployed=False` reason for the failed write `writes[i]` to a child of an object
/// of kind `owner` (`EventBus`, `EventSource` or `Sensor`).
pub fn write_failure_reason(owner: &str, writes: &[Write], i: usize) -> &'static str {
    let Some(write) = writes.get(i) else {
        return reason::UPDATE_DEPLOYMENT_FAILED;
    };
    if owner != EventBus::KIND {
        return match write {
            Write::Create { .. } => reason::CREATE_DEPLOYMENT_FAILED,
            Write::Delete {
                kind: ChildKind::Service,
                ..
            }
            | Write::Apply {
                kind: ChildKind::Service,
                ..
            } if is_recreate(writes, i) => reason::RECREATE_SERVICE_FAILED,
            Write::Apply {
                kind: ChildKind::Service,
                ..
            } => reason::CREATE_SERVICE_FAILED,
            Write::Delete {
                kind: ChildKind::Service,
                ..
            } => reason::DELETE_SERVICE_FAILED,
            Write::Delete {
                kind: ChildKind::Deployment,
                ..
            } => extra_reason::DELETE_DEPLOYMENT_FAILED,
            _ => reason::UPDATE_DEPLOYMENT_FAILED,
        };
    }
    match write {
        Write::DeleteCollection { .. } => extra_reason::DELETE_VOLUMES_FAILED,
        Write::Apply { kind, name, .. } | Write::Delete { kind, name } if is_stan_child(name) => {
            let delete = matches!(write, Write::Delete { .. });
            match kind {
                ChildKind::Secret if name.ends_with("-server") => {
                    if delete {
                        stan_reason::DELETE_SERVER_AUTH_SECRET_FAILED
                    } else {
                        stan_reason::UPDATE_SERVER_AUTH_SECRET_FAILED
                    }
                }
                ChildKind::Secret => {
                    if delete {
                        stan_reason::DELETE_CLIENT_AUTH_SECRET_FAILED
                    } else {
                        stan_reason::UPDATE_CLIENT_AUTH_SECRET_FAILED
                    }
                }
                ChildKind::ConfigMap => stan_reason::UPDATE_CONFIG_MAP_FAILED,
                ChildKind::Service => stan_reason::UPDATE_SERVICE_FAILED,
                _ => stan_reason::UPDATE_STATEFUL_SET_FAILED,
            }
        }
        Write::Apply {
            kind: ChildKind::Secret,
            ..
        }
        | Write::Delete {
            kind: ChildKind::Secret,
            ..
        } => reason::JETSTREAM_AUTH_SECRETS_FAILED,
        Write::Apply {
            kind: ChildKind::ConfigMap,
            ..
        } => reason::JETSTREAM_CONFIG_MAP_FAILED,
        Write::Apply {
            kind: ChildKind::Service,
            ..
        } => reason::JETSTREAM_SERVICE_FAILED,
        _ => reason::JETSTREAM_STATEFUL_SET_FAILED,
    }
}

/// Upstream's NATS Streaming installer reasons (`Deployed=False`). A server-side apply creates
/// or updates, so a failed apply is reported as upstream's `Update…Failed`.
pub mod stan_reason {
    /// Applying the NATS Streaming Service failed.
    pub const UPDATE_SERVICE_FAILED: &str = "UpdateServiceFailed";
    /// Applying the NATS Streaming ConfigMap failed.
    pub const UPDATE_CONFIG_MAP_FAILED: &str = "UpdateConfigMapFailed";
    /// Applying the server auth Secret failed.
    pub const UPDATE_SERVER_AUTH_SECRET_FAILED: &str = "UpdateServerAuthSecretFailed";
    /// Applying the client auth Secret failed.
    pub const UPDATE_CLIENT_AUTH_SECRET_FAILED: &str = "UpdateClientAuthSecretFailed";
    /// Deleting the server auth Secret failed.
    pub const DELETE_SERVER_AUTH_SECRET_FAILED: &str = "DeleteServerAuthSecretFailed";
    /// Deleting the client auth Secret failed.
    pub const DELETE_CLIENT_AUTH_SECRET_FAILED: &str = "DeleteClientAuthSecretFailed";
    /// Applying the NATS Streaming StatefulSet failed.
    pub const UPDATE_STATEFUL_SET_FAILED: &str = "UpdateStatefulSetFailed";
}

/// The status to write after `writes[failed]` failed with `error`: the planned conditions (or
/// the previous ones when the plan left the status unchanged) with `Deployed=False` and
/// upstream's reason; `None` when that is what the object already says.
pub fn failed_write_status(
    owner: &str,
    previous: &[Condition],
    planned: Option<&Value>,
    writes: &[Write],
    failed: usize,
    error: &str,
    now: &Time,
) -> Option<Value> {
    let types: &[&str] = match owner {
        k if k == EventBus::KIND => condition::EVENT_BUS,
        k if k == EventSource::KIND => condition::EVENT_SOURCE,
        _ => condition::SENSOR,
    };
    let base: Vec<Condition> = planned
        .and_then(|s| s.get("conditions"))
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_else(|| previous.to_vec());
    let mut checks: Vec<(&str, Check)> = types
        .iter()
        .map(|t| (*t, previous_check(&base, t)))
        .collect();
    checks.push((
        condition::DEPLOYED,
        Check::failed(write_failure_reason(owner, writes, failed), error),
    ));
    let mut status = planned.cloned().unwrap_or_else(|| json!({}));
    let conds = compute(&base, types, &checks, now);
    if planned.is_none() && conds == previous {
        return None;
    }
    status["conditions"] = to_json(&conds);
    Some(status)
}

/// Delay before retrying an object after `failures` consecutive transient errors: 1 s doubling
/// to at most 5 min.
pub fn backoff_delay(failures: u32) -> Duration {
    let secs = 1u64.checked_shl(failures.min(16)).unwrap_or(u64::MAX);
    Duration::from_secs(secs.min(300))
}

mod eventbus;
pub use eventbus::{bus_child_names, bus_label_selector, plan_event_bus};

#[cfg(test)]
mod tests;
