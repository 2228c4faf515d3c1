//! What the Sensor decided lately, kept in the pod for `GET /decisions`
//! ([`argo_events_api::diagnostics`], read by `kubectl argo events why`).
//!
//! [`DecisionRecorder`] is a [`SensorObserver`] in front of another (the log, the Kubernetes
//! Events): it passes every call on and keeps, per dependency, how many events it has seen and
//! passed with its last [`RECENT`] verdicts, and per trigger its last [`RECENT`] outcomes (not
//! fired with the engine's reason, succeeded, failed; a failure then tells what followed: the
//! retry or the dead-letter). Memory is bounded: the lists are capped, and only the Sensor's own
//! dependencies and triggers are kept (a `dlqTrigger`'s runs are not).
//!
//! One event reaches a dependency once per trigger listening to it (a durable consumer per
//! trigger and dependency), and redeliveries reach it again: a verdict is counted once per
//! event id and dependency while that id is among the dependency's last [`RECENT`] verdicts. A
//! trigger loop lagging more than [`RECENT`] events behind another counts the event again;
//! events without an id are always counted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use argo_events_api::Sensor;
use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::{
    Decisions, DependencyDecisions, RECENT, TriggerDecisions, TriggerOutcome, TriggerResult,
    Verdict,
};
use argo_events_engine::machine::{DependencyVerdict, TriggerVerdict};
use chrono::{DateTime, Utc};

use crate::sensor::{Retry, SensorObserver};

/// Keeps the Sensor's recent decisions; thread-safe (every trigger loop reports to it).
pub struct DecisionRecorder {
    sensor: String,
    inner: Arc<dyn SensorObserver>,
    clock: fn() -> DateTime<Utc>,
    state: Mutex<State>,
}

struct State {
    dependencies: Vec<DependencyLog>,
    triggers: Vec<TriggerLog>,
}

struct DependencyLog {
    name: String,
    seen: u64,
    passed: u64,
    recent: VecDeque<Verdict>,
}

struct TriggerLog {
    name: String,
    recent: VecDeque<TriggerOutcome>,
}

fn push_capped<T>(list: &mut VecDeque<T>, item: T) {
    while list.len() >= RECENT {
        list.pop_front();
    }
    list.push_back(item);
}

impl DecisionRecorder {
    /// A recorder for `sensor`'s dependencies and triggers (spec order), passing every call on
    /// to `inner`.
    pub fn new(sensor: &Sensor, inner: Arc<dyn SensorObserver>) -> Self {
        DecisionRecorder::with_clock(sensor, inner, Utc::now)
    }

    /// [`DecisionRecorder::new`] with the clock that stamps entries.
    pub fn with_clock(
        sensor: &Sensor,
        inner: Arc<dyn SensorObserver>,
        clock: fn() -> DateTime<Utc>,
    ) -> Self {
        let dependencies = sensor
            .spec
            .dependencies
            .iter()
            .map(|d| DependencyLog {
                name: d.name.clone(),
                seen: 0,
                passed: 0,
                recent: VecDeque::with_capacity(RECENT),
            })
            .collect();
        let triggers = sensor
            .spec
            .triggers
            .iter()
            .filter_map(|t| t.template.as_ref())
            .map(|t| TriggerLog {
                name: t.name.clone(),
                recent: VecDeque::with_capacity(RECENT),
            })
            .collect();
        DecisionRecorder {
            sensor: format!(
                "{}/{}",
                sensor.metadata.namespace.as_deref().unwrap_or_default(),
                sensor.metadata.name.as_deref().unwrap_or_default()
            ),
            inner,
            clock,
            state: Mutex::new(State {
                dependencies,
                triggers,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain counters and lists: a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The body of `GET /decisions`: everything kept, newest last.
    pub fn snapshot(&self) -> Decisions {
        let state = self.lock();
        Decisions {
            sensor: self.sensor.clone(),
            dependencies: state
                .dependencies
                .iter()
                .map(|d| DependencyDecisions {
                    name: d.name.clone(),
                    seen: d.seen,
                    passed: d.passed,
                    recent: d.recent.iter().cloned().collect(),
                })
                .collect(),
            triggers: state
                .triggers
                .iter()
                .map(|t| TriggerDecisions {
                    name: t.name.clone(),
                    recent: t.recent.iter().cloned().collect(),
                })
                .collect(),
        }
    }

    fn record_outcome(&self, trigger: &str, result: TriggerResult, message: String) {
        let time = (self.clock)();
        let mut state = self.lock();
        if let Some(t) = state.triggers.iter_mut().find(|t| t.name == trigger) {
            push_capped(
                &mut t.recent,
                TriggerOutcome {
                    time,
                    result,
                    message,
                },
            );
        }
    }

    /// Appends what followed to the trigger's newest outcome when it is the failure in question.
    fn follow_up(&self, trigger: &str, what: &str) {
        let mut state = self.lock();
        if let Some(last) = state
            .triggers
            .iter_mut()
            .find(|t| t.name == trigger)
            .and_then(|t| t.recent.back_mut())
            .filter(|o| o.result == TriggerResult::Failed)
        {
            last.message = format!("{}; {what}", last.message);
        }
    }
}

impl SensorObserver for DecisionRecorder {
    fn event(&self, trigger: &str, event: &Event, verdicts: &[DependencyVerdict]) {
        self.inner.event(trigger, event, verdicts);
        let time = (self.clock)();
        let mut state = self.lock();
        for v in verdicts {
            let Some(d) = state.dependencies.iter_mut().find(|d| d.name == v.name) else {
                continue;
            };
            if !event.id.is_empty() && d.recent.iter().any(|r| r.event_id == event.id) {
                continue;
            }
            d.seen += 1;
            if v.matched {
                d.passed += 1;
            }
            push_capped(
                &mut d.recent,
                Verdict {
                    time,
                    event_id: event.id.clone(),
                    passed: v.matched,
                    reason: v.reason.clone(),
                },
            );
        }
    }

    fn decision(&self, verdict: &TriggerVerdict) {
        self.inner.decision(verdict);
        if !verdict.fired {
            self.record_outcome(
                &verdict.name,
                TriggerResult::NotFired,
                verdict.reason.clone(),
            );
        }
    }

    fn executed(&self, trigger: &str, result: &Result<String, String>) {
        self.inner.executed(trigger, result);
        let (kind, message) = match result {
            Ok(summary) => (TriggerResult::Succeeded, summary.clone()),
            Err(error) => (TriggerResult::Failed, error.clone()),
        };
        self.record_outcome(trigger, kind, message);
    }

    fn retried(&self, trigger: &str, error: &str, retry: &Retry) {
        self.inner.retried(trigger, error, retry);
        self.follow_up(trigger, &retry.to_string());
    }

    fn dead_lettered(&self, trigger: &str, error: &str, dlq: Option<&str>) {
        self.inner.dead_lettered(trigger, error, dlq);
        self.follow_up(trigger, &gave_up(dlq));
    }
}

/// What giving up means for a trigger with `dlqTrigger` `dlq` (or none).
pub fn gave_up(dlq: Option<&str>) -> String {
    match dlq {
        Some(dlq) => format!("gave up; dlqTrigger {dlq} runs"),
        None => "gave up; no dlqTrigger, the event is acknowledged".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sensor::LogObserver;

    fn fixed() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    fn sensor() -> Sensor {
        let value = serde_json::json!({
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {
                "dependencies": [
                    {"name": "push", "eventSourceName": "webhook", "eventName": "push"},
                    {"name": "tag", "eventSourceName": "webhook", "eventName": "tag"},
                ],
                "triggers": [
                    {"template": {"name": "build", "conditions": "push && tag", "log": {}}},
                    {"template": {"name": "notify", "log": {}}},
                ],
            },
        });
        argo_events_api::gocompat::from_value(&value).unwrap().value
    }

    /// Counts what reaches the wrapped observer.
    #[derive(Default)]
    struct Counting(Mutex<Vec<String>>);

    impl SensorObserver for Counting {
        fn event(&self, trigger: &str, _: &Event, verdicts: &[DependencyVerdict]) {
            self.0
                .lock()
                .unwrap()
                .push(format!("event {trigger} {}", verdicts.len()));
        }
        fn decision(&self, v: &TriggerVerdict) {
            self.0.lock().unwrap().push(format!("decision {}", v.name));
        }
        fn executed(&self, trigger: &str, _: &Result<String, String>) {
            self.0.lock().unwrap().push(format!("executed {trigger}"));
        }
        fn retried(&self, trigger: &str, _: &str, _: &Retry) {
            self.0.lock().unwrap().push(format!("retried {trigger}"));
        }
        fn dead_lettered(&self, trigger: &str, _: &str, _: Option<&str>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("dead_lettered {trigger}"));
        }
    }

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            source: "webhook".into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: "application/json".into(),
            subject: "push".into(),
            time: None,
            trace: Default::default(),
            data: b"{}".to_vec(),
        }
    }

    fn verdict(name: &str, matched: bool, reason: &str) -> DependencyVerdict {
        DependencyVerdict {
            name: name.into(),
            matched,
            reason: reason.into(),
        }
    }

    fn trigger(name: &str, fired: bool, reason: &str) -> TriggerVerdict {
        TriggerVerdict {
            name: name.into(),
            fired,
            rendered: None,
            reason: reason.into(),
        }
    }

    #[test]
    fn counts_verdicts_once_per_event_and_dependency_and_passes_them_on() {
        let inner = Arc::new(Counting::default());
        let r = DecisionRecorder::with_clock(&sensor(), inner.clone(), fixed);
        r.event("build", &event("e1"), &[verdict("push", true, "passed")]);
        // The same event through the other trigger's consumer, and a redelivery: once.
        r.event("notify", &event("e1"), &[verdict("push", true, "passed")]);
        r.event("build", &event("e1"), &[verdict("push", true, "passed")]);
        r.event(
            "build",
            &event("e2"),
            &[verdict("push", false, "body.ref does not match")],
        );
        // Events without an id are always counted; unknown dependencies are ignored.
        r.event("build", &event(""), &[verdict("push", true, "passed")]);
        r.event("build", &event(""), &[verdict("push", true, "passed")]);
        r.event("build", &event("e3"), &[verdict("nope", true, "passed")]);

        let d = r.snapshot();
        assert_eq!(d.sensor, "ns/s");
        let names: Vec<&str> = d.dependencies.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["push", "tag"]);
        let push = &d.dependencies[0];
        assert_eq!((push.seen, push.passed), (4, 3));
        let recent: Vec<(&str, bool)> = push
            .recent
            .iter()
            .map(|v| (v.event_id.as_str(), v.passed))
            .collect();
        assert_eq!(
            recent,
            [("e1", true), ("e2", false), ("", true), ("", true)]
        );
        assert_eq!(push.recent[1].reason, "body.ref does not match");
        assert_eq!(push.recent[1].time, fixed());
        assert_eq!((d.dependencies[1].seen, d.dependencies[1].passed), (0, 0));
        assert_eq!(inner.0.lock().unwrap().len(), 7, "every call is passed on");
    }

    #[test]
    fn keeps_the_last_recent_entries_newest_last() {
        let r = DecisionRecorder::with_clock(&sensor(), Arc::new(LogObserver), fixed);
        let total = RECENT + 5;
        for i in 0..total {
            r.event(
                "build",
                &event(&format!("e{i}")),
                &[verdict("push", i % 2 == 0, "why")],
            );
            r.decision(&trigger("build", false, &format!("waiting {i}")));
        }
        let d = r.snapshot();
        let push = &d.dependencies[0];
        assert_eq!(push.seen, total as u64);
        assert_eq!(push.passed, total.div_ceil(2) as u64);
        assert_eq!(push.recent.len(), RECENT);
        assert_eq!(push.recent[0].event_id, "e5");
        assert_eq!(push.recent[RECENT - 1].event_id, format!("e{}", total - 1));
        let build = &d.triggers[0];
        assert_eq!(build.recent.len(), RECENT);
        assert_eq!(build.recent[0].message, "waiting 5");
        assert_eq!(
            build.recent[RECENT - 1].message,
            format!("waiting {}", total - 1)
        );
        // Once out of the window, an id counts again (documented).
        r.event("notify", &event("e0"), &[verdict("push", true, "passed")]);
        assert_eq!(r.snapshot().dependencies[0].seen, total as u64 + 1);
    }

    #[test]
    fn trigger_outcomes_not_fired_succeeded_failed_and_what_followed() {
        let inner = Arc::new(Counting::default());
        let r = DecisionRecorder::with_clock(&sensor(), inner.clone(), fixed);
        r.decision(&trigger("build", false, "waiting for tag"));
        // A fired decision is recorded by its execution, not twice.
        r.decision(&trigger("build", true, "push && tag"));
        r.executed("build", &Ok("logged".into()));
        r.executed("notify", &Err("connection refused".into()));
        r.retried(
            "notify",
            "connection refused",
            &Retry::Backoff {
                attempt: 1,
                steps: 3,
                wait: Duration::from_secs(1),
            },
        );
        r.executed("notify", &Err("connection refused".into()));
        r.retried(
            "notify",
            "connection refused",
            &Retry::Redelivery {
                delivered: 1,
                max: 5,
                delay: Duration::from_secs(2),
            },
        );
        r.executed("notify", &Err("404".into()));
        r.dead_lettered("notify", "404", Some("notify-dlq"));
        // A dlqTrigger is not one of the Sensor's triggers: not kept.
        r.executed("notify-dlq", &Ok("sent".into()));
        // A follow-up without a failure before it changes nothing.
        r.retried(
            "build",
            "x",
            &Retry::Backoff {
                attempt: 1,
                steps: 2,
                wait: Duration::ZERO,
            },
        );

        let d = r.snapshot();
        let outcomes = |i: usize| -> Vec<(TriggerResult, String)> {
            d.triggers[i]
                .recent
                .iter()
                .map(|o| (o.result, o.message.clone()))
                .collect()
        };
        assert_eq!(
            outcomes(0),
            [
                (TriggerResult::NotFired, "waiting for tag".to_owned()),
                (TriggerResult::Succeeded, "logged".to_owned()),
            ]
        );
        assert_eq!(
            outcomes(1),
            [
                (
                    TriggerResult::Failed,
                    "connection refused; attempt 1 of 3 failed; retrying in 1s".to_owned()
                ),
                (
                    TriggerResult::Failed,
                    "connection refused; delivery 1 of 5 failed; the event is redelivered in 2s"
                        .to_owned()
                ),
                (
                    TriggerResult::Failed,
                    "404; gave up; dlqTrigger notify-dlq runs".to_owned()
                ),
            ]
        );
        assert_eq!(d.triggers.len(), 2);
        let calls = inner.0.lock().unwrap().clone();
        assert_eq!(calls.iter().filter(|c| c.starts_with("retried")).count(), 3);
        assert_eq!(
            calls
                .iter()
                .filter(|c| c.starts_with("dead_lettered"))
                .count(),
            1
        );
        assert_eq!(
            gave_up(None),
            "gave up; no dlqTrigger, the event is acknowledged"
        );
    }
}
