//! Events handed in from outside the sources: the EventSource pod's `POST /publish` (behind
//! `kubectl argo events send` for source kinds it cannot reach over HTTP) publishes one of the
//! EventSource's events as that event's source would have: the CloudEvent every adapter builds
//! (`source` the EventSource's name, `subject` the event name, `type` the kind's
//! [`crate::event_type`], a fresh id, `time` now; the adapters add no extension attributes),
//! published once within the publish timeout as the HTTP sources publish, and reported to the
//! [`Observer`] (so the pod's `argo_events_events_sent` counts it) as theirs are.
//!
//! The data is the caller's, as given: nothing is wrapped around it. A webhook event's data is
//! `{header, body, metadata}`, a calendar event's `{eventTime, metadata}`, and so on (the
//! reference's table of kinds), so a caller who wants a Sensor's `body.*` filters to match writes
//! the data the source would have produced.

use std::sync::Arc;
use std::time::Duration;

use argo_events_api::EventSource;
use argo_events_api::cloudevent::{Event, MEDIA_TYPE_JSON, is_json_type};
use argo_events_bus::EventBus;

use crate::publish::{build_event, publish_within};
use crate::{Clock, Observer, SourceError};

/// Why an event handed in is not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManualError {
    /// The EventSource has no event of that name.
    #[error("EventSource {event_source} has no event {event:?}; {}", known_events(.known))]
    UnknownEvent {
        /// `namespace/name` of the EventSource.
        event_source: String,
        /// The name asked for.
        event: String,
        /// The events it has, in spec order.
        known: Vec<String>,
    },
    /// The `Content-Type` given is not a media type.
    #[error("content type {value:?} is not a media type (type/subtype): {reason}")]
    ContentType {
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The media type says JSON but the data is not.
    #[error("the data is not valid JSON (content type {content_type}): {reason}")]
    NotJson {
        /// The media type given (or the default).
        content_type: String,
        /// The parser's message.
        reason: String,
    },
    /// The bus did not store the event (unreachable, refused, or no answer in time).
    #[error("publishing event {event} (id {id}): {reason}")]
    Publish {
        /// The event name.
        event: String,
        /// The CloudEvent id.
        id: String,
        /// What the bus said.
        reason: String,
    },
}

fn known_events(known: &[String]) -> String {
    match known {
        [] => "it has no events".to_owned(),
        names => format!("its events: {}", names.join(", ")),
    }
}

/// Publishes events of one EventSource handed in from outside, as their sources would.
pub struct ManualPublisher {
    namespace: String,
    event_source: String,
    /// (event name, CloudEvent type), in spec order.
    events: Vec<(String, &'static str)>,
    clock: Arc<dyn Clock>,
    observer: Arc<dyn Observer>,
    publish_timeout: Duration,
}

impl ManualPublisher {
    /// The publisher of `source`'s events, stamped with `clock`, reported to `observer`, each
    /// publish waiting at most `publish_timeout` for the bus. Refuses what [`crate::run`]
    /// refuses before anything starts: kinds without an adapter, event names used twice.
    pub fn new(
        source: &EventSource,
        clock: Arc<dyn Clock>,
        observer: Arc<dyn Observer>,
        publish_timeout: Duration,
    ) -> Result<Self, SourceError> {
        crate::check_supported(source)?;
        let event_source = source.metadata.name.clone().unwrap_or_default();
        crate::check_unique_event_names(&event_source, source)?;
        let events = source
            .spec
            .event_names()
            .into_iter()
            .filter_map(|(kind, event)| Some((event.to_owned(), crate::event_type(kind)?)))
            .collect();
        Ok(ManualPublisher {
            namespace: source.metadata.namespace.clone().unwrap_or_default(),
            event_source,
            events,
            clock,
            observer,
            publish_timeout,
        })
    }

    /// `namespace/name` of the EventSource.
    pub fn event_source(&self) -> String {
        format!("{}/{}", self.namespace, self.event_source)
    }

    /// The names of its events, in spec order.
    pub fn events(&self) -> Vec<&str> {
        self.events.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// The CloudEvent of event `event_name` carrying `data` as its data, of media type
    /// `content_type` (`application/json` when `None`; parameters such as `charset` are kept).
    /// JSON media types need JSON data; other data is taken as bytes.
    pub fn build(
        &self,
        event_name: &str,
        content_type: Option<&str>,
        data: Vec<u8>,
    ) -> Result<Event, ManualError> {
        let Some((_, event_type)) = self.events.iter().find(|(name, _)| name == event_name) else {
            return Err(ManualError::UnknownEvent {
                event_source: self.event_source(),
                event: event_name.to_owned(),
                known: self.events().into_iter().map(str::to_owned).collect(),
            });
        };
        let content_type = match content_type {
            None => MEDIA_TYPE_JSON.to_owned(),
            Some(value) => check_media_type(value)?,
        };
        if is_json_type(&content_type)
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&data)
        {
            return Err(ManualError::NotJson {
                content_type,
                reason: e.to_string(),
            });
        }
        let mut event = build_event(
            &self.event_source,
            event_type,
            event_name,
            data,
            self.clock.now(),
        );
        event.datacontenttype = content_type;
        Ok(event)
    }

    /// Publishes `event` on `bus` once, returning when the bus has stored it (or failed, or not
    /// answered within the publish timeout), and tells the observer either way.
    pub async fn publish(&self, bus: &dyn EventBus, event: &Event) -> Result<(), ManualError> {
        match publish_within(bus, self.publish_timeout, event).await {
            Ok(()) => {
                tracing::info!(
                    event_source = %event.source,
                    event = %event.subject,
                    id = %event.id,
                    "event published (handed in through the admin port)"
                );
                self.observer.published(event);
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(
                    event_source = %event.source,
                    event = %event.subject,
                    id = %event.id,
                    error = %reason,
                    "publishing an event handed in through the admin port failed"
                );
                self.observer.publish_failed(&event.subject, &reason);
                Err(ManualError::Publish {
                    event: event.subject.clone(),
                    id: event.id.clone(),
                    reason,
                })
            }
        }
    }
}

/// `value` trimmed, when its media type is `type/subtype` of RFC 9110 tokens.
fn check_media_type(value: &str) -> Result<String, ManualError> {
    let refuse = |reason| ManualError::ContentType {
        value: value.to_owned(),
        reason,
    };
    let trimmed = value.trim();
    let essence = trimmed.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return Err(refuse("no '/' between type and subtype"));
    };
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(kind) || !token(subtype) {
        return Err(refuse(
            "the type and subtype must be non-empty tokens (letters, digits, !#$%&'*+-.^_`|~)",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use argo_events_bus::Subscription;
    use argo_events_bus::memory::{MemoryBus, MemoryBusOptions};
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use super::*;

    struct FixedClock(DateTime<Utc>);

    #[async_trait::async_trait]
    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
        async fn sleep_until(&self, _: DateTime<Utc>) {}
    }

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);

    impl Observer for Seen {
        fn published(&self, event: &Event) {
            self.0
                .lock()
                .unwrap()
                .push(format!("published {}", event.subject));
        }
        fn publish_failed(&self, event_name: &str, error: &str) {
            self.0
                .lock()
                .unwrap()
                .push(format!("failed {event_name}: {error}"));
        }
        fn rejected(&self, event_name: &str, reason: &str) {
            self.0
                .lock()
                .unwrap()
                .push(format!("rejected {event_name}: {reason}"));
        }
    }

    fn source(spec: serde_json::Value) -> EventSource {
        serde_json::from_value(json!({
            "metadata": {"name": "cal", "namespace": "ns"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn noon() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-01-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn publisher(seen: Arc<Seen>) -> ManualPublisher {
        ManualPublisher::new(
            &source(json!({
                "calendar": {"tick": {"interval": "1m"}},
                "webhook": {"push": {"endpoint": "/push", "method": "POST", "port": "12000"}},
            })),
            Arc::new(FixedClock(noon())),
            seen,
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[test]
    fn the_event_is_the_one_its_source_would_build() {
        let p = publisher(Arc::default());
        assert_eq!(p.event_source(), "ns/cal");
        assert_eq!(p.events(), ["tick", "push"]);
        let data = br#"{"eventTime":"2024-01-02 12:00:00 +0000 UTC"}"#.to_vec();
        let tick = p.build("tick", None, data.clone()).unwrap();
        assert_eq!(tick.source, "cal");
        assert_eq!(tick.subject, "tick");
        assert_eq!(tick.type_, "calendar");
        assert_eq!(tick.specversion, "1.0");
        assert_eq!(tick.datacontenttype, "application/json");
        assert_eq!(tick.time, Some(noon()));
        assert_eq!(tick.data, data);
        assert_eq!(tick.id.len(), 32);
        assert!(
            tick.id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            tick.id
        );
        // Each publish is a new event.
        assert_ne!(p.build("tick", None, data).unwrap().id, tick.id);
        let push = p
            .build(
                "push",
                Some(" text/plain; charset=utf-8 "),
                b"not json".to_vec(),
            )
            .unwrap();
        assert_eq!(push.type_, "webhook");
        assert_eq!(push.datacontenttype, "text/plain; charset=utf-8");
        assert_eq!(push.data, b"not json");
    }

    #[test]
    fn unknown_events_bad_media_types_and_bad_json_are_refused() {
        let p = publisher(Arc::default());
        let err = p.build("tock", None, b"{}".to_vec()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "EventSource ns/cal has no event \"tock\"; its events: tick, push"
        );
        for bad in ["", "json", "application/", "/json", "text/pl ain"] {
            let err = p.build("tick", Some(bad), b"{}".to_vec()).unwrap_err();
            assert!(
                matches!(err, ManualError::ContentType { .. }),
                "{bad:?}: {err}"
            );
        }
        for json_type in [
            None,
            Some("application/json"),
            Some("application/cloud+json"),
        ] {
            let err = p.build("tick", json_type, b"{oops".to_vec()).unwrap_err();
            assert!(
                err.to_string().starts_with("the data is not valid JSON"),
                "{err}"
            );
        }
        assert!(matches!(
            p.build("tick", None, Vec::new()).unwrap_err(),
            ManualError::NotJson { .. }
        ));
        let empty = ManualPublisher::new(
            &source(json!({})),
            Arc::new(FixedClock(noon())),
            Arc::new(Seen::default()),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            empty
                .build("tick", None, b"{}".to_vec())
                .unwrap_err()
                .to_string(),
            "EventSource ns/cal has no event \"tick\"; it has no events"
        );
    }

    #[test]
    fn what_run_refuses_is_refused_here_too() {
        let kafka = source(json!({"kafka": {"orders": {"url": "k:9092", "topic": "o"}}}));
        let err = ManualPublisher::new(
            &kafka,
            Arc::new(FixedClock(noon())),
            Arc::new(Seen::default()),
            Duration::from_secs(1),
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, SourceError::Unsupported { kind: "kafka", .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn publishing_reaches_the_subject_and_the_observer() {
        let seen = Arc::new(Seen::default());
        let p = publisher(seen.clone());
        let bus = MemoryBus::new();
        let mut consumer = bus
            .subscribe(&Subscription {
                sensor: "s".into(),
                trigger: "t".into(),
                dependency: "d".into(),
                event_source: "cal".into(),
                event_name: "tick".into(),
            })
            .await
            .unwrap();
        let event = p.build("tick", None, b"{}".to_vec()).unwrap();
        p.publish(&bus, &event).await.unwrap();
        let got = consumer.fetch(10, Duration::from_secs(1)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event, event);

        let full = MemoryBus::with_options(MemoryBusOptions {
            max_msgs: Some(0),
            ..MemoryBusOptions::default()
        });
        let err = p.publish(&full, &event).await.unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "publishing event tick (id {}): event bus refused publish",
                event.id
            )),
            "{err}"
        );
        assert_eq!(
            seen.0.lock().unwrap()[0],
            "published tick",
            "{:?}",
            seen.0.lock().unwrap()
        );
        assert!(seen.0.lock().unwrap()[1].starts_with("failed tick: event bus refused"));
    }
}
