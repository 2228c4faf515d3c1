//! Health of the three kinds and of what runs them, from a [`View`]: conditions, the
//! StatefulSet or Deployment the controller made, and its pods. Pure; `get`, `tree` and `why`
//! all judge with these functions, so they never disagree.

use argo_events_api::common::Condition;
use argo_events_api::{EventBus, EventSource, Sensor};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use crate::online::{Object, View};

/// Label keys the controller puts on what it creates (upstream's).
pub mod labels {
    /// On an EventSource's Deployment, Service and pods.
    pub const EVENT_SOURCE: &str = "eventsource-name";
    /// On a Sensor's Deployment and pods.
    pub const SENSOR: &str = "sensor-name";
    /// On an EventBus's StatefulSet and pods.
    pub const EVENT_BUS: &str = "eventbus-name";
    /// Which controller owns the object.
    pub const CONTROLLER: &str = "controller";
}

/// How a node of the graph is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Everything reports ready.
    Healthy,
    /// Not ready yet, with nothing failing.
    Progressing,
    /// Something failed or is missing.
    Degraded,
    /// Referenced but not there.
    Missing,
}

impl Health {
    /// The word kubectl users read in a READY column.
    pub fn ready_word(self) -> &'static str {
        match self {
            Health::Healthy => "True",
            Health::Progressing => "Unknown",
            Health::Degraded | Health::Missing => "False",
        }
    }

    /// Whether a command should exit 1 because of it.
    pub fn is_broken(self) -> bool {
        matches!(self, Health::Degraded | Health::Missing)
    }
}

/// Ready replicas of what runs an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replicas {
    /// Ready.
    pub ready: i32,
    /// Wanted.
    pub desired: i32,
}

impl std::fmt::Display for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ready, self.desired)
    }
}

/// One object's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// How it is.
    pub health: Health,
    /// Why, when it is not healthy.
    pub message: Option<String>,
}

impl Verdict {
    fn healthy() -> Self {
        Verdict {
            health: Health::Healthy,
            message: None,
        }
    }

    fn of(health: Health, message: impl Into<String>) -> Self {
        Verdict {
            health,
            message: Some(message.into()),
        }
    }

    /// The worse of the two (the first one's message on a tie).
    pub fn worst(self, other: Verdict) -> Verdict {
        if other.health > self.health {
            other
        } else {
            self
        }
    }
}

/// The conditions' verdict: a False condition is degraded (its message), a missing or Unknown
/// one is progressing.
pub fn conditions_verdict(conditions: &[Condition], wanted: &[&str]) -> Verdict {
    let mut verdict = Verdict::healthy();
    for kind in wanted {
        match conditions.iter().find(|c| c.type_ == *kind) {
            Some(c) if c.status == "True" => {}
            Some(c) if c.status == "False" => {
                let reason = if c.message.is_empty() {
                    &c.reason
                } else {
                    &c.message
                };
                return Verdict::of(Health::Degraded, format!("{kind}: {reason}"));
            }
            _ => {
                verdict = verdict.worst(Verdict::of(
                    Health::Progressing,
                    format!("{kind}: not reported yet"),
                ))
            }
        }
    }
    verdict
}

fn conditions_of<T>(
    object: &Object<T>,
    get: impl Fn(&T) -> &[Condition],
) -> Result<&[Condition], String> {
    object
        .watched
        .object
        .as_ref()
        .map(get)
        .map_err(|e| e.to_string())
}

fn labelled(
    labels: Option<&std::collections::BTreeMap<String, String>>,
    key: &str,
    value: &str,
) -> bool {
    labels.and_then(|l| l.get(key)).is_some_and(|v| v == value)
}

/// Pods of an object: same namespace, label `key=name`.
pub fn pods_of<'a>(view: &'a View, namespace: &str, key: &str, name: &str) -> Vec<&'a Pod> {
    let mut pods: Vec<&Pod> = view
        .pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| labelled(p.metadata.labels.as_ref(), key, name))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods
}

/// The Deployment the controller made for an EventSource or a Sensor.
pub fn deployment_of<'a>(
    view: &'a View,
    namespace: &str,
    key: &str,
    name: &str,
) -> Option<&'a Deployment> {
    view.deployments
        .iter()
        .filter(|d| d.metadata.namespace.as_deref() == Some(namespace))
        .find(|d| labelled(d.metadata.labels.as_ref(), key, name))
}

/// The StatefulSet of a managed bus.
pub fn statefulset_of<'a>(view: &'a View, namespace: &str, bus: &str) -> Option<&'a StatefulSet> {
    view.statefulsets
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
        .find(|s| labelled(s.metadata.labels.as_ref(), labels::EVENT_BUS, bus))
}

/// Ready/desired of a Deployment.
pub fn deployment_replicas(d: &Deployment) -> Replicas {
    Replicas {
        ready: d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
    }
}

/// Ready/desired of a StatefulSet.
pub fn statefulset_replicas(s: &StatefulSet) -> Replicas {
    Replicas {
        ready: s
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0),
        desired: s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
    }
}

/// A pod's state for people: phase or the waiting/terminated reason, readiness, restarts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodState {
    /// Pod name.
    pub name: String,
    /// `Running`, `Pending`, `CrashLoopBackOff`, `Error`, ….
    pub status: String,
    /// Every container ready.
    pub ready: bool,
    /// Restarts of all containers.
    pub restarts: i32,
    /// The last termination's message or reason and exit code, when there was one.
    pub last_error: Option<String>,
}

/// [`PodState`] of a pod.
pub fn pod_state(pod: &Pod) -> PodState {
    let status = pod.status.as_ref();
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let mut shown = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let mut last_error = None;
    for c in containers {
        if let Some(state) = &c.state {
            if let Some(w) = state.waiting.as_ref().and_then(|w| w.reason.clone()) {
                shown = w;
            } else if let Some(t) = &state.terminated {
                shown = t.reason.clone().unwrap_or_else(|| "Terminated".into());
                last_error = Some(termination_text(t));
            }
        }
        if last_error.is_none()
            && let Some(t) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref())
        {
            last_error = Some(termination_text(t));
        }
    }
    let ready = !containers.is_empty() && containers.iter().all(|c| c.ready);
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_none()
        && shown == "Pending"
    {
        shown = "Pending (not scheduled)".into();
    }
    PodState {
        name: pod.metadata.name.clone().unwrap_or_default(),
        status: shown,
        ready,
        restarts: containers.iter().map(|c| c.restart_count).sum(),
        last_error,
    }
}

fn termination_text(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> String {
    let what = t
        .message
        .clone()
        .filter(|m| !m.trim().is_empty())
        .or_else(|| t.reason.clone())
        .unwrap_or_else(|| "terminated".into());
    format!("exit code {}: {}", t.exit_code, what.trim())
}

/// The verdict on what runs an object: its workload's ready replicas, then its pods.
pub fn workload_verdict(kind: &str, replicas: Option<Replicas>, pods: &[&Pod]) -> Verdict {
    let Some(replicas) = replicas else {
        return Verdict::of(
            Health::Missing,
            format!("no {kind} (the controller has not created it)"),
        );
    };
    if replicas.ready >= replicas.desired && replicas.desired > 0 {
        return Verdict::healthy();
    }
    for pod in pods {
        let state = pod_state(pod);
        if state.ready {
            continue;
        }
        let mut message = format!("pod {} is {}", state.name, state.status);
        if state.restarts > 0 {
            message.push_str(&format!(" ({} restarts)", state.restarts));
        }
        if let Some(e) = &state.last_error {
            message.push_str(&format!("; last: {e}"));
        }
        let crashing = state.restarts > 0
            || state.last_error.is_some()
            || matches!(
                state.status.as_str(),
                "CrashLoopBackOff"
                    | "Error"
                    | "ImagePullBackOff"
                    | "ErrImagePull"
                    | "CreateContainerConfigError"
            );
        return Verdict::of(
            if crashing {
                Health::Degraded
            } else {
                Health::Progressing
            },
            message,
        );
    }
    if pods.is_empty() {
        return Verdict::of(
            Health::Degraded,
            format!("{kind} {replicas} ready and no pods"),
        );
    }
    Verdict::of(Health::Progressing, format!("{kind} {replicas} ready"))
}

/// An EventBus's conditions alone.
pub fn event_bus_conditions(bus: &Object<EventBus>) -> Verdict {
    match conditions_of(bus, |b| &b.status.conditions) {
        Ok(c) => conditions_verdict(c, &["Configured", "Deployed"]),
        Err(e) => Verdict::of(Health::Degraded, format!("invalid: {e}")),
    }
}

/// An EventSource's conditions alone.
pub fn event_source_conditions(es: &Object<EventSource>) -> Verdict {
    match conditions_of(es, |e| &e.status.conditions) {
        Ok(c) => conditions_verdict(c, &["SourcesProvided", "Deployed"]),
        Err(e) => Verdict::of(Health::Degraded, format!("invalid: {e}")),
    }
}

/// A Sensor's conditions alone.
pub fn sensor_conditions(sensor: &Object<Sensor>) -> Verdict {
    match conditions_of(sensor, |s| &s.status.conditions) {
        Ok(c) => conditions_verdict(c, &["DependenciesProvided", "TriggersProvided", "Deployed"]),
        Err(e) => Verdict::of(Health::Degraded, format!("invalid: {e}")),
    }
}

/// Whether the controller runs a StatefulSet for the bus.
pub fn is_managed(bus: &Object<EventBus>) -> bool {
    bus.watched.object.as_ref().is_ok_and(|b| {
        b.spec.jetstream.is_some() || b.spec.nats.as_ref().is_some_and(|n| n.native.is_some())
    })
}

/// An EventBus: its conditions and, for a managed bus, its StatefulSet.
pub fn event_bus_verdict(view: &View, bus: &Object<EventBus>) -> Verdict {
    let conditions = event_bus_conditions(bus);
    if !is_managed(bus) || conditions.health == Health::Degraded {
        return conditions;
    }
    let sts = statefulset_of(view, bus.namespace(), bus.name());
    let pods = pods_of(view, bus.namespace(), labels::EVENT_BUS, bus.name());
    conditions.worst(workload_verdict(
        "StatefulSet",
        sts.map(statefulset_replicas),
        &pods,
    ))
}

/// An EventSource: conditions, Deployment, pods.
pub fn event_source_verdict(view: &View, es: &Object<EventSource>) -> Verdict {
    let conditions = event_source_conditions(es);
    if conditions.health == Health::Degraded {
        return conditions;
    }
    let d = deployment_of(view, es.namespace(), labels::EVENT_SOURCE, es.name());
    let pods = pods_of(view, es.namespace(), labels::EVENT_SOURCE, es.name());
    conditions.worst(workload_verdict(
        "Deployment",
        d.map(deployment_replicas),
        &pods,
    ))
}

/// A Sensor: conditions, Deployment, pods.
pub fn sensor_verdict(view: &View, sensor: &Object<Sensor>) -> Verdict {
    let conditions = sensor_conditions(sensor);
    if conditions.health == Health::Degraded {
        return conditions;
    }
    let d = deployment_of(view, sensor.namespace(), labels::SENSOR, sensor.name());
    let pods = pods_of(view, sensor.namespace(), labels::SENSOR, sensor.name());
    conditions.worst(workload_verdict(
        "Deployment",
        d.map(deployment_replicas),
        &pods,
    ))
}

/// The bus an EventSource or a Sensor names (`default` when unset).
pub fn bus_name(name: &str) -> &str {
    if name.is_empty() { "default" } else { name }
}
