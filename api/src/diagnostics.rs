//! What the pods report about themselves for `kubectl argo events why`: the JSON a Sensor's
//! admin server answers on [`DECISIONS_PATH`] and [`BUS_PATH`], and the reasons of the
//! Kubernetes Events the Sensor and the controller emit. The pods write these types and the
//! plugin reads them (through the API server's pod proxy), so both sides agree by construction.
//! [`EventGate`] is the one rate limit both emitters apply to their Events, so a Sensor and the
//! controller throttle alike.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The Sensor's recent decisions: `GET /decisions` on its admin port.
pub const DECISIONS_PATH: &str = "/decisions";
/// The Sensor's view of the bus, asked live: `GET /bus` on its admin port.
pub const BUS_PATH: &str = "/bus";
/// The admin port of the pods when `METRICS_ADDR` does not name one (upstream's metrics port).
pub const DEFAULT_ADMIN_PORT: u16 = 7777;
/// How many recent entries are kept per dependency and per trigger.
pub const RECENT: usize = 20;

/// Kubernetes Event reasons (type Warning unless noted). Kept stable: `why` and users' alerts
/// select on them.
pub mod reasons {
    /// A dependency's filter (or transform) rejected an event.
    pub const DEPENDENCY_FILTER_FAILED: &str = "DependencyFilterFailed";
    /// A trigger failed (the message says how; it is retried when the policy allows).
    pub const TRIGGER_FAILED: &str = "TriggerFailed";
    /// A trigger failed and will be tried again (Normal).
    pub const TRIGGER_RETRIED: &str = "TriggerRetried";
    /// A trigger gave up and its `dlqTrigger` fired (or had none to fire).
    pub const TRIGGER_SENT_TO_DLQ: &str = "TriggerSentToDLQ";
    /// A trigger ran (Normal).
    pub const TRIGGER_SUCCEEDED: &str = "TriggerSucceeded";
    /// The controller could not reconcile an object.
    pub const RECONCILE_FAILED: &str = "ReconcileFailed";
}

/// The body of `GET /decisions`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decisions {
    /// `namespace/name` of the Sensor.
    pub sensor: String,
    /// One entry per dependency of the Sensor, in spec order.
    pub dependencies: Vec<DependencyDecisions>,
    /// One entry per trigger of the Sensor, in spec order.
    pub triggers: Vec<TriggerDecisions>,
}

/// A dependency's recent verdicts, newest last.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyDecisions {
    /// Dependency name.
    pub name: String,
    /// The events seen since the pod started.
    pub seen: u64,
    /// How many of them passed.
    pub passed: u64,
    /// The last [`RECENT`] verdicts.
    pub recent: Vec<Verdict>,
}

/// One dependency verdict on one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// When it was decided.
    pub time: DateTime<Utc>,
    /// The event's id.
    pub event_id: String,
    /// Whether the event passed the dependency's transform and filters.
    pub passed: bool,
    /// Why: which filter failed on which value, or what passed.
    pub reason: String,
}

/// A trigger's recent outcomes, newest last.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerDecisions {
    /// Trigger name.
    pub name: String,
    /// The last [`RECENT`] outcomes.
    pub recent: Vec<TriggerOutcome>,
}

/// What happened to a trigger once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerOutcome {
    /// When.
    pub time: DateTime<Utc>,
    /// What.
    pub result: TriggerResult,
    /// For people: the engine's reason when it did not fire, the summary on success, the error
    /// on failure.
    pub message: String,
}

/// The kinds of trigger outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TriggerResult {
    /// The conditions were not met; nothing ran.
    NotFired,
    /// It ran and succeeded.
    Succeeded,
    /// It ran and failed.
    Failed,
}

/// The body of `GET /bus`: each subscription of the Sensor as the bus sees it now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BusReport {
    /// `namespace/name` of the Sensor.
    pub sensor: String,
    /// One per (trigger, dependency) subscription.
    pub subscriptions: Vec<SubscriptionReport>,
}

/// One durable consumer and the subject it reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionReport {
    /// Trigger name.
    pub trigger: String,
    /// Dependency name.
    pub dependency: String,
    /// The stream subject (`<eventsource>.<event>` under the stream's prefix).
    pub subject: String,
    /// Messages the stream holds on that subject (None when the bus could not say).
    pub messages: Option<u64>,
    /// The durable consumer's name.
    pub consumer: String,
    /// Its state, None when it does not exist.
    pub state: Option<ConsumerState>,
    /// Why the bus could not be asked, when it could not.
    pub error: Option<String>,
}

/// A durable consumer's counters, as JetStream reports them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerState {
    /// Messages on its subject not yet delivered.
    pub pending: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
    /// Delivered more than once and not yet acknowledged.
    pub redelivered: u64,
    /// The last stream sequence delivered to it.
    pub delivered_stream_seq: u64,
    /// The last stream sequence acknowledged.
    pub ack_floor_stream_seq: u64,
}

/// At most one Kubernetes Event per key (reason and dependency, trigger or object) this often.
pub const EVENT_INTERVAL: Duration = Duration::from_secs(10);

/// The longest note the API server accepts on an `events.k8s.io/v1` Event.
pub const MAX_NOTE_BYTES: usize = 1024;

/// How long a key is remembered after its last Event: kube's `Recorder` folds a repeat into the
/// Event's series for 6 minutes, so past that a key's entry only holds memory.
const FORGET_AFTER: Duration = Duration::from_secs(6 * 60);

/// Entries kept before forgotten keys are swept.
const SWEEP_AT: usize = 256;

/// `text` cut to at most [`MAX_NOTE_BYTES`] (on a character boundary, ending in `…` when cut).
pub fn event_note(text: &str) -> String {
    if text.len() <= MAX_NOTE_BYTES {
        return text.to_owned();
    }
    let ellipsis = "…";
    let mut end = MAX_NOTE_BYTES - ellipsis.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ellipsis}", &text[..end])
}

/// Decides which Events are written, per key: at most one per `interval` (occurrences in between
/// are skipped; the pod's `/decisions` and the status conditions keep the exact record), and
/// whether a written one repeats the key's previous Event (same note: the value kept for the key,
/// e.g. a kube `Recorder` that folds it into that Event's series) or starts a new one (another
/// note: a fresh value, so the new note is what people read). Time is a parameter.
#[derive(Debug)]
pub struct EventGate<V> {
    interval: Duration,
    entries: HashMap<String, GateEntry<V>>,
}

#[derive(Debug)]
struct GateEntry<V> {
    sent: Instant,
    note: String,
    value: V,
}

impl<V> EventGate<V> {
    /// A gate letting one Event per key through every `interval`.
    pub fn new(interval: Duration) -> Self {
        EventGate {
            interval,
            entries: HashMap::new(),
        }
    }

    /// Whether an Event for `key` with `note` is written at `now`: `None` when the key had one
    /// less than `interval` ago; otherwise the value to write it with, the key's own when `note`
    /// repeats the previous one, else a new one from `fresh`.
    pub fn admit(
        &mut self,
        key: &str,
        note: &str,
        now: Instant,
        fresh: impl FnOnce() -> V,
    ) -> Option<&V> {
        if let Some(entry) = self.entries.get(key)
            && now.saturating_duration_since(entry.sent) < self.interval
        {
            return None;
        }
        if !self.entries.contains_key(key) && self.entries.len() >= SWEEP_AT {
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.sent) < FORGET_AFTER);
        }
        match self.entries.entry(key.to_owned()) {
            Entry::Occupied(occupied) => {
                let entry = occupied.into_mut();
                entry.sent = now;
                if entry.note != note {
                    entry.note = note.to_owned();
                    entry.value = fresh();
                }
                Some(&entry.value)
            }
            Entry::Vacant(vacant) => Some(
                &vacant
                    .insert(GateEntry {
                        sent: now,
                        note: note.to_owned(),
                        value: fresh(),
                    })
                    .value,
            ),
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_to_what_the_api_server_accepts() {
        assert_eq!(event_note("short"), "short");
        let long = "é".repeat(MAX_NOTE_BYTES);
        let cut = event_note(&long);
        assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with("éé"));
        let exact = "a".repeat(MAX_NOTE_BYTES);
        assert_eq!(event_note(&exact), exact);
    }

    #[test]
    fn the_gate_lets_one_event_per_key_through_per_interval() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut made = 0u32;
        let mut gate: EventGate<u32> = EventGate::new(EVENT_INTERVAL);
        let mut fresh = || {
            made += 1;
            made
        };
        assert_eq!(
            gate.admit("TriggerFailed/a", "boom", at(0), &mut fresh),
            Some(&1)
        );
        // Within the interval: skipped, whatever the note.
        assert_eq!(
            gate.admit("TriggerFailed/a", "boom", at(5), &mut fresh),
            None
        );
        assert_eq!(
            gate.admit("TriggerFailed/a", "other", at(9), &mut fresh),
            None
        );
        // Another key is not held back.
        assert_eq!(
            gate.admit("TriggerFailed/b", "boom", at(5), &mut fresh),
            Some(&2)
        );
        // Past the interval, the same note repeats the key's Event (its value is kept)...
        assert_eq!(
            gate.admit("TriggerFailed/a", "boom", at(10), &mut fresh),
            Some(&1)
        );
        // ...counted from the last one written, not from the skipped ones.
        assert_eq!(
            gate.admit("TriggerFailed/a", "boom", at(19), &mut fresh),
            None
        );
        // A new note starts a new Event.
        assert_eq!(
            gate.admit("TriggerFailed/a", "bang", at(20), &mut fresh),
            Some(&3)
        );
        assert_eq!(
            gate.admit("TriggerFailed/a", "bang", at(31), &mut fresh),
            Some(&3)
        );
        assert_eq!(gate.len(), 2);
        assert!(!gate.is_empty());
    }

    #[test]
    fn the_gate_forgets_keys_it_has_not_seen_for_a_while() {
        let t0 = Instant::now();
        let mut gate: EventGate<()> = EventGate::new(EVENT_INTERVAL);
        for i in 0..SWEEP_AT {
            assert!(gate.admit(&format!("k{i}"), "n", t0, || ()).is_some());
        }
        assert_eq!(gate.len(), SWEEP_AT);
        // A new key once the old ones are stale sweeps them.
        let later = t0 + FORGET_AFTER;
        assert!(gate.admit("new", "n", later, || ()).is_some());
        assert_eq!(gate.len(), 1);
    }

    #[test]
    fn decisions_serialise_in_camel_case() {
        let d = Decisions {
            sensor: "ns/s".into(),
            dependencies: vec![DependencyDecisions {
                name: "push".into(),
                seen: 2,
                passed: 1,
                recent: vec![Verdict {
                    time: DateTime::UNIX_EPOCH,
                    event_id: "e1".into(),
                    passed: false,
                    reason: "no".into(),
                }],
            }],
            triggers: vec![TriggerDecisions {
                name: "t".into(),
                recent: vec![TriggerOutcome {
                    time: DateTime::UNIX_EPOCH,
                    result: TriggerResult::NotFired,
                    message: "waiting".into(),
                }],
            }],
        };
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["dependencies"][0]["recent"][0]["eventId"], "e1");
        assert_eq!(v["triggers"][0]["recent"][0]["result"], "notFired");
        let back: Decisions = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }
}
