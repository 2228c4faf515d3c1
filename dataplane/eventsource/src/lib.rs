//! EventSource adapters. Each turns something outside (an HTTP request, a schedule, a NATS
//! message, a change to a Kubernetes object) into a CloudEvent and publishes it on the [`EventBus`]; an HTTP source answers its
//! caller only after the bus has stored the event.
//!
//! [`run`] starts every event of an EventSource and returns when `ctx.shutdown` fires.
//! [`check_supported`] refuses, by name, the source kinds that have no adapter yet.
//! [`manual::ManualPublisher`] publishes an event handed in from outside (the EventSource pod's
//! `POST /publish`) as its source would.

pub mod calendar;
pub mod clock;
pub mod github;
pub mod gitlab;
pub mod manual;
pub mod nats;
mod publish;
pub mod resource;
pub mod secrets;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use argo_events_api::EventSource;
use argo_events_api::cloudevent::Event;
use argo_events_bus::{EventBus, KeyValue};
use tokio_util::sync::CancellationToken;

pub use clock::{Clock, SystemClock};
pub use resource::KubeAccess;
pub use secrets::SecretReader;

/// Why an EventSource cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The spec uses a source kind with no adapter here.
    #[error(
        "EventSource {event_source}: the {kind} source kind is not supported yet (events: {events}); supported: webhook, github, gitlab, calendar, nats, resource"
    )]
    Unsupported {
        /// EventSource name.
        event_source: String,
        /// The spec key, e.g. `kafka`.
        kind: &'static str,
        /// Its event names.
        events: String,
    },
    /// An event's configuration is invalid.
    #[error("EventSource {event_source}, {kind} event {event}: {reason}")]
    Invalid {
        /// EventSource name.
        event_source: String,
        /// The spec key.
        kind: &'static str,
        /// The event name.
        event: String,
        /// What is wrong.
        reason: String,
    },
    /// A listener could not start (port in use, connection refused…).
    #[error("EventSource {event_source}: {what}: {reason}")]
    Start {
        /// EventSource name.
        event_source: String,
        /// What was being started.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

/// Hears about every event an EventSource handles (metrics, and the `run` command's output).
pub trait Observer: Send + Sync {
    /// The bus stored an event.
    fn published(&self, event: &Event);
    /// An event could not be published (the caller got an error answer, or it will be retried).
    fn publish_failed(&self, event_name: &str, error: &str);
    /// An incoming request or message was rejected before publishing (bad signature, filter…).
    fn rejected(&self, event_name: &str, reason: &str);
}

/// An observer that ignores everything.
pub struct NoObserver;

impl Observer for NoObserver {
    fn published(&self, _: &Event) {}
    fn publish_failed(&self, _: &str, _: &str) {}
    fn rejected(&self, _: &str, _: &str) {}
}

/// What adapters get from the process that runs them.
#[derive(Clone)]
pub struct SourceContext {
    /// Where events go.
    pub bus: Arc<dyn EventBus>,
    /// Durable state of this EventSource (e.g. a calendar's last fire).
    pub state: Arc<dyn KeyValue>,
    /// Secret values referenced by the spec.
    pub secrets: Arc<dyn SecretReader>,
    /// The time source (a test clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Sees every event.
    pub observer: Arc<dyn Observer>,
    /// How resource sources reach the Kubernetes API.
    pub kube: KubeAccess,
    /// How long an HTTP source waits for the bus before answering 503.
    pub publish_timeout: Duration,
    /// Stops every listener.
    pub shutdown: CancellationToken,
}

/// Every source kind with an adapter: its spec key and the CloudEvent `type` its events carry,
/// the adapter's own `EVENT_TYPE` (upstream's type strings, equal to these spec keys; the
/// reference's table of kinds lists the others, e.g. `pubSub` → `pubsub`).
const ADAPTERS: [(&str, &str); 6] = [
    ("webhook", webhook::EVENT_TYPE),
    ("github", github::EVENT_TYPE),
    ("gitlab", gitlab::EVENT_TYPE),
    ("calendar", calendar::EVENT_TYPE),
    ("nats", nats::EVENT_TYPE),
    ("resource", resource::EVENT_TYPE),
];

/// The CloudEvent `type` the adapter of spec key `kind` (as [`EventSourceSpec::event_names`]
/// names it) stamps on its events; `None` for a kind without an adapter.
///
/// [`EventSourceSpec::event_names`]: argo_events_api::EventSourceSpec::event_names
pub fn event_type(kind: &str) -> Option<&'static str> {
    ADAPTERS
        .iter()
        .find(|(key, _)| *key == kind)
        .map(|(_, event_type)| *event_type)
}

/// Refuses EventSources that use a kind without an adapter, naming it.
pub fn check_supported(source: &EventSource) -> Result<(), SourceError> {
    let mut by_kind: Vec<(&'static str, Vec<&str>)> = Vec::new();
    for (kind, event) in source.spec.event_names() {
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, events)) => events.push(event),
            None => by_kind.push((kind, vec![event])),
        }
    }
    match by_kind.into_iter().find(|(k, _)| event_type(k).is_none()) {
        Some((kind, events)) => Err(SourceError::Unsupported {
            event_source: source.metadata.name.clone().unwrap_or_default(),
            kind,
            events: events.join(", "),
        }),
        None => Ok(()),
    }
}

/// Runs every event of an EventSource: refuses unsupported kinds ([`check_supported`]), checks
/// every event and reads its secrets before anything starts, then serves the HTTP sources (one
/// listener per port), the calendars, the NATS subscriptions and the Kubernetes watches.
/// Returns `Ok` once `ctx.shutdown` is cancelled and everything stopped (HTTP requests in
/// flight are finished), or the first fatal error (a port in use, a NATS server that cannot be
/// reached, no Kubernetes API configuration…), after stopping the rest.
pub async fn run(source: &EventSource, ctx: SourceContext) -> Result<(), SourceError> {
    check_supported(source)?;
    let name = source.metadata.name.clone().unwrap_or_default();
    check_unique_event_names(&name, source)?;
    let spec = &source.spec;
    let secrets = ctx.secrets.as_ref();

    let mut routes = Vec::new();
    for (event, s) in &spec.webhook {
        routes.push(webhook::prepare(&name, event, s, secrets)?);
    }
    for (event, s) in &spec.github {
        routes.push(github::prepare(&name, event, s, secrets)?);
    }
    for (event, s) in &spec.gitlab {
        routes.push(gitlab::prepare(&name, event, s, secrets)?);
    }
    let listeners = webhook::server::group_by_port(routes)?;
    let now = ctx.clock.now();
    let calendars = spec
        .calendar
        .iter()
        .map(|(event, s)| calendar::prepare(&name, event, s, now))
        .collect::<Result<Vec<_>, _>>()?;
    let subscribers = spec
        .nats
        .iter()
        .map(|(event, s)| nats::prepare(&name, event, s, secrets))
        .collect::<Result<Vec<_>, _>>()?;
    let watches = spec
        .resource
        .iter()
        .map(|(event, s)| resource::prepare(&name, event, s))
        .collect::<Result<Vec<_>, _>>()?;
    let kube = match watches.is_empty() {
        true => None,
        false => Some(
            ctx.kube
                .client()
                .await
                .map_err(|reason| SourceError::Start {
                    event_source: name.clone(),
                    what: "the Kubernetes client of the resource events".to_owned(),
                    reason,
                })?,
        ),
    };

    let stop = ctx.shutdown.child_token();
    let task_ctx = SourceContext {
        shutdown: stop.clone(),
        ..ctx.clone()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (port, routes) in listeners {
        tasks.spawn(webhook::server::serve(
            name.clone(),
            port,
            routes,
            task_ctx.clone(),
        ));
    }
    for c in calendars {
        tasks.spawn(c.run(task_ctx.clone()));
    }
    for n in subscribers {
        tasks.spawn(n.run(task_ctx.clone()));
    }
    if let Some(client) = kube {
        for w in watches {
            tasks.spawn(w.run(client.clone(), task_ctx.clone()));
        }
    }
    if tasks.is_empty() {
        tracing::warn!(event_source = %name, "the EventSource has no events; nothing to run");
        ctx.shutdown.cancelled().await;
        return Ok(());
    }
    tracing::info!(event_source = %name, tasks = tasks.len(), "EventSource started");

    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.unwrap_or_else(|e| {
            Err(SourceError::Start {
                event_source: name.clone(),
                what: "an adapter task".to_owned(),
                reason: e.to_string(),
            })
        });
        if let Err(e) = result
            && first_error.is_none()
        {
            tracing::error!(event_source = %name, error = %e, "EventSource failed; stopping it");
            stop.cancel();
            first_error = Some(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            tracing::info!(event_source = %name, "EventSource stopped");
            Ok(())
        }
    }
}

/// Event names are bus subjects (`<eventSource>.<eventName>`), so two kinds may not share one.
pub(crate) fn check_unique_event_names(
    event_source: &str,
    source: &EventSource,
) -> Result<(), SourceError> {
    let mut seen: std::collections::HashMap<&str, &'static str> = std::collections::HashMap::new();
    for (kind, event) in source.spec.event_names() {
        if let Some(other) = seen.insert(event, kind) {
            return Err(SourceError::Invalid {
                event_source: event_source.to_owned(),
                kind,
                event: event.to_owned(),
                reason: format!(
                    "the {other} source already has an event with this name; event names must \
                     be unique across the EventSource"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_adapter_kind_has_the_type_its_adapter_stamps() {
        assert_eq!(event_type("calendar"), Some(calendar::EVENT_TYPE));
        assert_eq!(event_type("calendar"), Some("calendar"));
        assert_eq!(event_type("resource"), Some("resource"));
        assert_eq!(event_type("github"), Some("github"));
        assert_eq!(event_type("kafka"), None);
        for (kind, event_type) in ADAPTERS {
            assert_eq!(kind, event_type, "upstream's type string is the spec key");
        }
    }
}
