//! Replays, for `kubectl argo events replay`: what the Sensor's `/bus/messages` and `/replay`
//! select (pure: [`parse_selection`], then [`Catalog::resolve`] against the Sensor), and
//! [`Replays`], the door through which `/replay` hands stored events to the trigger loops this
//! replica runs. Each loop of [`crate::sensor`] opens its [`ReplayInlet`] while it runs and takes
//! what arrives there as it takes a delivery from the bus: same filters, conditions, parameters,
//! execution, retries and observer calls, except that the duplicate-id window does not swallow
//! a replay (it is asked for) and there is no bus message to settle (a retryable failure puts
//! the event back into the loop after the redelivery delay instead of a nak). Replays reach only
//! this Sensor's loops; nothing is published, so other Sensors on the subject see nothing again.
//!
//! A replay is not durable: events a loop has not run yet when it stops (shutdown, lost
//! leadership) are dropped; replay again. In `/decisions` a replay's trigger outcomes are
//! recorded like any others, while a dependency verdict is counted once per event id as long as
//! the id is among the dependency's recent verdicts ([`crate::decisions`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use argo_events_api::Sensor;
use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::{DEFAULT_MESSAGE_LIMIT, MAX_MESSAGE_LIMIT, params};
use argo_events_bus::{Acker, BusError, Delivery, StartAt};
use async_trait::async_trait;
use chrono::DateTime;
use tokio::sync::mpsc;

/// Replayed events a trigger loop holds before it ran them: a replay of [`MAX_MESSAGE_LIMIT`]
/// events always fits an idle loop.
pub const QUEUE: usize = MAX_MESSAGE_LIMIT;

/// The payload bytes one read of stored messages keeps at most (the first message whatever its
/// size), so a request cannot make the pod hold a thousand large events at once.
pub const MAX_READ_BYTES: usize = 16 << 20;

/// What a `/bus/messages` or `/replay` query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The dependency whose subject is read.
    pub dependency: String,
    /// Only this trigger, when given.
    pub trigger: Option<String>,
    /// Where reading starts.
    pub from: StartAt,
    /// At most this many messages.
    pub limit: usize,
}

/// A query parameter that cannot be taken (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter {parameter}: {message}")]
pub struct QueryError {
    /// The parameter at fault.
    pub parameter: String,
    /// What is wrong with it.
    pub message: String,
}

fn query_error(parameter: &str, message: impl Into<String>) -> QueryError {
    QueryError {
        parameter: parameter.to_owned(),
        message: message.into(),
    }
}

/// Reads a query's parameters ([`params`]): every one known, none twice, each value valid.
pub fn parse_selection(pairs: &[(String, String)]) -> Result<Selection, QueryError> {
    let mut given: HashMap<&str, &str> = HashMap::new();
    for (key, value) in pairs {
        let Some(known) = params::ALL.iter().find(|p| **p == key.as_str()) else {
            return Err(query_error(
                key,
                format!("unknown (the parameters are {})", params::ALL.join(", ")),
            ));
        };
        if given.insert(known, value.as_str()).is_some() {
            return Err(query_error(key, "given more than once"));
        }
    }
    let dependency = match given.get(params::DEPENDENCY) {
        None => {
            return Err(query_error(
                params::DEPENDENCY,
                "required: the name of one of the Sensor's dependencies",
            ));
        }
        Some(&"") => return Err(query_error(params::DEPENDENCY, "empty")),
        Some(d) => (*d).to_owned(),
    };
    let trigger = match given.get(params::TRIGGER) {
        Some(&"") => return Err(query_error(params::TRIGGER, "empty")),
        t => t.map(|t| (*t).to_owned()),
    };
    let from = match (given.get(params::SINCE), given.get(params::FROM_SEQ)) {
        (Some(_), Some(_)) => {
            return Err(query_error(
                &format!("{} and {}", params::SINCE, params::FROM_SEQ),
                "give one or the other",
            ));
        }
        (Some(since), None) => {
            let time = DateTime::parse_from_rfc3339(since).map_err(|e| {
                query_error(
                    params::SINCE,
                    format!("{since:?} is not an RFC 3339 time such as 2024-05-01T12:00:00Z: {e}"),
                )
            })?;
            StartAt::Time(SystemTime::from(time))
        }
        (None, Some(seq)) => match seq.parse::<u64>() {
            Ok(n) if n >= 1 => StartAt::Sequence(n),
            _ => {
                return Err(query_error(
                    params::FROM_SEQ,
                    format!("{seq:?} is not a stream sequence (a whole number from 1)"),
                ));
            }
        },
        (None, None) => StartAt::First,
    };
    let limit = match given.get(params::LIMIT) {
        None => DEFAULT_MESSAGE_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=MAX_MESSAGE_LIMIT).contains(&n) => n,
            _ => {
                return Err(query_error(
                    params::LIMIT,
                    format!("{text:?} is not a whole number from 1 to {MAX_MESSAGE_LIMIT}"),
                ));
            }
        },
    };
    Ok(Selection {
        dependency,
        trigger,
        from,
        limit,
    })
}

/// What a selection names in the Sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The dependency.
    pub dependency: String,
    /// Its `eventSourceName`.
    pub event_source: String,
    /// Its `eventName`.
    pub event_name: String,
    /// The triggers it reaches, in spec order: the one asked for, or every trigger using it.
    pub triggers: Vec<String>,
}

/// A selection that names what the Sensor does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No dependency of that name (answered 404).
    #[error("dependency {dependency:?} is not one of Sensor {sensor}'s dependencies ({known})")]
    UnknownDependency {
        /// `namespace/name` of the Sensor.
        sensor: String,
        /// The name asked for.
        dependency: String,
        /// The names it has, comma-separated.
        known: String,
    },
    /// No trigger of that name (answered 404).
    #[error("trigger {trigger:?} is not one of Sensor {sensor}'s triggers ({known})")]
    UnknownTrigger {
        /// `namespace/name` of the Sensor.
        sensor: String,
        /// The name asked for.
        trigger: String,
        /// The names it has, comma-separated.
        known: String,
    },
    /// The trigger does not listen to the dependency (answered 400).
    #[error(
        "trigger {trigger:?} does not use dependency {dependency:?} (its conditions name {uses})"
    )]
    NotUsed {
        /// The trigger.
        trigger: String,
        /// The dependency.
        dependency: String,
        /// The dependencies it uses, comma-separated.
        uses: String,
    },
}

/// The dependencies and triggers of a Sensor, as a selection is resolved against them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    sensor: String,
    /// (name, eventSourceName, eventName), in spec order.
    dependencies: Vec<(String, String, String)>,
    /// (trigger, the dependencies it uses), in spec order.
    triggers: Vec<(String, Vec<String>)>,
}

fn names<'a>(list: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = list.collect();
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

impl Catalog {
    /// The catalog of `sensor`.
    pub fn of(sensor: &Sensor) -> Self {
        Catalog {
            sensor: format!(
                "{}/{}",
                sensor.metadata.namespace.as_deref().unwrap_or_default(),
                sensor.metadata.name.as_deref().unwrap_or_default()
            ),
            dependencies: sensor
                .spec
                .dependencies
                .iter()
                .map(|d| {
                    (
                        d.name.clone(),
                        d.event_source_name.clone(),
                        d.event_name.clone(),
                    )
                })
                .collect(),
            triggers: sensor
                .spec
                .triggers
                .iter()
                .filter_map(|t| {
                    let name = t.template.as_ref()?.name.clone();
                    let uses = crate::sensor::trigger_subscriptions(sensor, t)
                        .into_iter()
                        .map(|s| s.dependency)
                        .collect();
                    Some((name, uses))
                })
                .collect(),
        }
    }

    /// What `selection` names, or why the Sensor has no such thing.
    pub fn resolve(&self, selection: &Selection) -> Result<Target, ResolveError> {
        let Some((dependency, event_source, event_name)) = self
            .dependencies
            .iter()
            .find(|(name, _, _)| *name == selection.dependency)
        else {
            return Err(ResolveError::UnknownDependency {
                sensor: self.sensor.clone(),
                dependency: selection.dependency.clone(),
                known: names(self.dependencies.iter().map(|(n, _, _)| n.as_str())),
            });
        };
        let triggers = match &selection.trigger {
            None => self
                .triggers
                .iter()
                .filter(|(_, uses)| uses.contains(dependency))
                .map(|(t, _)| t.clone())
                .collect(),
            Some(wanted) => {
                let Some((trigger, uses)) = self.triggers.iter().find(|(t, _)| t == wanted) else {
                    return Err(ResolveError::UnknownTrigger {
                        sensor: self.sensor.clone(),
                        trigger: wanted.clone(),
                        known: names(self.triggers.iter().map(|(t, _)| t.as_str())),
                    });
                };
                if !uses.contains(dependency) {
                    return Err(ResolveError::NotUsed {
                        trigger: trigger.clone(),
                        dependency: dependency.clone(),
                        uses: names(uses.iter().map(String::as_str)),
                    });
                }
                vec![trigger.clone()]
            }
        };
        Ok(Target {
            dependency: dependency.clone(),
            event_source: event_source.clone(),
            event_name: event_name.clone(),
            triggers,
        })
    }
}

/// A stored event handed to a trigger loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    /// The dependency it is delivered to.
    pub dependency: String,
    /// The event.
    pub event: Event,
    /// Its stream sequence.
    pub sequence: u64,
    /// Deliveries so far, this one included (a replay that fails retryably comes back, as a
    /// redelivery would, counted on).
    pub delivered: u64,
}

impl Injected {
    /// The delivery the loop runs: no bus message behind it, so settling it does nothing.
    pub fn into_delivery(self) -> (String, Delivery) {
        (
            self.dependency,
            Delivery {
                event: self.event,
                stream_sequence: self.sequence,
                delivered: self.delivered,
                acker: Box::new(NothingToSettle),
            },
        )
    }
}

/// The acker of a replayed event: the bus message it came from was settled long ago (or is
/// the durable consumer's to settle), so acks, naks and heartbeats have nothing to tell the bus.
struct NothingToSettle;

#[async_trait]
impl Acker for NothingToSettle {
    async fn ack(&self) -> Result<(), BusError> {
        Ok(())
    }
    async fn nak(&self, _delay: Option<Duration>) -> Result<(), BusError> {
        Ok(())
    }
    async fn in_progress(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// Why a replay was not handed over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandOverError {
    /// Some of the triggers have no running loop on this replica (answered 409).
    #[error(
        "this replica is not running the trigger loops of {triggers} (a standby under leader election, or a Sensor starting or stopping): replay on the replica that leads"
    )]
    NotRunning {
        /// The triggers without a loop, comma-separated.
        triggers: String,
    },
    /// A loop has too many replayed events still to run (answered 503).
    #[error(
        "trigger {trigger} has {queued} replayed events still to run; {wanted} more do not fit its queue of {QUEUE}: try again once they ran"
    )]
    Full {
        /// The trigger.
        trigger: String,
        /// Events it holds.
        queued: usize,
        /// Events this replay would add.
        wanted: usize,
    },
}

/// The trigger loops running on this replica, each ready to take replayed events. Nothing is
/// handed over unless every trigger asked for can take all of it.
#[derive(Debug, Default)]
pub struct Replays {
    loops: Mutex<HashMap<String, Inlet>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Inlet {
    id: u64,
    tx: mpsc::Sender<Injected>,
}

/// A trigger loop's end of [`Replays`]; the loop stops taking replays when it is dropped.
#[derive(Debug)]
pub struct ReplayInlet {
    rx: mpsc::Receiver<Injected>,
    tx: mpsc::Sender<Injected>,
    replays: Arc<Replays>,
    trigger: String,
    id: u64,
}

impl ReplayInlet {
    /// The next replayed event (never `None` while the inlet lives).
    pub async fn recv(&mut self) -> Option<Injected> {
        self.rx.recv().await
    }

    /// Where the loop puts an event back to run again later (a retryable failure).
    pub fn again(&self) -> mpsc::Sender<Injected> {
        self.tx.clone()
    }
}

impl Drop for ReplayInlet {
    fn drop(&mut self) {
        let mut loops = self.replays.lock();
        if loops.get(&self.trigger).is_some_and(|i| i.id == self.id) {
            loops.remove(&self.trigger);
        }
    }
}

impl Replays {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Inlet>> {
        // A map of senders: a panic elsewhere leaves it usable.
        self.loops.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers the loop of `trigger` (replacing an earlier one of the same name).
    pub fn open(self: &Arc<Self>, trigger: &str) -> ReplayInlet {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock()
            .insert(trigger.to_owned(), Inlet { id, tx: tx.clone() });
        ReplayInlet {
            rx,
            tx,
            replays: self.clone(),
            trigger: trigger.to_owned(),
            id,
        }
    }

    /// The triggers whose loops run here, sorted.
    pub fn running(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Fails when some of `triggers` have no loop here.
    pub fn check_running(&self, triggers: &[String]) -> Result<(), HandOverError> {
        let loops = self.lock();
        let missing: Vec<&str> = triggers
            .iter()
            .filter(|t| loops.get(*t).is_none_or(|i| i.tx.is_closed()))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(HandOverError::NotRunning {
                triggers: missing.join(", "),
            })
        }
    }

    /// Hands `events` (stream sequence and event, in order) for `dependency` to the loop of
    /// every one of `triggers`, or to none.
    pub fn hand_over(
        &self,
        triggers: &[String],
        dependency: &str,
        events: &[(u64, Event)],
    ) -> Result<(), HandOverError> {
        self.check_running(triggers)?;
        let senders: Vec<(String, mpsc::Sender<Injected>)> = {
            let loops = self.lock();
            triggers
                .iter()
                .filter_map(|t| loops.get(t).map(|i| (t.clone(), i.tx.clone())))
                .collect()
        };
        if events.is_empty() {
            return Ok(());
        }
        let mut permits = Vec::with_capacity(senders.len());
        for (trigger, tx) in &senders {
            match tx.try_reserve_many(events.len()) {
                Ok(p) => permits.push(p),
                Err(mpsc::error::TrySendError::Full(())) => {
                    return Err(HandOverError::Full {
                        trigger: trigger.clone(),
                        queued: QUEUE - tx.capacity(),
                        wanted: events.len(),
                    });
                }
                Err(mpsc::error::TrySendError::Closed(())) => {
                    return Err(HandOverError::NotRunning {
                        triggers: trigger.clone(),
                    });
                }
            }
        }
        for permit in permits {
            for (permit, (sequence, event)) in permit.zip(events) {
                permit.send(Injected {
                    dependency: dependency.to_owned(),
                    event: event.clone(),
                    sequence: *sequence,
                    delivered: 1,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
