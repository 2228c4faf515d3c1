//! The EventSource pod's `POST /publish` ([`PUBLISH_PATH`]) on its admin server, behind
//! `kubectl argo events send` for the source kinds the plugin cannot reach over HTTP (calendar,
//! nats, resource, …; the plugin cannot reach the bus, the pod can): one event of this
//! EventSource onto its bus subject, as that event's source would have published it
//! ([`ManualPublisher`]).
//!
//! `POST /publish?event=NAME`, the request body as the event's data, bytes as sent:
//!
//! - the CloudEvent is the one the event's adapter builds: `source` the EventSource's name,
//!   `subject` NAME, `type` the kind's type string ([`argo_events_eventsource::event_type`], the
//!   adapter's own `EVENT_TYPE`: `calendar`, `nats`, `resource`, `webhook`, `github`,
//!   `gitlab`), a fresh id, `time` now, `specversion` 1.0, no extension attributes (the adapters
//!   add none); `datacontenttype` is the request's `Content-Type` (`application/json` when
//!   absent), and a JSON media type needs a JSON body;
//! - the data is taken as-is, not wrapped: each kind has its own data shape (webhook
//!   `{header, body, metadata}`, so a Sensor's `body.*` filters read inside `body`; calendar
//!   `{eventTime, metadata}`; nats `{subject, body, header?, metadata}`; resource `{type, body,
//!   oldBody, group, version, resource, metadata}`), so the caller writes the data the source
//!   would have produced;
//! - it is published once, as the HTTP sources publish (the pod's publish timeout, 5 s), and
//!   counted in `argo_events_events_sent` / `…_sent_failed` as the sources' events are.
//!
//! Answers: 200 with [`Published`] only once the bus has stored the event; 404 naming the event
//! and listing the EventSource's events when it has no event NAME; 400 for a bad query (no
//! `event`, another parameter, one given twice), a `Content-Type` that is not a media type, or a
//! body that is not JSON under a JSON media type (413 past axum's 2 MiB body limit); 503 when the
//! pod is not connected to the bus yet, its events have not started yet, or the bus could not
//! be reached, refused the event or did not answer in time (the body says which); 409 from a
//! replica standing by under leader election. Decided so, rather than publishing from any
//! replica on the shared bus, because a standby runs none of the EventSource's events: only the
//! leader is the events' source, and this replica knows from the election whether it leads,
//! where a client does not (with the bus's lock there is no Lease to read), so a client tries
//! the EventSource's ready pods in turn and moves on from a 409. Every error body is an
//! [`AdminError`](argo_events_api::diagnostics::AdminError).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use argo_events_api::diagnostics::{PUBLISH_PATH, Published, publish_params};
use argo_events_bus::{EventBus, naming};
use argo_events_eventsource::manual::{ManualError, ManualPublisher};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderMap, StatusCode, header};

use crate::diagnostics::{AdminFailure, QueryPairs, query_pairs};

/// What `POST /publish` needs: the events, the bus once connected, and whether this replica
/// runs the EventSource's events.
pub struct EventSourcePublish {
    publisher: ManualPublisher,
    stream: String,
    elected: bool,
    running: AtomicBool,
    bus: OnceLock<Arc<dyn EventBus>>,
}

impl From<ManualError> for AdminFailure {
    fn from(e: ManualError) -> Self {
        let status = match e {
            ManualError::UnknownEvent { .. } => StatusCode::NOT_FOUND,
            ManualError::ContentType { .. } | ManualError::NotJson { .. } => {
                StatusCode::BAD_REQUEST
            }
            ManualError::Publish { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        AdminFailure::new(status, e)
    }
}

impl EventSourcePublish {
    /// `/publish` of `publisher`'s EventSource, whose events go to the stream named `stream`;
    /// `elected` when its replicas run under leader election. It answers 503 until
    /// [`EventSourcePublish::set_bus`], and refuses until [`EventSourcePublish::set_running`].
    pub fn new(publisher: ManualPublisher, stream: &str, elected: bool) -> Self {
        EventSourcePublish {
            publisher,
            stream: stream.to_owned(),
            elected,
            running: AtomicBool::new(false),
            bus: OnceLock::new(),
        }
    }

    /// The bus events are published on, once connected (the first one set stays).
    pub fn set_bus(&self, bus: Arc<dyn EventBus>) {
        let _ = self.bus.set(bus);
    }

    /// This replica runs the EventSource's events (it leads, or every replica runs) or not (it
    /// stands by): what the election tells the `leader` gauge.
    pub fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::SeqCst);
    }

    /// `POST /publish?{query}` with `body`, of media type `content_type` (the request's
    /// `Content-Type`, `None` when absent).
    pub async fn publish(
        &self,
        query: &[(String, String)],
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<Published, AdminFailure> {
        let event_name = parse_event(query)?;
        let event = self.publisher.build(&event_name, content_type, body)?;
        let Some(bus) = self.bus.get() else {
            return Err(AdminFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the pod is not connected to the event bus yet",
            ));
        };
        if !self.running.load(Ordering::SeqCst) {
            return Err(match self.elected {
                true => AdminFailure::new(
                    StatusCode::CONFLICT,
                    format!(
                        "EventSource {}: this replica stands by under leader election and runs none of its events; the leader's pod publishes them",
                        self.publisher.event_source()
                    ),
                ),
                false => AdminFailure::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "EventSource {}: its events have not started on this replica yet",
                        self.publisher.event_source()
                    ),
                ),
            });
        }
        self.publisher.publish(bus.as_ref(), &event).await?;
        let time = event
            .time
            .expect("invariant: ManualPublisher::build stamps the event's time");
        Ok(Published {
            event_source: self.publisher.event_source(),
            subject: naming::subject(&self.stream, &event.source, &event.subject),
            event: event.subject,
            type_: event.type_,
            id: event.id,
            time,
        })
    }
}

/// The one parameter of [`PUBLISH_PATH`], or a 400 naming what is wrong.
fn parse_event(query: &[(String, String)]) -> Result<String, AdminFailure> {
    let bad = |message: String| AdminFailure::new(StatusCode::BAD_REQUEST, message);
    let mut event = None;
    for (key, value) in query {
        if key != publish_params::EVENT {
            return Err(bad(format!(
                "unknown query parameter {key:?}; {PUBLISH_PATH} takes only {}",
                publish_params::EVENT
            )));
        }
        if event.replace(value.clone()).is_some() {
            return Err(bad(format!(
                "query parameter {} given more than once",
                publish_params::EVENT
            )));
        }
    }
    match event {
        Some(name) if !name.is_empty() => Ok(name),
        Some(_) => Err(bad(format!(
            "query parameter {} is empty; name one of the EventSource's events",
            publish_params::EVENT
        ))),
        None => Err(bad(format!(
            "query parameter {} is required: {PUBLISH_PATH}?{}=NAME",
            publish_params::EVENT,
            publish_params::EVENT
        ))),
    }
}

/// `POST /publish`, merged into the EventSource pod's admin router.
pub fn publish_router(publish: Arc<EventSourcePublish>) -> Router {
    Router::new()
        .route(PUBLISH_PATH, post(publish_handler))
        .with_state(publish)
}

async fn publish_handler(
    State(p): State<Arc<EventSourcePublish>>,
    headers: HeaderMap,
    query: QueryPairs,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match answer(&p, &headers, query, body).await {
        Ok(published) => Json(published).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn answer(
    p: &EventSourcePublish,
    headers: &HeaderMap,
    query: QueryPairs,
    body: Result<Bytes, BytesRejection>,
) -> Result<Published, AdminFailure> {
    let pairs = query_pairs(query)?;
    let content_type = match headers.get(header::CONTENT_TYPE) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            AdminFailure::new(
                StatusCode::BAD_REQUEST,
                "the Content-Type header is not visible ASCII",
            )
        })?),
    };
    let body = body.map_err(|e| {
        AdminFailure::new(
            e.status(),
            format!("reading the request body: {}", e.body_text()),
        )
    })?;
    p.publish(&pairs, content_type, body.to_vec()).await
}

#[cfg(test)]
mod tests;
