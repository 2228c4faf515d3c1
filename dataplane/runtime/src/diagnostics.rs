//! The Sensor pod's diagnostics routes on its admin server, for `kubectl argo events why` and
//! `replay` (through the API server's pod proxy): `GET /decisions` ([`DECISIONS_PATH`]) answers
//! what [`DecisionRecorder`] kept, `GET /bus` ([`BUS_PATH`]) asks the bus live, on each request,
//! about every subscription of the Sensor ([`crate::sensor::subscriptions`]);
//! `GET /bus/messages` ([`BUS_MESSAGES_PATH`]) reads the messages the stream holds on a
//! dependency's subject and `POST /replay` ([`REPLAY_PATH`]) hands them to this replica's trigger
//! loops ([`crate::replay`]). Errors are [`AdminError`] bodies: 400 for a bad query parameter,
//! 404 for an unknown dependency or trigger, 409 when this replica runs no loop for the
//! triggers, 503 when the bus cannot be asked or a loop's replay queue is full, 502 when the bus
//! refused. EventSource pods do not route them (404); they route `POST /publish` instead
//! ([`crate::publish`]).

use std::sync::{Arc, OnceLock};

use argo_events_api::Sensor;
use argo_events_api::diagnostics::{
    AdminError, BUS_MESSAGES_PATH, BUS_PATH, BusReport, DECISIONS_PATH, Decisions, REPLAY_PATH,
    ReplayResult, StoredMessage, StoredMessages, SubscriptionReport,
};
use argo_events_bus::{
    BusError, EventBus, StoredPage, StoredRange, Subscription, SubscriptionState, naming,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use http::StatusCode;
use serde_json::Value;

use crate::decisions::DecisionRecorder;
use crate::replay::{
    Catalog, HandOverError, MAX_READ_BYTES, Replays, ResolveError, Selection, Target,
    parse_selection,
};

/// What the diagnostics routes read.
pub struct SensorDiagnostics {
    sensor: String,
    decisions: Arc<DecisionRecorder>,
    subscriptions: Vec<Subscription>,
    catalog: Catalog,
    replays: Arc<Replays>,
    stream: String,
    bus: OnceLock<Arc<dyn EventBus>>,
}

/// An error answer of the admin routes (the EventSource pod's `/publish` too, [`crate::publish`]):
/// a status and an [`AdminError`] body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminFailure {
    /// The status.
    pub status: StatusCode,
    /// The message of the body.
    pub message: String,
}

impl AdminFailure {
    /// An answer of `status` saying `message`.
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        AdminFailure {
            status,
            message: message.to_string(),
        }
    }
}

impl IntoResponse for AdminFailure {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(AdminError {
                error: self.message,
            }),
        )
            .into_response()
    }
}

impl From<ResolveError> for AdminFailure {
    fn from(e: ResolveError) -> Self {
        let status = match e {
            ResolveError::UnknownDependency { .. } | ResolveError::UnknownTrigger { .. } => {
                StatusCode::NOT_FOUND
            }
            ResolveError::NotUsed { .. } => StatusCode::BAD_REQUEST,
        };
        AdminFailure::new(status, e)
    }
}

impl From<HandOverError> for AdminFailure {
    fn from(e: HandOverError) -> Self {
        let status = match e {
            HandOverError::NotRunning { .. } => StatusCode::CONFLICT,
            HandOverError::Full { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        AdminFailure::new(status, e)
    }
}

fn bus_failure(e: &BusError) -> AdminFailure {
    let status = match e {
        BusError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        BusError::Refused { .. } | BusError::BadMessage { .. } => StatusCode::BAD_GATEWAY,
        BusError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    AdminFailure::new(status, format!("reading the stored messages: {e}"))
}

/// One stored message as `/bus/messages` shows it.
pub fn stored_message(message: &argo_events_bus::StoredMessage) -> StoredMessage {
    let (event, error) = match &message.event {
        Ok(event) => (event.to_cloudevent(), None),
        Err(reason) => (Value::Null, Some(reason.clone())),
    };
    StoredMessage {
        seq: message.sequence,
        time: DateTime::<Utc>::from(message.stored_at),
        event,
        error,
    }
}

impl SensorDiagnostics {
    /// The diagnostics of `sensor`, whose decisions `decisions` keeps and whose events are on
    /// the stream named `stream`. `/bus` says "not connected" until [`SensorDiagnostics::set_bus`].
    pub fn new(sensor: &Sensor, decisions: Arc<DecisionRecorder>, stream: &str) -> Self {
        SensorDiagnostics {
            sensor: format!(
                "{}/{}",
                sensor.metadata.namespace.as_deref().unwrap_or_default(),
                sensor.metadata.name.as_deref().unwrap_or_default()
            ),
            decisions,
            subscriptions: crate::sensor::subscriptions(sensor),
            catalog: Catalog::of(sensor),
            replays: Arc::new(Replays::default()),
            stream: stream.to_owned(),
            bus: OnceLock::new(),
        }
    }

    /// The bus `/bus` asks, once connected (the first one set stays).
    pub fn set_bus(&self, bus: Arc<dyn EventBus>) {
        let _ = self.bus.set(bus);
    }

    /// The trigger loops `/replay` hands events to: pass them to
    /// [`crate::sensor::SensorRunner::run_with_replays`].
    pub fn replays(&self) -> Arc<Replays> {
        self.replays.clone()
    }

    /// The body of `GET /decisions`.
    pub fn decisions(&self) -> Decisions {
        self.decisions.snapshot()
    }

    /// The body of `GET /bus`: each subscription as the bus sees it now (asked concurrently).
    pub async fn bus_report(&self) -> BusReport {
        let asked = futures::future::join_all(self.subscriptions.iter().map(|s| async move {
            let result = match self.bus.get() {
                Some(bus) => bus.inspect(s).await.map_err(|e| e.to_string()),
                None => Err("the pod is not connected to the event bus yet".to_owned()),
            };
            subscription_report(s, &self.stream, result)
        }))
        .await;
        BusReport {
            sensor: self.sensor.clone(),
            subscriptions: asked,
        }
    }
}

impl SensorDiagnostics {
    fn select(&self, query: &[(String, String)]) -> Result<(Selection, Target), AdminFailure> {
        let selection =
            parse_selection(query).map_err(|e| AdminFailure::new(StatusCode::BAD_REQUEST, e))?;
        let target = self.catalog.resolve(&selection)?;
        Ok((selection, target))
    }

    async fn read(
        &self,
        selection: &Selection,
        target: &Target,
    ) -> Result<StoredPage, AdminFailure> {
        let Some(bus) = self.bus.get() else {
            return Err(AdminFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the pod is not connected to the event bus yet",
            ));
        };
        let range = StoredRange {
            from: selection.from,
            limit: selection.limit,
            max_bytes: MAX_READ_BYTES,
        };
        bus.stored_messages(&target.event_source, &target.event_name, range)
            .await
            .map_err(|e| bus_failure(&e))
    }

    /// The body of `GET /bus/messages?{query}`.
    pub async fn stored_messages(
        &self,
        query: &[(String, String)],
    ) -> Result<StoredMessages, AdminFailure> {
        let (selection, target) = self.select(query)?;
        let page = self.read(&selection, &target).await?;
        Ok(StoredMessages {
            sensor: self.sensor.clone(),
            dependency: target.dependency,
            triggers: target.triggers,
            subject: page.subject,
            messages: page.messages.iter().map(stored_message).collect(),
            truncated: page.truncated,
        })
    }

    /// `POST /replay?{query}`: reads the stored messages and hands the CloudEvents among them
    /// to the loops of the selected triggers, all or nothing (a dependency no trigger uses:
    /// nothing is read, nothing handed over).
    pub async fn replay(&self, query: &[(String, String)]) -> Result<ReplayResult, AdminFailure> {
        let (selection, target) = self.select(query)?;
        if target.triggers.is_empty() {
            // Nothing to hand anything to: nothing is read.
            return Ok(ReplayResult {
                sensor: self.sensor.clone(),
                subject: naming::subject(&self.stream, &target.event_source, &target.event_name),
                dependency: target.dependency,
                ..ReplayResult::default()
            });
        }
        // Before reading the bus: a standby answers at once.
        self.replays.check_running(&target.triggers)?;
        let page = self.read(&selection, &target).await?;
        let mut events = Vec::new();
        let mut skipped = Vec::new();
        for message in page.messages {
            match message.event {
                Ok(event) => events.push((message.sequence, event)),
                Err(_) => skipped.push(message.sequence),
            }
        }
        self.replays
            .hand_over(&target.triggers, &target.dependency, &events)?;
        tracing::info!(dependency = %target.dependency, triggers = ?target.triggers, replayed = events.len(), skipped = skipped.len(), "replay handed to the trigger loops");
        Ok(ReplayResult {
            sensor: self.sensor.clone(),
            dependency: target.dependency,
            subject: page.subject,
            triggers: target.triggers,
            replayed: u64::try_from(events.len()).unwrap_or(u64::MAX),
            sequences: events.iter().map(|(seq, _)| *seq).collect(),
            skipped,
            truncated: page.truncated,
        })
    }
}

/// One subscription's entry of `/bus`: the bus's answer, or, when it could not be asked, the
/// names the subscription uses on `stream` and why.
pub fn subscription_report(
    subscription: &Subscription,
    stream: &str,
    result: Result<SubscriptionState, String>,
) -> SubscriptionReport {
    let base = SubscriptionReport {
        trigger: subscription.trigger.clone(),
        dependency: subscription.dependency.clone(),
        ..Default::default()
    };
    match result {
        Ok(state) => SubscriptionReport {
            subject: state.subject,
            messages: Some(state.messages),
            consumer: state.consumer,
            state: state.consumer_state,
            ..base
        },
        Err(error) => SubscriptionReport {
            subject: naming::subject(stream, &subscription.event_source, &subscription.event_name),
            consumer: naming::durable_name(
                &subscription.sensor,
                &subscription.trigger,
                &subscription.dependency,
            ),
            error: Some(error),
            ..base
        },
    }
}

/// `GET /decisions`, `GET /bus`, `GET /bus/messages` and `POST /replay`, merged into the Sensor
/// pod's admin router.
pub fn diagnostics_router(diagnostics: Arc<SensorDiagnostics>) -> Router {
    Router::new()
        .route(DECISIONS_PATH, get(decisions_handler))
        .route(BUS_PATH, get(bus_handler))
        .route(BUS_MESSAGES_PATH, get(messages_handler))
        .route(REPLAY_PATH, post(replay_handler))
        .with_state(diagnostics)
}

/// A query string as its pairs, in order, or why it could not be read.
pub(crate) type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The pairs of a query string, or a 400 saying why it could not be read.
pub(crate) fn query_pairs(query: QueryPairs) -> Result<Vec<(String, String)>, AdminFailure> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|e| AdminFailure::new(StatusCode::BAD_REQUEST, format!("query string: {e}")))
}

async fn messages_handler(State(d): State<Arc<SensorDiagnostics>>, query: QueryPairs) -> Response {
    let answer = match query_pairs(query) {
        Ok(pairs) => d.stored_messages(&pairs).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn replay_handler(State(d): State<Arc<SensorDiagnostics>>, query: QueryPairs) -> Response {
    let answer = match query_pairs(query) {
        Ok(pairs) => d.replay(&pairs).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn decisions_handler(State(d): State<Arc<SensorDiagnostics>>) -> Json<Decisions> {
    Json(d.decisions())
}

async fn bus_handler(State(d): State<Arc<SensorDiagnostics>>) -> Json<BusReport> {
    Json(d.bus_report().await)
}

#[cfg(test)]
mod tests;
