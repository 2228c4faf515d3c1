//! Durable pull consumers and their acks.

use std::time::Duration;

use argo_events_api::cloudevent::Event;
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self as js, AckKind};
use async_trait::async_trait;
use futures::StreamExt as _;

use crate::config::go_duration;
use crate::{Acker, BusError, Consumer, Delivery};

/// Shortest pull request the server is asked to hold open.
const MIN_PULL_WAIT: Duration = Duration::from_millis(10);

/// A message's payload as the CloudEvent it carries, or why it is not one. Durable consumers and
/// the stored-message reader decode alike.
pub(super) fn decode_event(payload: &[u8]) -> Result<Event, String> {
    serde_json::from_slice::<serde_json::Value>(payload)
        .map_err(|e| format!("not JSON: {e}"))
        .and_then(|v| Event::from_cloudevent(&v).map_err(|e| e.to_string()))
}

/// A durable pull consumer on JetStream.
pub(super) struct JetStreamConsumer {
    pub(super) consumer: PullConsumer,
    pub(super) durable: String,
    pub(super) filter: String,
    pub(super) request_timeout: Duration,
    /// An error met after some messages of a batch were already taken; reported next time.
    pub(super) pending_error: Option<BusError>,
}

impl JetStreamConsumer {
    /// Pulls up to `max` messages: what is there now if `wait` is `None`, else waits up to
    /// `wait` for one. Transport errors after some messages are kept for the next fetch.
    async fn pull(
        &mut self,
        max: usize,
        wait: Option<Duration>,
    ) -> Result<Vec<js::Message>, BusError> {
        let durable = self.durable.clone();
        let unavailable =
            |e: &dyn std::fmt::Display| BusError::Unavailable(format!("fetch from {durable}: {e}"));
        // The server answers a pull at once (no wait) or when `wait` runs out; no answer within
        // the request timeout beyond that means it is unreachable.
        let bound = wait.unwrap_or_default() + self.request_timeout;
        let deadline = tokio::time::Instant::now() + bound;
        let no_answer = || {
            BusError::Unavailable(format!(
                "fetch from {durable}: the server did not answer within {}",
                go_duration(bound)
            ))
        };
        let batch = match wait {
            None => {
                tokio::time::timeout_at(
                    deadline,
                    self.consumer.fetch().max_messages(max).messages(),
                )
                .await
            }
            Some(wait) => {
                tokio::time::timeout_at(
                    deadline,
                    self.consumer
                        .batch()
                        .max_messages(max)
                        .expires(wait)
                        .messages(),
                )
                .await
            }
        };
        let mut batch = batch
            .map_err(|_| no_answer())?
            .map_err(|e| unavailable(&e))?;
        let mut out = Vec::new();
        loop {
            let err = match tokio::time::timeout_at(deadline, batch.next()).await {
                Ok(None) => break,
                Ok(Some(Ok(message))) => {
                    out.push(message);
                    continue;
                }
                Err(_) => no_answer(),
                Ok(Some(Err(e))) => {
                    let text = e.to_string();
                    if text.contains("Consumer Deleted") {
                        BusError::Refused {
                            operation: "fetch",
                            reason: format!("durable consumer {durable} was deleted"),
                        }
                    } else {
                        unavailable(&text)
                    }
                }
            };
            if out.is_empty() {
                return Err(err);
            }
            self.pending_error = Some(err);
            break;
        }
        Ok(out)
    }

    /// Turns a message into a delivery, or terminates it when it is not a CloudEvent.
    async fn deliver(&self, message: js::Message) -> Result<Delivery, BusError> {
        let (sequence, delivered) = match message.info() {
            Ok(info) => (
                info.stream_sequence,
                u64::try_from(info.delivered).unwrap_or(0),
            ),
            Err(e) => {
                return Err(BusError::Unavailable(format!(
                    "message from {} has no JetStream metadata: {e}",
                    self.durable
                )));
            }
        };
        match decode_event(&message.payload) {
            Ok(event) => {
                let (_, acker) = message.split();
                Ok(Delivery {
                    event,
                    stream_sequence: sequence,
                    delivered,
                    acker: Box::new(JetStreamAcker {
                        acker,
                        sequence,
                        durable: self.durable.clone(),
                        request_timeout: self.request_timeout,
                    }),
                })
            }
            Err(reason) => {
                tracing::error!(
                    durable = %self.durable,
                    subject = %message.subject,
                    sequence,
                    %reason,
                    "message is not a CloudEvent; terminating it so it is never redelivered"
                );
                let term =
                    tokio::time::timeout(self.request_timeout, message.ack_with(AckKind::Term))
                        .await;
                match term {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(durable = %self.durable, sequence, error = %e, "could not terminate the bad message");
                    }
                    Err(_) => {
                        tracing::warn!(durable = %self.durable, sequence, "terminating the bad message timed out");
                    }
                }
                Err(BusError::BadMessage { sequence, reason })
            }
        }
    }
}

#[async_trait]
impl Consumer for JetStreamConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        if let Some(err) = self.pending_error.take() {
            return Err(err);
        }
        if max == 0 {
            return Ok(Vec::new());
        }
        // A pull request asking for `max` would be held open until `wait` runs out even after
        // the first message came; so: what is there now, else wait for one, then top up.
        let mut messages = self.pull(max, None).await?;
        if messages.is_empty() && !wait.is_zero() {
            messages = self.pull(1, Some(wait.max(MIN_PULL_WAIT))).await?;
            if !messages.is_empty() && max > 1 && self.pending_error.is_none() {
                match self.pull(max - 1, None).await {
                    Ok(more) => messages.extend(more),
                    Err(e) => self.pending_error = Some(e),
                }
            }
        }
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            match self.deliver(message).await {
                Ok(delivery) => out.push(delivery),
                Err(e) => {
                    if self.pending_error.is_none() {
                        self.pending_error = Some(e);
                    }
                }
            }
        }
        if out.is_empty()
            && let Some(err) = self.pending_error.take()
        {
            return Err(err);
        }
        tracing::trace!(durable = %self.durable, filter = %self.filter, count = out.len(), "fetched");
        Ok(out)
    }
}

/// Settles one JetStream delivery.
struct JetStreamAcker {
    acker: js::message::Acker,
    sequence: u64,
    durable: String,
    request_timeout: Duration,
}

impl JetStreamAcker {
    fn failed(&self, what: &str, e: &dyn std::fmt::Display) -> BusError {
        BusError::Unavailable(format!(
            "{what} of message {} on {}: {e}",
            self.sequence, self.durable
        ))
    }

    async fn bounded<E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<(), E>>,
    ) -> Result<(), BusError> {
        match tokio::time::timeout(self.request_timeout * 2, f).await {
            Err(_) => Err(self.failed(what, &"timed out")),
            Ok(result) => result.map_err(|e| self.failed(what, &e)),
        }
    }
}

#[async_trait]
impl Acker for JetStreamAcker {
    /// Acks and waits for the server to confirm (upstream's `AckSync`).
    async fn ack(&self) -> Result<(), BusError> {
        self.bounded("ack", self.acker.double_ack()).await
    }

    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        self.bounded("nak", self.acker.ack_with(AckKind::Nak(delay)))
            .await
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        self.bounded("in-progress", self.acker.ack_with(AckKind::Progress))
            .await
    }
}
