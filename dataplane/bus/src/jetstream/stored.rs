//! [`EventBus::stored_messages`](crate::EventBus::stored_messages) on JetStream: a consumer of the
//! reader's own (ephemeral, in memory, no acks, filtered on the one subject, starting where
//! asked) is created, read and deleted. The durable consumers of the Sensors never see it: their
//! deliveries, acks and counters stay as they were. Should the reader die before deleting it,
//! the server removes it after [`INACTIVE_THRESHOLD`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use futures::StreamExt as _;

use super::consumer::decode_event;
use super::{JetStreamBus, consumer_error};
use crate::config::go_duration;
use crate::memory::check_event_names;
use crate::{BusError, StartAt, StoredMessage, StoredPage, StoredRange, naming};

/// What the reader is called in errors.
const OPERATION: &str = "read stored messages";

/// Messages asked for per pull request.
const BATCH: usize = 64;

/// How long the server keeps a reader's consumer that nobody reads.
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(30);

/// Where the reader's consumer starts.
fn deliver_policy(from: StartAt) -> Result<DeliverPolicy, BusError> {
    Ok(match from {
        StartAt::First | StartAt::Sequence(0) => DeliverPolicy::All,
        StartAt::Sequence(start_sequence) => DeliverPolicy::ByStartSequence { start_sequence },
        StartAt::Time(time) => match time.duration_since(UNIX_EPOCH) {
            // Every message was stored after 1970.
            Err(_) => DeliverPolicy::All,
            Ok(since_epoch) => {
                let nanos = i128::try_from(since_epoch.as_nanos()).unwrap_or(i128::MAX);
                let start_time =
                    async_nats::datetime::from_nanos(nanos).map_err(|e| BusError::Refused {
                        operation: OPERATION,
                        reason: format!("start time out of range: {e}"),
                    })?;
                DeliverPolicy::ByStartTime { start_time }
            }
        },
    })
}

impl JetStreamBus {
    pub(super) async fn read_stored(
        &self,
        event_source: &str,
        event_name: &str,
        range: StoredRange,
    ) -> Result<StoredPage, BusError> {
        check_event_names(OPERATION, event_source, event_name)?;
        let stream_name = &self.options.stream_name;
        let url = &self.options.url;
        let subject = naming::subject(stream_name, event_source, event_name);
        let deliver_policy = deliver_policy(range.from)?;
        let stream =
            self.js.get_stream_no_info(stream_name).await.map_err(|e| {
                BusError::Unavailable(format!("stream {stream_name} on {url}: {e}"))
            })?;
        let config = pull::Config {
            description: Some(format!(
                "argo-events: reads the messages stored on {subject}"
            )),
            filter_subject: subject.clone(),
            deliver_policy,
            ack_policy: AckPolicy::None,
            inactive_threshold: INACTIVE_THRESHOLD,
            memory_storage: true,
            ..Default::default()
        };
        let consumer: PullConsumer = stream
            .create_consumer(config)
            .await
            .map_err(|e| consumer_error(OPERATION, "(ephemeral reader)", stream_name, &e))?;
        let name = consumer.cached_info().name.clone();
        let read = self.read_consumer(&consumer, &name, range).await;
        if let Err(e) = stream.delete_consumer(&name).await {
            tracing::debug!(consumer = %name, error = %e, "could not delete the stored-message reader; the server drops it when inactive");
        }
        let (messages, truncated) = read?;
        Ok(StoredPage {
            subject,
            messages,
            truncated,
        })
    }

    /// Reads the reader's consumer: messages, and whether some were left unread.
    async fn read_consumer(
        &self,
        consumer: &PullConsumer,
        name: &str,
        range: StoredRange,
    ) -> Result<(Vec<StoredMessage>, bool), BusError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            BusError::Unavailable(format!("{OPERATION} through consumer {name}: {e}"))
        };
        // The server answers a pull when the batch is complete or `expires` runs out.
        let expires = self.options.request_timeout;
        let bound = expires + self.options.request_timeout;
        let no_answer = || {
            BusError::Unavailable(format!(
                "{OPERATION} through consumer {name}: the server did not answer within {}",
                go_duration(bound)
            ))
        };
        // Messages left to deliver to the reader, as the server counts them.
        let mut remaining = consumer.cached_info().num_pending;
        let mut messages = Vec::new();
        let mut bytes = 0usize;
        while remaining > 0 {
            if messages.len() >= range.limit {
                return Ok((messages, true));
            }
            let want = (range.limit - messages.len())
                .min(BATCH)
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let deadline = tokio::time::Instant::now() + bound;
            let mut batch = tokio::time::timeout_at(
                deadline,
                consumer
                    .batch()
                    .max_messages(want)
                    .expires(expires)
                    .messages(),
            )
            .await
            .map_err(|_| no_answer())?
            .map_err(|e| unavailable(&e))?;
            let mut got = 0usize;
            while let Some(next) = tokio::time::timeout_at(deadline, batch.next())
                .await
                .map_err(|_| no_answer())?
            {
                let message = next.map_err(|e| unavailable(&e))?;
                let info = message.info().map_err(|e| unavailable(&e))?;
                let size = message.payload.len();
                if !messages.is_empty() && bytes.saturating_add(size) > range.max_bytes {
                    return Ok((messages, true));
                }
                bytes = bytes.saturating_add(size);
                remaining = info.pending;
                got += 1;
                messages.push(StoredMessage {
                    sequence: info.stream_sequence,
                    stored_at: SystemTime::from(info.published),
                    event: decode_event(&message.payload),
                });
            }
            if got == 0 {
                // What the server counted is gone (removed by the stream's limits meanwhile).
                break;
            }
        }
        Ok((messages, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_starts_where_asked() {
        assert_eq!(deliver_policy(StartAt::First).unwrap(), DeliverPolicy::All);
        assert_eq!(
            deliver_policy(StartAt::Sequence(0)).unwrap(),
            DeliverPolicy::All
        );
        assert_eq!(
            deliver_policy(StartAt::Sequence(7)).unwrap(),
            DeliverPolicy::ByStartSequence { start_sequence: 7 }
        );
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        match deliver_policy(StartAt::Time(at)).unwrap() {
            DeliverPolicy::ByStartTime { start_time } => {
                assert_eq!(SystemTime::from(start_time), at);
            }
            other => panic!("{other:?}"),
        }
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(
            deliver_policy(StartAt::Time(before_epoch)).unwrap(),
            DeliverPolicy::All
        );
    }
}
