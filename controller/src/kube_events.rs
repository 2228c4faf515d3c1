//! Kubernetes Events about reconciles that fail: a Warning `ReconcileFailed`
//! ([`reasons::RECONCILE_FAILED`]) regarding the EventBus, EventSource or Sensor, so
//! `kubectl describe` and `kubectl argo events why` show it next to the conditions.
//!
//! - Permanent failures (an invalid spec, a child that cannot be built: the conditions the plan
//!   writes, [`permanent_failure`]) are reported once per distinct message and object; the
//!   object is reported again only after the failure cleared or its message changed.
//! - Transient failures (an API call failed; the object backs off) are reported at each retry.
//!
//! Both go through one [`EventGate`] (at most one Event per object every [`EVENT_INTERVAL`];
//! a repeated note is folded into the Event's series) and never hold a reconcile up: they are
//! queued with `try_send` (a full queue drops them; [`Events::dropped`] counts those) and one
//! background task writes them with kube's `Recorder` (`events.k8s.io/v1`, reporting controller
//! [`REPORTING_CONTROLLER`], instance the pod's name). A `403 Forbidden` (the ClusterRole or Role
//! lacks `create`/`patch` on `events.k8s.io` events) is logged once and Events stop.
//! The same gate rules as the Sensor pods' Events (`argo_events_api::diagnostics`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argo_events_api::Condition;
use argo_events_api::condition_status::FALSE;
use argo_events_api::diagnostics::{EVENT_INTERVAL, EventGate, event_note, reasons};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::reconcile::extra_reason;
use crate::status::reason;

/// `reportingController` of the controller's Events.
pub const REPORTING_CONTROLLER: &str = "argo-events-controller";

/// Events waiting for the writer; more are dropped.
const QUEUE: usize = 1024;

/// Condition reasons that mean the object cannot be reconciled until it changes.
const PERMANENT: &[&str] = &[
    reason::INVALID_SPEC,
    reason::INVALID_EVENT_SOURCE,
    reason::INVALID_DEPENDENCIES,
    reason::INVALID_EVENT_BUS,
    reason::INVALID_TRIGGERS,
    reason::BUILD_DEPLOYMENT_SPEC_FAILED,
    reason::BUILD_SERVICE_FAILED,
    extra_reason::UNSUPPORTED_EVENT_BUS,
    extra_reason::UNSUPPORTED_AUTH_STRATEGY,
    extra_reason::NATS_STREAMING_FAILED,
];

/// The permanent failure a planned `status` says (its `False` conditions with a reason of an
/// invalid spec or of a child that cannot be built), as the Event's note; `None` when there is
/// none (waiting for an EventBus is not a failure).
pub fn permanent_failure(status: &Value) -> Option<String> {
    let conditions: Vec<Condition> = status
        .get("conditions")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let failures: Vec<String> = conditions
        .iter()
        .filter(|c| c.status == FALSE && PERMANENT.contains(&c.reason.as_str()))
        .map(|c| format!("{} {}: {}", c.type_, c.reason, c.message))
        .collect();
    (!failures.is_empty()).then(|| {
        format!(
            "not reconciled until the object changes: {}",
            failures.join("; ")
        )
    })
}

/// The note of a transient failure retried after `retry_in`.
pub fn transient_note(error: &str, retry_in: Duration) -> String {
    format!("{error}; retrying in {}s", retry_in.as_secs())
}

/// The reporter: [`REPORTING_CONTROLLER`], instance `POD_NAME` else `HOSTNAME`.
pub fn reporter(lookup: impl Fn(&str) -> Option<String>) -> Reporter {
    Reporter {
        controller: REPORTING_CONTROLLER.to_owned(),
        instance: ["POD_NAME", "HOSTNAME"]
            .into_iter()
            .filter_map(&lookup)
            .map(|v| v.trim().to_owned())
            .find(|v| !v.is_empty()),
    }
}

struct Pending {
    key: String,
    regarding: ObjectReference,
    note: String,
}

/// Where reconciles report their failures.
pub struct Events {
    tx: Option<mpsc::Sender<Pending>>,
    /// The permanent failure last reported per object key (`Kind/namespace/name`).
    reported: Mutex<HashMap<String, String>>,
    dropped: AtomicU64,
}

impl Events {
    /// Starts the writer (needs a Tokio runtime).
    pub fn start(client: Client, reporter: Reporter) -> Events {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(rx, client, reporter));
        Events {
            tx: Some(tx),
            reported: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// No Events (tests of other things).
    pub fn disabled() -> Events {
        Events {
            tx: None,
            reported: Mutex::default(),
            dropped: AtomicU64::new(0),
        }
    }

    fn send(&self, key: &str, regarding: ObjectReference, note: String) {
        let Some(tx) = &self.tx else { return };
        let pending = Pending {
            key: key.to_owned(),
            regarding,
            note,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(pending)
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            warn!("the Kubernetes Events queue is full; Events are dropped until it drains");
        }
    }

    /// A transient failure of the object `key` (`Kind/namespace/name`), retried after
    /// `retry_in`.
    pub fn transient(
        &self,
        key: &str,
        regarding: ObjectReference,
        error: &str,
        retry_in: Duration,
    ) {
        self.send(key, regarding, transient_note(error, retry_in));
    }

    /// The status a plan writes for the object `key`: a permanent failure in it is reported
    /// unless it is the one reported last; a status without one clears the record. Returns
    /// whether a new object is now remembered (so the caller can forget deleted ones).
    pub fn planned_status(&self, key: &str, regarding: ObjectReference, status: &Value) -> bool {
        let failure = permanent_failure(status);
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let Some(failure) = failure else {
            reported.remove(key);
            return false;
        };
        if reported.get(key) == Some(&failure) {
            return false;
        }
        let new = reported.insert(key.to_owned(), failure.clone()).is_none();
        drop(reported);
        self.send(key, regarding, failure);
        new
    }

    /// Forgets the permanent failures of objects `keep` says are gone.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        reported.retain(|k, _| keep(k));
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_events(mut rx: mpsc::Receiver<Pending>, client: Client, reporter: Reporter) {
    let mut gate: EventGate<Recorder> = EventGate::new(EVENT_INTERVAL);
    let mut failed_before = false;
    while let Some(pending) = rx.recv().await {
        let note = event_note(&pending.note);
        let Some(recorder) = gate
            .admit(&pending.key, &note, Instant::now(), || {
                Recorder::new(client.clone(), reporter.clone())
            })
            .cloned()
        else {
            continue;
        };
        let event = Event {
            type_: EventType::Warning,
            reason: reasons::RECONCILE_FAILED.to_owned(),
            note: Some(note),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        match recorder.publish(&event, &pending.regarding).await {
            Ok(()) => {}
            Err(kube::Error::Api(status)) if status.code == 403 => {
                warn!(
                    error = %status,
                    "the controller may not write Kubernetes Events; grant it `create` and `patch` on `events` in API group `events.k8s.io` (the install's ClusterRole/Role do). No more Events are attempted"
                );
                return;
            }
            Err(e) if !failed_before => {
                failed_before = true;
                warn!(error = %e, object = %pending.key, "writing a Kubernetes Event failed (best effort; further failures are logged at debug)");
            }
            Err(e) => {
                debug!(error = %e, object = %pending.key, "writing a Kubernetes Event failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn status(conditions: Value) -> Value {
        json!({ "conditions": conditions })
    }

    #[test]
    fn permanent_failures_are_invalid_specs_and_unbuildable_children() {
        let invalid = status(json!([
            {"type": "DependenciesProvided", "status": "True"},
            {"type": "TriggersProvided", "status": "False", "reason": "InvalidTriggers",
             "message": "spec.triggers: no triggers"},
            {"type": "Deployed", "status": "False", "reason": "BuildDeploymentSpecFailed",
             "message": "bad template"},
        ]));
        assert_eq!(
            permanent_failure(&invalid).as_deref(),
            Some(
                "not reconciled until the object changes: TriggersProvided InvalidTriggers: spec.triggers: no triggers; Deployed BuildDeploymentSpecFailed: bad template"
            )
        );
        // Waiting for the bus, a ready object, a write failure: not permanent.
        for fine in [
            status(
                json!([{"type": "Deployed", "status": "False", "reason": "EventBusNotReady",
                           "message": "EventBus not ready."}]),
            ),
            status(json!([{"type": "Deployed", "status": "True"}])),
            status(json!([{"type": "Deployed", "status": "False",
                           "reason": "CreateDeploymentFailed", "message": "500"}])),
            json!({}),
        ] {
            assert_eq!(permanent_failure(&fine), None, "{fine}");
        }
    }

    #[test]
    fn notes_and_reporter() {
        assert_eq!(
            transient_note("create Deployment ns/s: 500", Duration::from_secs(4)),
            "create Deployment ns/s: 500; retrying in 4s"
        );
        let r = reporter(|k| (k == "POD_NAME").then(|| "controller-manager-x".to_owned()));
        assert_eq!(r.controller, "argo-events-controller");
        assert_eq!(r.instance.as_deref(), Some("controller-manager-x"));
    }

    #[test]
    fn a_permanent_failure_is_reported_once_per_distinct_message() {
        let events = Events::disabled();
        let regarding = ObjectReference::default();
        let failing = |m: &str| {
            status(json!([{"type": "TriggersProvided", "status": "False",
                           "reason": "InvalidTriggers", "message": m}]))
        };
        let remembered = |e: &Events| e.reported.lock().unwrap().get("Sensor/ns/s").cloned();
        assert!(events.planned_status("Sensor/ns/s", regarding.clone(), &failing("a")));
        let first = remembered(&events);
        assert!(first.as_deref().is_some_and(|n| n.ends_with(": a")));
        assert!(!events.planned_status("Sensor/ns/s", regarding.clone(), &failing("a")));
        assert_eq!(
            remembered(&events),
            first,
            "the same failure is not reported again"
        );
        assert!(!events.planned_status("Sensor/ns/s", regarding.clone(), &failing("b")));
        assert!(remembered(&events).is_some_and(|n| n.ends_with(": b")));
        // Cleared: forgotten, so a recurrence is reported again.
        let ok = status(json!([{"type": "TriggersProvided", "status": "True"}]));
        assert!(!events.planned_status("Sensor/ns/s", regarding.clone(), &ok));
        assert_eq!(remembered(&events), None);
        assert!(events.planned_status("Sensor/ns/s", regarding, &failing("a")));
        events.retain(|_| false);
        assert_eq!(remembered(&events), None);
    }
}
