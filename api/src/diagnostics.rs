//! What the pods report about themselves for `kubectl argo events why`, `replay` and `send`: the
//! JSON a Sensor's admin server answers on [`DECISIONS_PATH`], [`BUS_PATH`], [`BUS_MESSAGES_PATH`]
//! and [`REPLAY_PATH`], an EventSource's on [`PUBLISH_PATH`] (errors as [`AdminError`]), and the
//! reasons of the Kubernetes Events the Sensor and the controller emit. The pods write these types and the
//! plugin reads them (through the API server's pod proxy), so both sides agree by construction.
//! [`EventGate`] is the one rate limit both emitters apply to their Events, so a Sensor and the
//! controller throttle alike.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Sensor's recent decisions: `GET /decisions` on its admin port.
pub const DECISIONS_PATH: &str = "/decisions";
/// The Sensor's view of the bus, asked live: `GET /bus` on its admin port.
pub const BUS_PATH: &str = "/bus";
/// The messages the stream still holds on a dependency's subject: `GET /bus/messages?…` on the
/// Sensor's admin port, query parameters in [`params`]; answers [`StoredMessages`].
pub const BUS_MESSAGES_PATH: &str = "/bus/messages";
/// Re-delivers stored events to this Sensor's trigger loops (nobody else's):
/// `POST /replay?…` with the parameters of [`BUS_MESSAGES_PATH`]; answers [`ReplayResult`].
pub const REPLAY_PATH: &str = "/replay";
/// Publishes one event of the EventSource onto its bus subject, as the event's source would:
/// `POST /publish?event=NAME` on an EventSource pod's admin port, the request body as the
/// event's data and its `Content-Type` as the data's media type (`application/json` when
/// absent); answers [`Published`] once the bus has stored it. The query takes
/// [`publish_params::EVENT`] and nothing else.
pub const PUBLISH_PATH: &str = "/publish";
/// Messages read when the query names no `limit`.
pub const DEFAULT_MESSAGE_LIMIT: usize = 100;
/// The largest `limit` accepted.
pub const MAX_MESSAGE_LIMIT: usize = 1000;

/// The query parameters of [`BUS_MESSAGES_PATH`] and [`REPLAY_PATH`]. Any other parameter, one
/// given twice, or a bad value is answered 400 with an [`AdminError`] naming it.
pub mod params {
    /// Required: the dependency whose subject is read (an unknown one is answered 404).
    pub const DEPENDENCY: &str = "dependency";
    /// Optional: only this trigger (which must use the dependency; an unknown one is 404).
    /// Without it, every trigger using the dependency.
    pub const TRIGGER: &str = "trigger";
    /// Optional: from the first message stored at or after this RFC 3339 time.
    pub const SINCE: &str = "since";
    /// Optional: from this stream sequence (from 1); excludes [`SINCE`]. Without either, from
    /// the oldest message the stream holds.
    pub const FROM_SEQ: &str = "fromSeq";
    /// Optional: at most this many messages, 1 to [`super::MAX_MESSAGE_LIMIT`]
    /// (default [`super::DEFAULT_MESSAGE_LIMIT`]).
    pub const LIMIT: &str = "limit";
    /// Every parameter, in the order above.
    pub const ALL: [&str; 5] = [DEPENDENCY, TRIGGER, SINCE, FROM_SEQ, LIMIT];
}

/// The query parameters of [`PUBLISH_PATH`]. Any other parameter, or one given twice, is
/// answered 400 with an [`AdminError`] naming it.
pub mod publish_params {
    /// Required: the event (the key under the source kind in the EventSource's spec, the
    /// CloudEvent `subject`); one the EventSource does not have is answered 404.
    pub const EVENT: &str = "event";
}

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

/// The body of `GET /bus/messages`: what the stream holds on the dependency's subject, read
/// without touching the Sensor's durable consumers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessages {
    /// `namespace/name` of the Sensor.
    pub sensor: String,
    /// The dependency asked about.
    pub dependency: String,
    /// The triggers a replay with the same query would reach, in spec order.
    pub triggers: Vec<String>,
    /// The stream subject read (`<stream>.<eventSourceName>.<eventName>`).
    pub subject: String,
    /// The messages, oldest first.
    pub messages: Vec<StoredMessage>,
    /// Whether the subject holds more after the last message (the limit, or the pod's byte
    /// budget, stopped the read): ask again from the last `seq` + 1.
    pub truncated: bool,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessage {
    /// Its stream sequence.
    pub seq: u64,
    /// When the bus stored it.
    pub time: DateTime<Utc>,
    /// The CloudEvent in JSON structured mode, as the Sensor decodes it; `null` when the
    /// message is not a CloudEvent.
    pub event: Value,
    /// Why the message is not a CloudEvent (the Sensor never runs it; a replay skips it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `POST /replay`: what was handed to the trigger loops (they run the events as
/// fresh deliveries, in order, after the answer; `/decisions` shows the outcomes). Not durable:
/// events a loop has not run when it stops are dropped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayResult {
    /// `namespace/name` of the Sensor.
    pub sensor: String,
    /// The dependency replayed.
    pub dependency: String,
    /// The stream subject read.
    pub subject: String,
    /// The triggers each event was handed to, in spec order; empty when no trigger uses the
    /// dependency (then nothing is read or handed over).
    pub triggers: Vec<String>,
    /// How many events were handed to each of them.
    pub replayed: u64,
    /// Their stream sequences, oldest first.
    pub sequences: Vec<u64>,
    /// Stream sequences of messages that are not CloudEvents, not replayed.
    pub skipped: Vec<u64>,
    /// Whether the subject holds more after the last message read: replay again from the
    /// last sequence + 1.
    pub truncated: bool,
}

/// The body of `POST /publish`: the event the EventSource pod published, once the bus had
/// stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// `namespace/name` of the EventSource (the CloudEvent `source` is the name).
    pub event_source: String,
    /// The event name (the CloudEvent `subject`).
    pub event: String,
    /// The CloudEvent `type`: the event's source kind, as that source sets it (e.g. `calendar`).
    #[serde(rename = "type")]
    pub type_: String,
    /// The CloudEvent `id` (fresh for each publish; the bus deduplicates on it).
    pub id: String,
    /// The CloudEvent `time`.
    pub time: DateTime<Utc>,
    /// The bus subject it was published on (`<stream>.<eventSourceName>.<eventName>`).
    pub subject: String,
}

/// The body of every error answer of the pods' admin routes (400, 404, 409, 503, …).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminError {
    /// For people: what is wrong, naming the parameter, dependency or trigger at fault.
    pub error: String,
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

    #[test]
    fn stored_messages_and_replays_serialise_in_camel_case() {
        let page = StoredMessages {
            sensor: "ns/s".into(),
            dependency: "push".into(),
            triggers: vec!["build".into()],
            subject: "default.webhook.push".into(),
            messages: vec![
                StoredMessage {
                    seq: 3,
                    time: DateTime::UNIX_EPOCH,
                    event: serde_json::json!({"id": "e1"}),
                    error: None,
                },
                StoredMessage {
                    seq: 4,
                    time: DateTime::UNIX_EPOCH,
                    event: Value::Null,
                    error: Some("not JSON".into()),
                },
            ],
            truncated: true,
        };
        let v = serde_json::to_value(&page).unwrap();
        assert_eq!(v["messages"][0]["seq"], 3);
        assert_eq!(v["messages"][0]["time"], "1970-01-01T00:00:00Z");
        assert_eq!(v["messages"][0]["event"]["id"], "e1");
        assert!(v["messages"][0].get("error").is_none());
        assert_eq!(v["messages"][1]["error"], "not JSON");
        assert_eq!(v["truncated"], true);
        assert_eq!(serde_json::from_value::<StoredMessages>(v).unwrap(), page);

        let replay = ReplayResult {
            sensor: "ns/s".into(),
            dependency: "push".into(),
            subject: "default.webhook.push".into(),
            triggers: vec!["build".into()],
            replayed: 1,
            sequences: vec![3],
            skipped: vec![4],
            truncated: false,
        };
        let v = serde_json::to_value(&replay).unwrap();
        assert_eq!(v["sequences"][0], 3);
        assert_eq!(v["skipped"][0], 4);
        assert_eq!(serde_json::from_value::<ReplayResult>(v).unwrap(), replay);
        let e = serde_json::to_value(AdminError {
            error: "limit: bad".into(),
        })
        .unwrap();
        assert_eq!(e, serde_json::json!({"error": "limit: bad"}));
        assert_eq!(params::ALL[3], "fromSeq");
    }

    #[test]
    fn published_serialises_in_camel_case() {
        let p = Published {
            event_source: "ns/cal".into(),
            event: "tick".into(),
            type_: "calendar".into(),
            id: "0f".into(),
            time: DateTime::UNIX_EPOCH,
            subject: "default.cal.tick".into(),
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "eventSource": "ns/cal",
                "event": "tick",
                "type": "calendar",
                "id": "0f",
                "time": "1970-01-01T00:00:00Z",
                "subject": "default.cal.tick",
            })
        );
        assert_eq!(serde_json::from_value::<Published>(v).unwrap(), p);
    }
}
