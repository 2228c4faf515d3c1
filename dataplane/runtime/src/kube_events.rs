//! Kubernetes Events about the Sensor, best effort: `kubectl describe sensor` and
//! `kubectl argo events why` show what its pod decided.
//!
//! | reason ([`reasons`]) | type | when | note |
//! |---|---|---|---|
//! | `DependencyFilterFailed` | Warning | a dependency rejected an event | `dependency D rejected event ID: <why>` |
//! | `TriggerFailed` | Warning | a trigger attempt failed | `trigger T failed: <error>` |
//! | `TriggerRetried` | Normal | it is tried again | `trigger T: <error>; attempt 1 of 3 failed; retrying in 1s` (or the redelivery) |
//! | `TriggerSentToDLQ` | Warning | it gave up | `trigger T: <error>; gave up; dlqTrigger D runs` (or: no dlqTrigger) |
//! | `TriggerSucceeded` | Normal | a trigger ran | `trigger T: <summary>` |
//!
//! The event path never waits for them: [`EventsObserver`] maps each observation to a
//! [`Notice`] (pure functions) and hands it to a bounded queue with `try_send` (a full queue
//! drops it; [`KubeEvents::dropped`] counts those); one background task writes them with kube's
//! `Recorder` (`events.k8s.io/v1`, reporting controller [`REPORTING_CONTROLLER`], instance the
//! pod's name). Per reason and dependency or trigger at most one Event every
//! [`EVENT_INTERVAL`] is written, through [`EventGate`]: occurrences in between are skipped (the
//! exact record is on `/decisions`), a repeat of the previous note is folded into that Event's
//! series, a new note makes a new Event. A Sensor's ServiceAccount usually may not create
//! Events: the first `403 Forbidden` is logged once with the grant that is missing, and no
//! Event is attempted after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use argo_events_api::Sensor;
use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::{EVENT_INTERVAL, EventGate, event_note, reasons};
use argo_events_engine::machine::{DependencyVerdict, TriggerVerdict};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::decisions::gave_up;
use crate::sensor::{Retry, SensorObserver};

/// `reportingController` of the Sensor pods' Events.
pub const REPORTING_CONTROLLER: &str = "argo-events-sensor";

/// Notices waiting for the writer; more are dropped.
const QUEUE: usize = 256;

/// One Event to write about the Sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Warning (else Normal).
    pub warning: bool,
    /// One of [`reasons`].
    pub reason: &'static str,
    /// The Event's `action`: `Filter` (a dependency) or `Trigger`.
    pub action: &'static str,
    /// The dependency or trigger it is about; with the reason, the rate-limit key.
    pub about: String,
    /// For people.
    pub note: String,
}

impl Notice {
    /// The rate-limit key: reason and subject.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.reason, self.action, self.about)
    }
}

/// A dependency's verdict on an event: a Warning when it rejected it, nothing when it passed.
pub fn dependency_notice(verdict: &DependencyVerdict, event: &Event) -> Option<Notice> {
    (!verdict.matched).then(|| Notice {
        warning: true,
        reason: reasons::DEPENDENCY_FILTER_FAILED,
        action: "Filter",
        about: verdict.name.clone(),
        note: format!(
            "dependency {} rejected event {}: {}",
            verdict.name, event.id, verdict.reason
        ),
    })
}

/// A trigger attempt: `TriggerSucceeded` or `TriggerFailed`.
pub fn execution_notice(trigger: &str, result: &Result<String, String>) -> Notice {
    let (warning, reason, note) = match result {
        Ok(summary) => (
            false,
            reasons::TRIGGER_SUCCEEDED,
            format!("trigger {trigger}: {summary}"),
        ),
        Err(error) => (
            true,
            reasons::TRIGGER_FAILED,
            format!("trigger {trigger} failed: {error}"),
        ),
    };
    Notice {
        warning,
        reason,
        action: "Trigger",
        about: trigger.to_owned(),
        note,
    }
}

/// A trigger tried again: `TriggerRetried`.
pub fn retry_notice(trigger: &str, error: &str, retry: &Retry) -> Notice {
    Notice {
        warning: false,
        reason: reasons::TRIGGER_RETRIED,
        action: "Trigger",
        about: trigger.to_owned(),
        note: format!("trigger {trigger}: {error}; {retry}"),
    }
}

/// A trigger given up: `TriggerSentToDLQ`.
pub fn dead_letter_notice(trigger: &str, error: &str, dlq: Option<&str>) -> Notice {
    Notice {
        warning: true,
        reason: reasons::TRIGGER_SENT_TO_DLQ,
        action: "Trigger",
        about: trigger.to_owned(),
        note: format!("trigger {trigger}: {error}; {}", gave_up(dlq)),
    }
}

/// The Sensor as the Events' `regarding`.
pub fn sensor_reference(sensor: &Sensor) -> ObjectReference {
    ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some("Sensor".into()),
        name: sensor.metadata.name.clone(),
        namespace: sensor.metadata.namespace.clone(),
        uid: sensor.metadata.uid.clone(),
        ..Default::default()
    }
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

/// Whether an API error is the API server saying `403 Forbidden`.
pub fn is_forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 403)
}

/// The queue to the Event writer.
pub struct KubeEvents {
    tx: mpsc::Sender<Notice>,
    dropped: AtomicU64,
}

impl KubeEvents {
    /// Starts the writer of Events regarding `regarding` (needs a Tokio runtime).
    pub fn start(client: kube::Client, reporter: Reporter, regarding: ObjectReference) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_events(rx, client, reporter, regarding));
        KubeEvents {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues `notice` without waiting: dropped (and counted) when the queue is full, ignored
    /// once the writer stopped (Events forbidden).
    pub fn send(&self, notice: Notice) {
        if let Err(mpsc::error::TrySendError::Full(n)) = self.tx.try_send(notice)
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!(
                reason = n.reason,
                "the Kubernetes Events queue is full; Events are dropped until it drains"
            );
        }
    }

    /// Notices dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_events(
    mut rx: mpsc::Receiver<Notice>,
    client: kube::Client,
    reporter: Reporter,
    regarding: ObjectReference,
) {
    let mut gate: EventGate<Recorder> = EventGate::new(EVENT_INTERVAL);
    let mut failed_before = false;
    while let Some(notice) = rx.recv().await {
        let note = event_note(&notice.note);
        let Some(recorder) = gate
            .admit(&notice.key(), &note, Instant::now(), || {
                Recorder::new(client.clone(), reporter.clone())
            })
            .cloned()
        else {
            continue;
        };
        let event = KubeEvent {
            type_: if notice.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: notice.reason.to_owned(),
            note: Some(note),
            action: notice.action.to_owned(),
            secondary: None,
        };
        match recorder.publish(&event, &regarding).await {
            Ok(()) => {}
            Err(e) if is_forbidden(&e) => {
                tracing::warn!(
                    error = %e,
                    namespace = regarding.namespace.as_deref().unwrap_or_default(),
                    "the Sensor's ServiceAccount may not write Kubernetes Events; grant it `create` and `patch` on `events` in API group `events.k8s.io` to see its decisions in `kubectl describe sensor`. No more Events are attempted"
                );
                return;
            }
            Err(e) if !failed_before => {
                failed_before = true;
                tracing::warn!(error = %e, reason = notice.reason, "writing a Kubernetes Event failed (best effort; further failures are logged at debug)");
            }
            Err(e) => {
                tracing::debug!(error = %e, reason = notice.reason, "writing a Kubernetes Event failed")
            }
        }
    }
}

/// A [`SensorObserver`] that turns what it hears into Kubernetes Events, then passes it on.
pub struct EventsObserver {
    inner: Arc<dyn SensorObserver>,
    events: KubeEvents,
}

impl EventsObserver {
    /// Events through `events`, every call passed on to `inner`.
    pub fn new(inner: Arc<dyn SensorObserver>, events: KubeEvents) -> Self {
        EventsObserver { inner, events }
    }
}

impl SensorObserver for EventsObserver {
    fn event(&self, trigger: &str, event: &Event, verdicts: &[DependencyVerdict]) {
        self.inner.event(trigger, event, verdicts);
        for v in verdicts {
            if let Some(n) = dependency_notice(v, event) {
                self.events.send(n);
            }
        }
    }

    fn decision(&self, verdict: &TriggerVerdict) {
        self.inner.decision(verdict);
    }

    fn executed(&self, trigger: &str, result: &Result<String, String>) {
        self.inner.executed(trigger, result);
        self.events.send(execution_notice(trigger, result));
    }

    fn retried(&self, trigger: &str, error: &str, retry: &Retry) {
        self.inner.retried(trigger, error, retry);
        self.events.send(retry_notice(trigger, error, retry));
    }

    fn dead_lettered(&self, trigger: &str, error: &str, dlq: Option<&str>) {
        self.inner.dead_lettered(trigger, error, dlq);
        self.events.send(dead_letter_notice(trigger, error, dlq));
    }
}

#[cfg(test)]
mod tests;
