//! The bus on NATS JetStream, in upstream's layout ([`crate::naming`]): one file-backed stream,
//! `Nats-Msg-Id` deduplication, a durable pull consumer per Sensor dependency, and a KV bucket
//! per Sensor.
//!
//! Differences from upstream's client, on purpose: the connection reconnects by itself (upstream
//! disables reconnects and rebuilds connections from a 5 s watchdog); every publish and API call
//! is bounded by [`JetStreamOptions::request_timeout`]; a message that is not a CloudEvent is
//! *terminated* (`+TERM`: never redelivered, and the server emits a
//! `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED` advisory operators can watch) where upstream
//! acks it as if handled.

use std::sync::Arc;
use std::time::Duration;

use argo_events_api::cloudevent::Event;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::{
    CreateKeyValueErrorKind, CreateStreamErrorKind, GetStreamErrorKind, KeyValueErrorKind,
    PublishError, PublishErrorKind,
};
use async_nats::jetstream::stream::{self, ConsumerErrorKind};
use async_nats::jetstream::{self as js, ErrorCode, kv};
use async_trait::async_trait;
use bytes::Bytes;
use tracing::Instrument as _;

use crate::config::{Credentials, Discard, JetStreamOptions, Retention, go_duration};
use crate::memory::check_event_names;
use crate::tracecontext;
use crate::{
    BusError, Consumer, EventBus, KeyValue, StoredPage, StoredRange, Subscription,
    SubscriptionState, naming,
};

mod consumer;
mod inspect;
mod kv_store;
mod stored;
mod tls;

use consumer::JetStreamConsumer;
use kv_store::JetStreamKv;
use tls::{apply_tls, unverified_tls_config};

/// Longest a reconnecting client waits between attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// A connection to a JetStream server, implementing [`EventBus`].
#[derive(Clone)]
pub struct JetStreamBus {
    client: async_nats::Client,
    js: js::Context,
    options: Arc<JetStreamOptions>,
}

impl std::fmt::Debug for JetStreamBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamBus")
            .field("url", &self.options.url)
            .field("stream", &self.options.stream_name)
            .finish()
    }
}

impl JetStreamBus {
    /// Connects to the server and creates the stream if it is missing (never changing an
    /// existing one, as upstream; differences from the wanted settings are logged). Fails with
    /// [`BusError::Unavailable`] when the server cannot be reached within the request timeout.
    /// Once connected, the client reconnects by itself for as long as it lives.
    pub async fn connect(options: JetStreamOptions) -> Result<JetStreamBus, BusError> {
        let client = connect_client(&options, "argo-events").await?;
        let js = js::ContextBuilder::new()
            .timeout(options.request_timeout)
            .build(client.clone());
        let bus = JetStreamBus {
            client,
            js,
            options: Arc::new(options),
        };
        bus.ensure_stream().await?;
        Ok(bus)
    }

    /// Flushes what is pending and closes the connection.
    pub async fn close(self) -> Result<(), BusError> {
        self.client
            .drain()
            .await
            .map_err(|e| BusError::Unavailable(format!("closing {}: {e}", self.options.url)))
    }

    /// The options the bus was connected with.
    pub fn options(&self) -> &JetStreamOptions {
        &self.options
    }

    fn desired_stream(&self) -> stream::Config {
        let s = &self.options.stream;
        stream::Config {
            name: self.options.stream_name.clone(),
            subjects: naming::stream_subjects(&self.options.stream_name),
            storage: stream::StorageType::File,
            retention: match s.retention {
                Retention::Limits => stream::RetentionPolicy::Limits,
                Retention::Interest => stream::RetentionPolicy::Interest,
                Retention::WorkQueue => stream::RetentionPolicy::WorkQueue,
            },
            discard: match s.discard {
                Discard::Old => stream::DiscardPolicy::Old,
                Discard::New => stream::DiscardPolicy::New,
            },
            max_messages: s.max_msgs,
            max_bytes: s.max_bytes,
            max_age: s.max_age,
            num_replicas: s.replicas,
            duplicate_window: s.duplicates,
            max_message_size: s.max_msg_size,
            ..Default::default()
        }
    }

    async fn ensure_stream(&self) -> Result<(), BusError> {
        let name = &self.options.stream_name;
        let url = &self.options.url;
        let wanted = self.desired_stream();
        match self.js.get_stream(name).await {
            Ok(existing) => {
                warn_if_different(name, &existing.cached_info().config, &wanted);
                return Ok(());
            }
            Err(e) if is_code(&e.kind(), ErrorCode::STREAM_NOT_FOUND) => {}
            Err(e) => {
                return Err(BusError::Unavailable(format!(
                    "looking up stream {name} on {url}: {e}"
                )));
            }
        }
        match self.js.create_stream(wanted.clone()).await {
            Ok(_) => {
                tracing::info!(stream = %name, %url, settings = ?self.options.stream, "created the event stream");
                Ok(())
            }
            Err(e) => match e.kind() {
                // Another client created it meanwhile.
                CreateStreamErrorKind::JetStream(je)
                    if je.error_code() == ErrorCode::STREAM_NAME_EXIST =>
                {
                    if let Ok(existing) = self.js.get_stream(name).await {
                        warn_if_different(name, &existing.cached_info().config, &wanted);
                    }
                    Ok(())
                }
                CreateStreamErrorKind::JetStream(je) => Err(BusError::Refused {
                    operation: "create stream",
                    reason: format!("stream {name} on {url}: {je}"),
                }),
                CreateStreamErrorKind::JetStreamUnavailable => Err(BusError::Unavailable(format!(
                    "no JetStream answered on {url} (is JetStream enabled on the server?)"
                ))),
                _ => Err(BusError::Unavailable(format!(
                    "creating stream {name} on {url}: {e}"
                ))),
            },
        }
    }

    fn durable(subscription: &Subscription) -> String {
        naming::durable_name(
            &subscription.sensor,
            &subscription.trigger,
            &subscription.dependency,
        )
    }
}

fn is_code(kind: &GetStreamErrorKind, code: ErrorCode) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == code)
}

/// Connects a NATS client as the bus does (servers from the comma-separated URL, credentials,
/// TLS, endless reconnects with logging), named `name`. Used by [`JetStreamBus::connect`] and
/// by the leader lock, which keeps a connection of its own.
pub(crate) async fn connect_client(
    options: &JetStreamOptions,
    name: &str,
) -> Result<async_nats::Client, BusError> {
    let url = options.url.clone();
    let servers = options
        .url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<async_nats::ServerAddr>().map_err(|e| {
                BusError::Config(format!("event bus URL {s:?} is not a NATS URL: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if servers.is_empty() {
        return Err(BusError::Config("event bus URL is empty".into()));
    }
    let tls_scheme = servers.iter().any(|s| s.tls_required());

    let log_url = url.clone();
    let mut connect = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(options.request_timeout)
        .request_timeout(Some(options.request_timeout))
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let url = log_url.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!(%url, "event bus connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!(%url, "event bus disconnected; reconnecting")
                    }
                    other => tracing::warn!(%url, event = %other, "event bus connection event"),
                }
            }
        });
    connect = match &options.credentials {
        Credentials::None => connect,
        Credentials::Token(token) => connect.token(token.clone()),
        Credentials::UserPassword { user, password } => {
            connect.user_and_password(user.clone(), password.clone())
        }
    };
    connect = match &options.tls {
        Some(tls) => apply_tls(connect, tls)?,
        // Used only if TLS happens (tls:// or the server demands it), as upstream does.
        None => connect.tls_client_config(unverified_tls_config(None)?),
    };

    let client = tokio::time::timeout(
        options.request_timeout * 2,
        connect.connect(servers.as_slice()),
    )
    .await
    .map_err(|_| BusError::Unavailable(format!("connecting to {url} timed out")))?
    .map_err(|e| BusError::Unavailable(format!("cannot connect to {url}: {e}")))?;
    if options.tls.is_none() && (tls_scheme || client.server_info().tls_required) {
        tracing::warn!(
            %url,
            "TLS without verifying the server certificate (the EventBus has no tls block; upstream clients do the same); set tls.caCertSecret to verify it"
        );
    }
    Ok(client)
}

fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(10);
    (Duration::from_millis(100) * 2u32.pow(exp)).min(MAX_RECONNECT_DELAY)
}

/// Logs how an existing stream differs from the settings this client would create it with.
fn warn_if_different(name: &str, have: &stream::Config, want: &stream::Config) {
    let mut diffs = Vec::new();
    let mut check = |what: &str, have: String, want: String| {
        if have != want {
            diffs.push(format!("{what} is {have}, streamConfig says {want}"));
        }
    };
    check("subjects", have.subjects.join(","), want.subjects.join(","));
    check(
        "retention",
        format!("{:?}", have.retention),
        format!("{:?}", want.retention),
    );
    check(
        "discard",
        format!("{:?}", have.discard),
        format!("{:?}", want.discard),
    );
    check(
        "maxMsgs",
        have.max_messages.to_string(),
        want.max_messages.to_string(),
    );
    check(
        "maxBytes",
        have.max_bytes.to_string(),
        want.max_bytes.to_string(),
    );
    check(
        "maxAge",
        go_duration(have.max_age),
        go_duration(want.max_age),
    );
    check(
        "replicas",
        have.num_replicas.max(1).to_string(),
        want.num_replicas.max(1).to_string(),
    );
    check(
        "duplicates",
        go_duration(have.duplicate_window),
        go_duration(want.duplicate_window),
    );
    check(
        "maxMsgSize",
        have.max_message_size.to_string(),
        want.max_message_size.to_string(),
    );
    check(
        "storage",
        format!("{:?}", have.storage),
        format!("{:?}", want.storage),
    );
    if !diffs.is_empty() {
        tracing::warn!(
            stream = name,
            differences = %diffs.join("; "),
            "the existing stream differs from streamConfig; it is used unchanged (streams are never updated, as upstream)"
        );
    }
}

fn publish_error(subject: &str, id: &str, e: &PublishError) -> BusError {
    let what = format!("event {id} on {subject}");
    match e.kind() {
        PublishErrorKind::StreamNotFound => BusError::Unavailable(format!(
            "{what}: no stream answered (no responders; is the stream there?)"
        )),
        PublishErrorKind::TimedOut => {
            BusError::Unavailable(format!("{what}: no acknowledgement in time"))
        }
        PublishErrorKind::BrokenPipe | PublishErrorKind::MaxAckPending => {
            BusError::Unavailable(format!("{what}: {e}"))
        }
        PublishErrorKind::MaxPayloadExceeded
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence => BusError::Refused {
            operation: "publish",
            reason: format!("{what}: {e}"),
        },
        PublishErrorKind::Other => {
            let server_said = std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<js::Error>())
                .is_some();
            if server_said {
                BusError::Refused {
                    operation: "publish",
                    reason: format!("{what}: {e}"),
                }
            } else {
                BusError::Unavailable(format!("{what}: {e}"))
            }
        }
    }
}

impl JetStreamBus {
    /// One publish of `event` on `subject`, its CloudEvent stamped with `span`'s trace context.
    async fn publish_on(
        &self,
        event: &Event,
        subject: String,
        span: &tracing::Span,
    ) -> Result<(), BusError> {
        let mut cloudevent = event.to_cloudevent();
        tracecontext::stamp(&mut cloudevent, &tracecontext::outgoing(span, event));
        let payload = serde_json::to_vec(&cloudevent).map_err(|e| BusError::Refused {
            operation: "publish",
            reason: format!("event {} cannot be encoded: {e}", event.id),
        })?;
        let mut message = js::message::PublishMessage::build().payload(Bytes::from(payload));
        if !event.id.is_empty() {
            message = message.message_id(&event.id);
        }
        let attempt = async {
            let ack = self.js.send_publish(subject.clone(), message).await?;
            ack.await
        };
        // The context bounds both steps; this bounds the sum, whatever happens below.
        let bound = self.options.request_timeout * 2;
        match tokio::time::timeout(bound, attempt).await {
            Err(_) => Err(BusError::Unavailable(format!(
                "event {} on {subject}: no acknowledgement within {}",
                event.id,
                go_duration(bound)
            ))),
            Ok(Err(e)) => Err(publish_error(&subject, &event.id, &e)),
            Ok(Ok(ack)) => {
                if ack.duplicate {
                    tracing::debug!(id = %event.id, %subject, seq = ack.sequence, "duplicate event id, stored once");
                }
                Ok(())
            }
        }
    }
}

#[async_trait]
impl EventBus for JetStreamBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        check_event_names("publish", &event.source, &event.subject)?;
        let subject = naming::subject(&self.options.stream_name, &event.source, &event.subject);
        // The producer span; the CloudEvent carries its trace context (or, with tracing off,
        // the one the event came with).
        let span = tracecontext::publish_span("nats", &subject, event);
        let result = self
            .publish_on(event, subject, &span)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            tracecontext::record_error(&span, e);
        }
        result
    }

    async fn subscribe(&self, subscription: &Subscription) -> Result<Box<dyn Consumer>, BusError> {
        check_event_names(
            "subscribe",
            &subscription.event_source,
            &subscription.event_name,
        )?;
        let stream = &self.options.stream_name;
        let durable = JetStreamBus::durable(subscription);
        let filter = naming::subject(stream, &subscription.event_source, &subscription.event_name);
        let found = self
            .js
            .get_consumer_from_stream::<pull::Config, _, _>(&durable, stream)
            .await;
        let consumer: PullConsumer = match found {
            Ok(existing) => {
                let have = &existing.cached_info().config;
                let have_filter = if have.filter_subject.is_empty() {
                    have.filter_subjects.join(",")
                } else {
                    have.filter_subject.clone()
                };
                if have_filter != filter {
                    return Err(BusError::Refused {
                        operation: "subscribe",
                        reason: format!(
                            "durable consumer {durable} on stream {stream} filters {have_filter:?}, not {filter:?}"
                        ),
                    });
                }
                existing
            }
            Err(e)
                if matches!(e.kind(), ConsumerErrorKind::JetStream(ref je)
                    if je.error_code() == ErrorCode::CONSUMER_NOT_FOUND) =>
            {
                let config = pull::Config {
                    durable_name: Some(durable.clone()),
                    filter_subject: filter.clone(),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy: DeliverPolicy::New,
                    ack_wait: self.options.ack_wait,
                    ..Default::default()
                };
                self.js
                    .create_consumer_on_stream(config, stream)
                    .await
                    .map_err(|e| consumer_error("subscribe", &durable, stream, &e))?
            }
            Err(e) => return Err(consumer_error("subscribe", &durable, stream, &e)),
        };
        tracing::debug!(%durable, %filter, "subscribed");
        Ok(Box::new(JetStreamConsumer {
            consumer,
            durable,
            filter,
            request_timeout: self.options.request_timeout,
            pending_error: None,
        }))
    }

    async fn unsubscribe(&self, subscription: &Subscription) -> Result<(), BusError> {
        let stream = &self.options.stream_name;
        let durable = JetStreamBus::durable(subscription);
        match self.js.delete_consumer_from_stream(&durable, stream).await {
            Ok(_) => {
                tracing::info!(%durable, sensor = %subscription.sensor, trigger = %subscription.trigger, dependency = %subscription.dependency, "deleted durable consumer");
                Ok(())
            }
            Err(e)
                if matches!(e.kind(), ConsumerErrorKind::JetStream(ref je)
                    if je.error_code() == ErrorCode::CONSUMER_NOT_FOUND) =>
            {
                Ok(())
            }
            Err(e) => Err(consumer_error("unsubscribe", &durable, stream, &e)),
        }
    }

    async fn key_value(&self, sensor: &str) -> Result<Box<dyn KeyValue>, BusError> {
        let bucket = naming::kv_bucket(sensor);
        let url = &self.options.url;
        let store = match self.js.get_key_value(&bucket).await {
            Ok(store) => store,
            Err(e) if e.kind() == KeyValueErrorKind::InvalidStoreName => {
                return Err(invalid_bucket(sensor));
            }
            Err(e) if e.kind() == KeyValueErrorKind::GetBucket => {
                let config = kv::Config {
                    bucket: bucket.clone(),
                    history: 1,
                    ..Default::default()
                };
                match self.js.create_key_value(config).await {
                    Ok(store) => store,
                    Err(ce) if ce.kind() == CreateKeyValueErrorKind::InvalidStoreName => {
                        return Err(invalid_bucket(sensor));
                    }
                    Err(ce) => {
                        // Maybe another replica created it meanwhile.
                        self.js.get_key_value(&bucket).await.map_err(|_| {
                            BusError::Unavailable(format!(
                                "KV bucket {bucket} on {url}: lookup failed ({e}), creation failed ({ce})"
                            ))
                        })?
                    }
                }
            }
            Err(e) => {
                return Err(BusError::Unavailable(format!(
                    "KV bucket {bucket} on {url}: {e}"
                )));
            }
        };
        Ok(Box::new(JetStreamKv {
            store,
            bucket,
            request_timeout: self.options.request_timeout,
        }))
    }

    async fn inspect(&self, subscription: &Subscription) -> Result<SubscriptionState, BusError> {
        self.inspect_subscription(subscription).await
    }

    async fn stored_messages(
        &self,
        event_source: &str,
        event_name: &str,
        range: StoredRange,
    ) -> Result<StoredPage, BusError> {
        self.read_stored(event_source, event_name, range).await
    }
}

fn invalid_bucket(sensor: &str) -> BusError {
    BusError::Refused {
        operation: "open KV bucket",
        reason: format!(
            "Sensor name {sensor:?} cannot name a KV bucket (letters, digits, '-' and '_' only)"
        ),
    }
}

fn consumer_error(
    operation: &'static str,
    durable: &str,
    stream: &str,
    e: &async_nats::jetstream::stream::ConsumerError,
) -> BusError {
    let reason = format!("durable consumer {durable} on stream {stream}: {e}");
    match e.kind() {
        ConsumerErrorKind::JetStream(_)
        | ConsumerErrorKind::InvalidName
        | ConsumerErrorKind::InvalidConsumerType => BusError::Refused { operation, reason },
        _ => BusError::Unavailable(reason),
    }
}
