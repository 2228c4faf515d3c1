//! The EventBus between EventSources and Sensors.
//!
//! [`EventBus`] is the one interface: publish an event (returning only once the bus has stored
//! it), pull an event stream per Sensor dependency with explicit acks, and a key-value store
//! per Sensor for partial condition state, a live look at a dependency's subject and durable
//! consumer ([`EventBus::inspect`], behind the Sensor's `/bus`), and a read of the messages the
//! stream still holds on a subject that leaves every durable consumer as it was
//! ([`EventBus::stored_messages`], behind the Sensor's `/bus/messages` and `/replay`).
//! [`jetstream`] implements it on NATS JetStream with upstream's layout ([`naming`]); [`memory`]
//! implements it in-process for local runs and tests.

pub mod config;
pub mod jetstream;
pub mod leaderlock;
pub mod memory;
pub mod naming;
pub mod testserver;
pub mod tracecontext;

use std::time::{Duration, SystemTime};

use argo_events_api::cloudevent::Event;
use argo_events_api::diagnostics::ConsumerState;
use async_trait::async_trait;
use bytes::Bytes;

/// A bus failure.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus cannot be reached or did not answer in time.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The bus refused the operation (e.g. the stream is full with `discard: New`).
    #[error("event bus refused {operation}: {reason}")]
    Refused {
        /// What was attempted.
        operation: &'static str,
        /// What the bus said.
        reason: String,
    },
    /// A message on the bus is not a valid CloudEvent.
    #[error("message {sequence} on the bus is not a valid CloudEvent: {reason}")]
    BadMessage {
        /// Stream sequence of the message.
        sequence: u64,
        /// Why it cannot be read.
        reason: String,
    },
    /// The configuration handed to the process is invalid.
    #[error("invalid event bus configuration: {0}")]
    Config(String),
}

/// Where a Sensor dependency reads from: one durable consumer per (sensor, trigger, dependency),
/// as upstream lays it out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// Sensor name.
    pub sensor: String,
    /// Trigger name.
    pub trigger: String,
    /// Dependency name.
    pub dependency: String,
    /// `eventSourceName` of the dependency.
    pub event_source: String,
    /// `eventName` of the dependency.
    pub event_name: String,
}

/// What the bus holds for one [`Subscription`] right now.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionState {
    /// The subject the dependency reads (`<stream>.<eventSourceName>.<eventName>`).
    pub subject: String,
    /// Messages the stream holds on that subject.
    pub messages: u64,
    /// The name of the dependency's durable consumer.
    pub consumer: String,
    /// The consumer's counters; `None` when it does not exist (yet).
    pub consumer_state: Option<ConsumerState>,
}

/// Where [`EventBus::stored_messages`] starts reading a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest message the stream holds on it.
    First,
    /// The first message at or after this stream sequence.
    Sequence(u64),
    /// The first message the bus stored at or after this time.
    Time(SystemTime),
}

/// Which stored messages [`EventBus::stored_messages`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredRange {
    /// Where to start.
    pub from: StartAt,
    /// At most this many messages.
    pub limit: usize,
    /// At most this many payload bytes in all; the first message is read whatever its size.
    pub max_bytes: usize,
}

/// One message the stream holds on a subject.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Its stream sequence.
    pub sequence: u64,
    /// When the bus stored it.
    pub stored_at: SystemTime,
    /// The CloudEvent, decoded as a Sensor's consumer decodes it, or why it is not one (a
    /// Sensor's consumer terminates such a message).
    pub event: Result<Event, String>,
}

/// What [`EventBus::stored_messages`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPage {
    /// The subject read (`<stream>.<eventSourceName>.<eventName>`).
    pub subject: String,
    /// The messages, oldest first.
    pub messages: Vec<StoredMessage>,
    /// Whether the subject holds more messages after the last one read (the limit or the byte
    /// budget stopped the read).
    pub truncated: bool,
}

/// Settles one delivered message.
#[async_trait]
pub trait Acker: Send + Sync {
    /// The message is handled; it will not be delivered again.
    async fn ack(&self) -> Result<(), BusError>;
    /// The message could not be handled; deliver it again after `delay`.
    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError>;
    /// Still working on it: push the redelivery deadline back.
    async fn in_progress(&self) -> Result<(), BusError>;
}

/// One delivered event.
pub struct Delivery {
    /// The event.
    pub event: Event,
    /// Its stream sequence (0 on buses without one).
    pub stream_sequence: u64,
    /// How many times it has been delivered, this one included.
    pub delivered: u64,
    /// Settles it.
    pub acker: Box<dyn Acker>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event.id)
            .field("stream_sequence", &self.stream_sequence)
            .field("delivered", &self.delivered)
            .finish()
    }
}

/// A durable pull consumer.
#[async_trait]
pub trait Consumer: Send {
    /// Up to `max` messages, waiting at most `wait` for the first; an empty batch on timeout.
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError>;
}

/// A key-value bucket (one per Sensor) for condition state.
#[async_trait]
pub trait KeyValue: Send + Sync {
    /// The value of a key, if any.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, BusError>;
    /// Sets a key.
    async fn put(&self, key: &str, value: Bytes) -> Result<(), BusError>;
    /// Removes a key (no error when absent).
    async fn delete(&self, key: &str) -> Result<(), BusError>;
    /// Every key in the bucket.
    async fn keys(&self) -> Result<Vec<String>, BusError>;
}

/// The bus.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes an event from EventSource `event.source`, event name `event.subject`. Returns
    /// once the bus has stored it (a JetStream publish acknowledgement); a duplicate id within
    /// the bus's dedupe window is accepted and stored once.
    async fn publish(&self, event: &Event) -> Result<(), BusError>;
    /// Opens (creating if needed) the durable consumer of a Sensor dependency. New consumers
    /// start with events published after their creation.
    async fn subscribe(&self, subscription: &Subscription) -> Result<Box<dyn Consumer>, BusError>;
    /// Deletes the durable consumer of a dependency (when a Sensor's spec drops it).
    async fn unsubscribe(&self, subscription: &Subscription) -> Result<(), BusError>;
    /// The key-value bucket of a Sensor, created if needed.
    async fn key_value(&self, sensor: &str) -> Result<Box<dyn KeyValue>, BusError>;
    /// Asks the bus, without changing anything, how many messages it holds on the subject of a
    /// dependency and what its durable consumer has delivered and had acknowledged. A consumer
    /// that does not exist is `consumer_state: None`, not an error.
    async fn inspect(&self, subscription: &Subscription) -> Result<SubscriptionState, BusError>;
    /// Reads the messages the stream still holds on the subject of `event_source` and
    /// `event_name`, from `range.from`, oldest first, without touching any durable consumer (no
    /// delivery, ack or counter of theirs changes).
    async fn stored_messages(
        &self,
        event_source: &str,
        event_name: &str,
        range: StoredRange,
    ) -> Result<StoredPage, BusError>;
}
