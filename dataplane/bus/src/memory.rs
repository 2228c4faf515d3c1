//! The bus in process: one stream, durable consumers and KV buckets in memory, with the
//! semantics of the JetStream layout. For local runs (`kubectl argo events run`) and tests.
//!
//! - The stream numbers events from 1 and drops a repeated event id published within the
//!   duplicates window (the publish still succeeds, as a JetStream duplicate does).
//! - A durable consumer starts at the end of the stream when it is created (DeliverNew) and
//!   survives its [`Consumer`] handle: subscribing again with the same durable name resumes it.
//!   Unacked deliveries come back after the ack wait, a nak brings one back at once or after its
//!   delay, `in_progress` restarts the ack wait, and `delivered` counts deliveries.
//! - Events every existing consumer has settled or skipped leave the stream: consumers created
//!   later start at the end and could never read them (events published while no consumer
//!   exists leave it the same way, as a JetStream DeliverNew consumer never sees them). So the
//!   optional `max_msgs` bound counts only events some consumer still has to settle.
//! - The last [`MemoryBusOptions::history`] events that left the stream are kept for
//!   [`EventBus::stored_messages`] (what a Sensor's `/replay` reads), as a JetStream stream with
//!   limits retention keeps acknowledged messages; nothing delivers them again.
//! - [`EventBus::inspect`] reports from that state with JetStream's meaning of each figure, so
//!   `messages` counts the events of a subject the bus holds (still to settle, or kept for
//!   reading), not every event ever published on it.
//!
//! [`MemoryBus`] is cheap to clone; clones share one bus.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::ConsumerState as ConsumerReport;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{DEFAULT_ACK_WAIT, DEFAULT_DUPLICATES, Discard};
use crate::{
    Acker, BusError, Consumer, Delivery, EventBus, KeyValue, StoredPage, StoredRange, Subscription,
    SubscriptionState, naming,
};

mod stored;

/// Events kept for reading once every consumer has settled them, by default.
pub const DEFAULT_HISTORY: usize = 1000;

/// Settings of a [`MemoryBus`].
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryBusOptions {
    /// How long a delivery may stay unacked before it is delivered again (30 s by default).
    pub ack_wait: Duration,
    /// Window in which a repeated event id is dropped (300 s by default).
    pub duplicates: Duration,
    /// Most events kept; `None` for no bound.
    pub max_msgs: Option<usize>,
    /// What a full stream does: refuse the publish (`New`, the default) or drop the oldest
    /// event (`Old`).
    pub discard: Discard,
    /// Events kept for [`EventBus::stored_messages`] once no consumer has them left to settle,
    /// newest kept ([`DEFAULT_HISTORY`] by default; 0 keeps none). Not counted by `max_msgs`.
    pub history: usize,
}

impl Default for MemoryBusOptions {
    fn default() -> Self {
        MemoryBusOptions {
            ack_wait: DEFAULT_ACK_WAIT,
            duplicates: DEFAULT_DUPLICATES,
            max_msgs: None,
            discard: Discard::New,
            history: DEFAULT_HISTORY,
        }
    }
}

/// The in-process bus.
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("MemoryBus")
            .field("last_sequence", &state.last_seq)
            .field("stored", &state.messages.len())
            .field("consumers", &state.consumers.len())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    options: MemoryBusOptions,
    state: Mutex<State>,
    /// Woken on every publish, nak and consumer deletion.
    changed: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    /// Stored events, contiguous sequences ascending.
    messages: VecDeque<Stored>,
    /// Events that left `messages` (settled by every consumer), oldest first, all older than
    /// those in `messages`; at most `MemoryBusOptions::history`.
    history: VecDeque<Stored>,
    last_seq: u64,
    /// Event ids seen within the duplicates window, oldest first.
    recent_ids: VecDeque<(Instant, String)>,
    recent_set: HashMap<String, Instant>,
    consumers: HashMap<String, ConsumerState>,
    /// Distinguishes a consumer from an earlier one of the same name.
    next_generation: u64,
    buckets: HashMap<String, BTreeMap<String, Bytes>>,
}

struct Stored {
    seq: u64,
    stored_at: SystemTime,
    event: Event,
}

struct ConsumerState {
    generation: u64,
    event_source: String,
    event_name: String,
    /// Next stream sequence never delivered to this consumer.
    next_seq: u64,
    /// Delivered, not acked: sequence → deliveries so far and when it is due again.
    pending: BTreeMap<u64, Pending>,
}

struct Pending {
    delivered: u64,
    due: Instant,
}

impl ConsumerState {
    fn matches(&self, event: &Event) -> bool {
        event.source == self.event_source && event.subject == self.event_name
    }
}

impl State {
    fn first_seq(&self) -> u64 {
        self.messages
            .front()
            .map_or(self.last_seq + 1, |stored| stored.seq)
    }

    /// Moves events no consumer can be delivered any more to the history, keeping at most
    /// `history` there.
    fn prune(&mut self, history: usize) {
        let first = self.first_seq();
        let end = self.last_seq + 1;
        let mut floor = end;
        for consumer in self.consumers.values_mut() {
            // Move past events this consumer does not want, so they do not pin the stream.
            let mut seq = consumer.next_seq.max(first);
            while seq < end {
                let index = usize::try_from(seq - first).unwrap_or(usize::MAX);
                match self.messages.get(index) {
                    Some(stored) if !consumer.matches(&stored.event) => seq += 1,
                    _ => break,
                }
            }
            consumer.next_seq = seq;
            let lowest_pending = consumer.pending.keys().next().copied().unwrap_or(seq);
            floor = floor.min(lowest_pending.min(seq));
        }
        while self.messages.front().is_some_and(|s| s.seq < floor) {
            if let Some(settled) = self.messages.pop_front() {
                self.history.push_back(settled);
            }
        }
        while self.history.len() > history {
            self.history.pop_front();
        }
    }

    fn forget_old_ids(&mut self, now: Instant, window: Duration) {
        while let Some((at, _)) = self.recent_ids.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if let Some((at, id)) = self.recent_ids.pop_front()
                && self.recent_set.get(&id) == Some(&at)
            {
                self.recent_set.remove(&id);
            }
        }
    }
}

impl MemoryBus {
    /// A bus with the default options.
    pub fn new() -> MemoryBus {
        MemoryBus::default()
    }

    /// A bus with `options`.
    pub fn with_options(options: MemoryBusOptions) -> MemoryBus {
        MemoryBus {
            inner: Arc::new(Inner {
                options,
                ..Inner::default()
            }),
        }
    }

    /// Sequence of the last event stored (0 before the first).
    pub fn last_sequence(&self) -> u64 {
        self.inner.lock().last_seq
    }

    /// Events still held because some consumer has not settled them.
    pub fn stored(&self) -> usize {
        self.inner.lock().messages.len()
    }

    fn fetch_now(
        &self,
        durable: &str,
        generation: u64,
        max: usize,
    ) -> Result<(Vec<Delivery>, Option<Instant>), BusError> {
        let now = Instant::now();
        let ack_wait = self.inner.options.ack_wait;
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        let consumer = match state.consumers.get_mut(durable) {
            Some(c) if c.generation == generation => c,
            _ => return Err(gone("fetch", durable)),
        };
        let first = state.messages.front().map_or(state.last_seq + 1, |s| s.seq);
        let lookup = |seq: u64| -> Option<&Stored> {
            let index = usize::try_from(seq.checked_sub(first)?).ok()?;
            state.messages.get(index)
        };
        let mut out = Vec::new();
        // Due redeliveries first, oldest first.
        let due: Vec<u64> = consumer
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in due {
            if out.len() >= max {
                break;
            }
            let Some(stored) = lookup(seq) else {
                // Dropped by `discard: Old`.
                consumer.pending.remove(&seq);
                continue;
            };
            let Some(pending) = consumer.pending.get_mut(&seq) else {
                continue;
            };
            pending.delivered += 1;
            pending.due = now + ack_wait;
            out.push(self.delivery(durable, generation, stored, pending.delivered));
        }
        // Then events never delivered.
        let end = state.last_seq + 1;
        let mut seq = consumer.next_seq.max(first);
        while seq < end && out.len() < max {
            if let Some(stored) = lookup(seq)
                && consumer.matches(&stored.event)
            {
                consumer.pending.insert(
                    seq,
                    Pending {
                        delivered: 1,
                        due: now + ack_wait,
                    },
                );
                out.push(self.delivery(durable, generation, stored, 1));
            }
            seq += 1;
        }
        consumer.next_seq = seq;
        let next_due = consumer.pending.values().map(|p| p.due).min();
        Ok((out, next_due))
    }

    fn delivery(
        &self,
        durable: &str,
        generation: u64,
        stored: &Stored,
        delivered: u64,
    ) -> Delivery {
        Delivery {
            event: stored.event.clone(),
            stream_sequence: stored.seq,
            delivered,
            acker: Box::new(MemoryAcker {
                bus: self.clone(),
                durable: durable.to_owned(),
                generation,
                seq: stored.seq,
            }),
        }
    }

    fn settle(
        &self,
        operation: &'static str,
        durable: &str,
        generation: u64,
        seq: u64,
        settle: impl FnOnce(&mut BTreeMap<u64, Pending>),
    ) -> Result<(), BusError> {
        let mut state = self.inner.lock();
        match state.consumers.get_mut(durable) {
            Some(c) if c.generation == generation => settle(&mut c.pending),
            _ => return Err(gone(operation, durable)),
        }
        tracing::trace!(durable, seq, operation, "settled");
        state.prune(self.inner.options.history);
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(())
    }
}

fn gone(operation: &'static str, durable: &str) -> BusError {
    BusError::Refused {
        operation,
        reason: format!("durable consumer {durable} no longer exists (unsubscribed)"),
    }
}

/// Refuses event source and event names that cannot be one subject token, as JetStream's
/// `<stream>.<eventSourceName>.<eventName>` layout needs.
pub(crate) fn check_event_names(
    operation: &'static str,
    event_source: &str,
    event_name: &str,
) -> Result<(), BusError> {
    for (what, name) in [
        ("event source name", event_source),
        ("event name", event_name),
    ] {
        if !naming::is_subject_token(name) {
            return Err(BusError::Refused {
                operation,
                reason: format!(
                    "{what} {name:?} cannot be used on the bus: it must be non-empty without '.', '*', '>' or whitespace"
                ),
            });
        }
    }
    Ok(())
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        check_event_names("publish", &event.source, &event.subject)?;
        let subject = format!("{}.{}", event.source, event.subject);
        let span = crate::tracecontext::publish_span("memory", &subject, event);
        let _entered = span.enter();
        let trace = crate::tracecontext::outgoing(&span, event);
        let options = &self.inner.options;
        let now = Instant::now();
        let mut state = self.inner.lock();
        state.forget_old_ids(now, options.duplicates);
        if !event.id.is_empty() && state.recent_set.contains_key(&event.id) {
            tracing::debug!(id = %event.id, source = %event.source, subject = %event.subject, "duplicate event id, stored once");
            return Ok(());
        }
        state.prune(self.inner.options.history);
        if let Some(max) = options.max_msgs
            && state.messages.len() >= max
        {
            match options.discard {
                Discard::New => {
                    return Err(BusError::Refused {
                        operation: "publish",
                        reason: format!(
                            "the in-memory stream is full ({max} unconsumed events, discard New); event {} of {}/{} was not stored",
                            event.id, event.source, event.subject
                        ),
                    });
                }
                Discard::Old => {
                    while state.messages.len() >= max.max(1) {
                        state.messages.pop_front();
                    }
                }
            }
        }
        state.last_seq += 1;
        let seq = state.last_seq;
        state.messages.push_back(Stored {
            seq,
            stored_at: SystemTime::now(),
            event: Event {
                trace,
                ..event.clone()
            },
        });
        if !event.id.is_empty() {
            state.recent_ids.push_back((now, event.id.clone()));
            state.recent_set.insert(event.id.clone(), now);
        }
        state.prune(self.inner.options.history);
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<Box<dyn Consumer>, BusError> {
        check_event_names(
            "subscribe",
            &subscription.event_source,
            &subscription.event_name,
        )?;
        let durable = naming::durable_name(
            &subscription.sensor,
            &subscription.trigger,
            &subscription.dependency,
        );
        let mut guard = self.inner.lock();
        let state = &mut *guard;
        let generation = match state.consumers.get(&durable) {
            Some(existing) => {
                if existing.event_source != subscription.event_source
                    || existing.event_name != subscription.event_name
                {
                    return Err(BusError::Refused {
                        operation: "subscribe",
                        reason: format!(
                            "durable consumer {durable} exists for {}.{}, not {}.{}",
                            existing.event_source,
                            existing.event_name,
                            subscription.event_source,
                            subscription.event_name
                        ),
                    });
                }
                existing.generation
            }
            None => {
                state.next_generation += 1;
                let generation = state.next_generation;
                state.consumers.insert(
                    durable.clone(),
                    ConsumerState {
                        generation,
                        event_source: subscription.event_source.clone(),
                        event_name: subscription.event_name.clone(),
                        next_seq: state.last_seq + 1,
                        pending: BTreeMap::new(),
                    },
                );
                generation
            }
        };
        drop(guard);
        Ok(Box::new(MemoryConsumer {
            bus: self.clone(),
            durable,
            generation,
        }))
    }

    async fn unsubscribe(&self, subscription: &Subscription) -> Result<(), BusError> {
        let durable = naming::durable_name(
            &subscription.sensor,
            &subscription.trigger,
            &subscription.dependency,
        );
        let mut state = self.inner.lock();
        state.consumers.remove(&durable);
        state.prune(self.inner.options.history);
        drop(state);
        self.inner.changed.notify_waiters();
        Ok(())
    }

    async fn key_value(&self, sensor: &str) -> Result<Box<dyn KeyValue>, BusError> {
        let bucket = naming::kv_bucket(sensor);
        self.inner.lock().buckets.entry(bucket.clone()).or_default();
        Ok(Box::new(MemoryKv {
            bus: self.clone(),
            bucket,
        }))
    }

    async fn inspect(&self, subscription: &Subscription) -> Result<SubscriptionState, BusError> {
        check_event_names(
            "inspect",
            &subscription.event_source,
            &subscription.event_name,
        )?;
        let durable = naming::durable_name(
            &subscription.sensor,
            &subscription.trigger,
            &subscription.dependency,
        );
        let state = self.inner.lock();
        let on_subject = |stored: &&Stored| {
            stored.event.source == subscription.event_source
                && stored.event.subject == subscription.event_name
        };
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let messages = count(
            state
                .history
                .iter()
                .chain(&state.messages)
                .filter(on_subject)
                .count(),
        );
        let consumer_state = state.consumers.get(&durable).map(|c| {
            let undelivered = state
                .messages
                .iter()
                .filter(|s| s.seq >= c.next_seq)
                .filter(on_subject)
                .count();
            // As JetStream: the ack floor is the sequence below the oldest unacked delivery.
            let oldest_unacked = c.pending.keys().next().copied().unwrap_or(c.next_seq);
            ConsumerReport {
                pending: count(undelivered),
                ack_pending: count(c.pending.len()),
                redelivered: count(c.pending.values().filter(|p| p.delivered > 1).count()),
                delivered_stream_seq: c.next_seq.saturating_sub(1),
                ack_floor_stream_seq: oldest_unacked.saturating_sub(1),
            }
        });
        Ok(SubscriptionState {
            subject: naming::subject(
                naming::STREAM_NAME,
                &subscription.event_source,
                &subscription.event_name,
            ),
            messages,
            consumer: durable,
            consumer_state,
        })
    }

    async fn stored_messages(
        &self,
        event_source: &str,
        event_name: &str,
        range: StoredRange,
    ) -> Result<StoredPage, BusError> {
        check_event_names("read stored messages", event_source, event_name)?;
        Ok(self.read_stored(event_source, event_name, range))
    }
}

/// A durable consumer of a [`MemoryBus`].
struct MemoryConsumer {
    bus: MemoryBus,
    durable: String,
    generation: u64,
}

#[async_trait]
impl Consumer for MemoryConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        loop {
            let changed = self.bus.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (batch, next_due) = self.bus.fetch_now(&self.durable, self.generation, max)?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let wake = next_due.map_or(deadline, |due| due.min(deadline));
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

/// Settles one delivery of a [`MemoryBus`] consumer.
struct MemoryAcker {
    bus: MemoryBus,
    durable: String,
    generation: u64,
    seq: u64,
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> Result<(), BusError> {
        let seq = self.seq;
        self.bus
            .settle("ack", &self.durable, self.generation, seq, |pending| {
                pending.remove(&seq);
            })
    }

    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        let seq = self.seq;
        let due = Instant::now() + delay.unwrap_or_default();
        self.bus
            .settle("nak", &self.durable, self.generation, seq, |pending| {
                if let Some(p) = pending.get_mut(&seq) {
                    p.due = due;
                }
            })
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        let seq = self.seq;
        let due = Instant::now() + self.bus.inner.options.ack_wait;
        self.bus.settle(
            "in_progress",
            &self.durable,
            self.generation,
            seq,
            |pending| {
                if let Some(p) = pending.get_mut(&seq) {
                    p.due = due;
                }
            },
        )
    }
}

/// A KV bucket of a [`MemoryBus`].
struct MemoryKv {
    bus: MemoryBus,
    bucket: String,
}

impl MemoryKv {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Bytes>) -> T) -> T {
        let mut state = self.bus.inner.lock();
        f(state.buckets.entry(self.bucket.clone()).or_default())
    }
}

#[async_trait]
impl KeyValue for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, BusError> {
        Ok(self.with(|map| map.get(key).cloned()))
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), BusError> {
        self.with(|map| map.insert(key.to_owned(), value));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.with(|map| map.remove(key));
        Ok(())
    }

    async fn keys(&self) -> Result<Vec<String>, BusError> {
        Ok(self.with(|map| map.keys().cloned().collect()))
    }
}

#[cfg(test)]
mod tests;
