//! Building CloudEvents and publishing them on the bus: once with a deadline (HTTP sources
//! answer their caller from the result) or with bounded retries (calendar and NATS sources,
//! which have nobody to answer).

use std::future::Future;
use std::time::Duration;

use argo_events_api::cloudevent::{Event, MEDIA_TYPE_JSON, SPEC_VERSION_1_0};
use argo_events_bus::EventBus;
use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use crate::SourceContext;

/// A new event from `event_source`'s event `event_name` of source kind `kind`, stamped with the
/// context's clock and a fresh id ([`build_event`]).
pub(crate) fn new_event(
    ctx: &SourceContext,
    event_source: &str,
    kind: &str,
    event_name: &str,
    data: Vec<u8>,
) -> Event {
    build_event(event_source, kind, event_name, data, ctx.clock.now())
}

/// The CloudEvent every adapter publishes: `source` the EventSource's name, `subject` the event
/// name, `type` the source kind's type string, JSON data, `time` = `now` and a random
/// 32-hex-digit id (upstream: a UUID without dashes).
pub(crate) fn build_event(
    event_source: &str,
    kind: &str,
    event_name: &str,
    data: Vec<u8>,
    now: DateTime<Utc>,
) -> Event {
    Event {
        id: uuid::Uuid::new_v4().simple().to_string(),
        source: event_source.to_owned(),
        specversion: SPEC_VERSION_1_0.to_owned(),
        type_: kind.to_owned(),
        datacontenttype: MEDIA_TYPE_JSON.to_owned(),
        subject: event_name.to_owned(),
        time: Some(now),
        trace: Default::default(),
        data,
    }
}

/// Publishes once, waiting at most `ctx.publish_timeout`; the error says what failed.
pub(crate) async fn publish_once(ctx: &SourceContext, event: &Event) -> Result<(), String> {
    publish_within(ctx.bus.as_ref(), ctx.publish_timeout, event).await
}

/// Publishes once on `bus`, waiting at most `timeout`; the error says what failed.
pub(crate) async fn publish_within(
    bus: &dyn EventBus,
    timeout: Duration,
    event: &Event,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, bus.publish(event)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the event bus did not confirm event {} within {timeout:?}",
            event.id
        )),
    }
}

/// A bounded exponential backoff for publishing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Retry {
    /// Attempts in all, the first included.
    pub(crate) attempts: u32,
    /// Wait after the first failure.
    pub(crate) first_wait: Duration,
    /// Multiplier applied to the wait after each failure.
    pub(crate) factor: u32,
    /// Longest wait.
    pub(crate) max_wait: Duration,
}

impl Retry {
    /// The policy for sources that cannot hand a failure back to a caller: 6 attempts over about
    /// 15 seconds (0.5 s, 1 s, 2 s, 4 s, 8 s between them).
    pub(crate) const PUBLISH: Retry = Retry {
        attempts: 6,
        first_wait: Duration::from_millis(500),
        factor: 2,
        max_wait: Duration::from_secs(8),
    };

    /// The policy for sources that can wait for the bus (a Kubernetes watch resumes where it
    /// stopped): the same waits, without a last attempt; only stopping the source ends it.
    pub(crate) const UNTIL_STOPPED: Retry = Retry {
        attempts: u32::MAX,
        ..Retry::PUBLISH
    };

    /// The wait after failed attempt number `attempt` (1-based).
    pub(crate) fn wait_after(&self, attempt: u32) -> Duration {
        let mut wait = self.first_wait;
        for _ in 1..attempt {
            if wait >= self.max_wait {
                break;
            }
            wait = wait.saturating_mul(self.factor).min(self.max_wait);
        }
        wait.min(self.max_wait)
    }
}

/// Publishes with retries, reporting every failed attempt to the observer, the success too.
/// `sleep` waits between attempts (the context's clock for calendars, tokio for NATS). The
/// error, after the last attempt, names the last failure.
pub(crate) async fn publish_retrying<S, F>(
    ctx: &SourceContext,
    event: &Event,
    retry: Retry,
    sleep: S,
) -> Result<(), String>
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    // One span per event for sources with nobody to answer: the root of the event's trace.
    let span = tracing::info_span!(
        "receive",
        otel.name = %format_args!("receive {}.{}", event.source, event.subject),
        otel.kind = "consumer",
        messaging.operation.type = "receive",
        messaging.message.id = %event.id,
        argo.event_source = %event.source,
        argo.event_name = %event.subject,
        argo.event_type = %event.type_,
        otel.status_code = tracing::field::Empty,
    );
    let result = publish_attempts(ctx, event, retry, sleep)
        .instrument(span.clone())
        .await;
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
    result
}

async fn publish_attempts<S, F>(
    ctx: &SourceContext,
    event: &Event,
    retry: Retry,
    sleep: S,
) -> Result<(), String>
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut attempt = 1;
    loop {
        match publish_once(ctx, event).await {
            Ok(()) => {
                ctx.observer.published(event);
                return Ok(());
            }
            Err(reason) if attempt < retry.attempts => {
                let wait = retry.wait_after(attempt);
                let of = match retry.attempts {
                    u32::MAX => String::new(),
                    n => format!(" of {n}"),
                };
                let message = format!("{reason} (attempt {attempt}{of}, retrying in {wait:?})");
                tracing::warn!(
                    event_source = %event.source,
                    event = %event.subject,
                    id = %event.id,
                    error = %message,
                    "publishing failed"
                );
                ctx.observer.publish_failed(&event.subject, &message);
                sleep(wait).await;
                attempt += 1;
            }
            Err(reason) => {
                let message = format!("{reason} (giving up after {attempt} attempts)");
                tracing::error!(
                    event_source = %event.source,
                    event = %event.subject,
                    id = %event.id,
                    error = %message,
                    "event lost: publishing failed"
                );
                ctx.observer.publish_failed(&event.subject, &message);
                return Err(message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<u64> = (1..=6)
            .map(|a| Retry::PUBLISH.wait_after(a).as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 8000]);
    }
}
