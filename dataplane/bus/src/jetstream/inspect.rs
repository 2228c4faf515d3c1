//! [`EventBus::inspect`](crate::EventBus::inspect) on JetStream: the stream's message count on
//! one subject (stream info with a subjects filter) and the durable consumer's info, both asked
//! live and read-only.

use argo_events_api::diagnostics::ConsumerState;
use async_nats::jetstream::consumer;
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use futures::TryStreamExt as _;

use super::JetStreamBus;
use crate::config::go_duration;
use crate::memory::check_event_names;
use crate::{BusError, Subscription, SubscriptionState, naming};

/// JetStream's counters of a consumer, in the diagnostics' terms.
fn consumer_state(info: &consumer::Info) -> ConsumerState {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    ConsumerState {
        pending: info.num_pending,
        ack_pending: count(info.num_ack_pending),
        redelivered: count(info.num_redelivered),
        delivered_stream_seq: info.delivered.stream_sequence,
        ack_floor_stream_seq: info.ack_floor.stream_sequence,
    }
}

impl JetStreamBus {
    pub(super) async fn inspect_subscription(
        &self,
        subscription: &Subscription,
    ) -> Result<SubscriptionState, BusError> {
        check_event_names(
            "inspect",
            &subscription.event_source,
            &subscription.event_name,
        )?;
        let stream_name = &self.options.stream_name;
        let url = &self.options.url;
        let subject = naming::subject(
            stream_name,
            &subscription.event_source,
            &subscription.event_name,
        );
        let durable = JetStreamBus::durable(subscription);
        let ask = async {
            let stream = self.js.get_stream_no_info(stream_name).await.map_err(|e| {
                BusError::Unavailable(format!("stream {stream_name} on {url}: {e}"))
            })?;
            let unavailable = |e: &dyn std::fmt::Display| {
                BusError::Unavailable(format!(
                    "subjects of stream {stream_name} on {url} matching {subject}: {e}"
                ))
            };
            let mut subjects = stream
                .info_with_subjects(&subject)
                .await
                .map_err(|e| unavailable(&e))?;
            let mut messages = 0u64;
            while let Some((name, count)) =
                subjects.try_next().await.map_err(|e| unavailable(&e))?
            {
                if name == subject {
                    messages += u64::try_from(count).unwrap_or(u64::MAX);
                }
            }
            let consumer_state = match stream.consumer_info(&durable).await {
                Ok(info) => Some(consumer_state(&info)),
                Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => None,
                Err(e) => {
                    let reason = format!("durable consumer {durable} on stream {stream_name}: {e}");
                    return Err(match e.kind() {
                        ConsumerInfoErrorKind::JetStream(_)
                        | ConsumerInfoErrorKind::InvalidName => BusError::Refused {
                            operation: "inspect",
                            reason,
                        },
                        _ => BusError::Unavailable(reason),
                    });
                }
            };
            Ok(SubscriptionState {
                subject: subject.clone(),
                messages,
                consumer: durable.clone(),
                consumer_state,
            })
        };
        // Each request is bounded by the context; this bounds the three together.
        let bound = self.options.request_timeout * 3;
        tokio::time::timeout(bound, ask).await.map_err(|_| {
            BusError::Unavailable(format!(
                "inspecting {durable} on {url}: no answer within {}",
                go_duration(bound)
            ))
        })?
    }
}
