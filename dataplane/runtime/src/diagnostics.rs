//! The Sensor pod's diagnostics routes on its admin server, for `kubectl argo events why`
//! (through the API server's pod proxy): `GET /decisions` ([`DECISIONS_PATH`]) answers what
//! [`DecisionRecorder`] kept, `GET /bus` ([`BUS_PATH`]) asks the bus live, on each request, about
//! every subscription of the Sensor ([`crate::sensor::subscriptions`]). EventSource pods do not
//! route them (404).

use std::sync::{Arc, OnceLock};

use argo_events_api::Sensor;
use argo_events_api::diagnostics::{
    BUS_PATH, BusReport, DECISIONS_PATH, Decisions, SubscriptionReport,
};
use argo_events_bus::{EventBus, Subscription, SubscriptionState, naming};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::decisions::DecisionRecorder;

/// What the diagnostics routes read.
pub struct SensorDiagnostics {
    sensor: String,
    decisions: Arc<DecisionRecorder>,
    subscriptions: Vec<Subscription>,
    stream: String,
    bus: OnceLock<Arc<dyn EventBus>>,
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
            stream: stream.to_owned(),
            bus: OnceLock::new(),
        }
    }

    /// The bus `/bus` asks, once connected (the first one set stays).
    pub fn set_bus(&self, bus: Arc<dyn EventBus>) {
        let _ = self.bus.set(bus);
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

/// `GET /decisions` and `GET /bus`, merged into the Sensor pod's admin router.
pub fn diagnostics_router(diagnostics: Arc<SensorDiagnostics>) -> Router {
    Router::new()
        .route(DECISIONS_PATH, get(decisions_handler))
        .route(BUS_PATH, get(bus_handler))
        .with_state(diagnostics)
}

async fn decisions_handler(State(d): State<Arc<SensorDiagnostics>>) -> Json<Decisions> {
    Json(d.decisions())
}

async fn bus_handler(State(d): State<Arc<SensorDiagnostics>>) -> Json<BusReport> {
    Json(d.bus_report().await)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use argo_events_api::cloudevent::Event;
    use argo_events_api::diagnostics::ConsumerState;
    use argo_events_bus::memory::MemoryBus;
    use argo_events_engine::machine::DependencyVerdict;
    use axum::body::Body;
    use http::{Request, StatusCode};
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;
    use crate::metrics::{SensorMetrics, admin_router};
    use crate::sensor::{LogObserver, SensorObserver};

    fn sensor() -> Sensor {
        let value = json!({
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {
                "dependencies": [
                    {"name": "push", "eventSourceName": "webhook", "eventName": "push"},
                    {"name": "tag", "eventSourceName": "webhook", "eventName": "tag"},
                ],
                "triggers": [
                    {"template": {"name": "build", "conditions": "push", "log": {}}},
                    {"template": {"name": "notify", "log": {}}},
                ],
            },
        });
        argo_events_api::gocompat::from_value(&value).unwrap().value
    }

    fn ev(id: &str, subject: &str) -> Event {
        Event {
            id: id.into(),
            source: "webhook".into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: "application/json".into(),
            subject: subject.into(),
            time: None,
            data: b"{}".to_vec(),
        }
    }

    async fn get_json(router: Router, path: &str) -> (StatusCode, Value) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    fn router(diagnostics: Arc<SensorDiagnostics>) -> Router {
        let metrics = SensorMetrics::new("ns", "s", &["build", "notify"]);
        admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)))
            .merge(diagnostics_router(diagnostics))
    }

    #[test]
    fn every_trigger_dependency_pair_is_a_subscription() {
        let s = SensorDiagnostics::new(
            &sensor(),
            Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver))),
            "default",
        );
        let pairs: Vec<(&str, &str)> = s
            .subscriptions
            .iter()
            .map(|s| (s.trigger.as_str(), s.dependency.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [("build", "push"), ("notify", "push"), ("notify", "tag")]
        );
    }

    #[test]
    fn a_bus_that_cannot_be_asked_still_names_the_subject_and_consumer() {
        let sub = &crate::sensor::subscriptions(&sensor())[0];
        let r = subscription_report(sub, "default", Err("event bus unavailable: down".into()));
        assert_eq!(
            r,
            SubscriptionReport {
                trigger: "build".into(),
                dependency: "push".into(),
                subject: "default.webhook.push".into(),
                messages: None,
                consumer: naming::durable_name("s", "build", "push"),
                state: None,
                error: Some("event bus unavailable: down".into()),
            }
        );
    }

    #[tokio::test]
    async fn the_admin_router_answers_decisions_and_bus() {
        let recorder = Arc::new(DecisionRecorder::new(&sensor(), Arc::new(LogObserver)));
        let diagnostics = Arc::new(SensorDiagnostics::new(
            &sensor(),
            recorder.clone(),
            "default",
        ));
        recorder.event(
            "build",
            &ev("e1", "push"),
            &[DependencyVerdict {
                name: "push".into(),
                matched: false,
                reason: "body.ref does not match".into(),
            }],
        );

        let (status, body) = get_json(router(diagnostics.clone()), DECISIONS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["sensor"], "ns/s");
        assert_eq!(body["dependencies"][0]["name"], "push");
        assert_eq!(body["dependencies"][0]["seen"], 1);
        assert_eq!(body["dependencies"][0]["passed"], 0);
        assert_eq!(body["dependencies"][0]["recent"][0]["eventId"], "e1");
        assert_eq!(body["dependencies"][0]["recent"][0]["passed"], false);
        assert_eq!(body["triggers"][1]["name"], "notify");
        let decoded: Decisions = serde_json::from_value(body).unwrap();
        assert_eq!(decoded, recorder.snapshot());

        // Before the bus is connected: every subscription says so.
        let (status, body) = get_json(router(diagnostics.clone()), BUS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        let report: BusReport = serde_json::from_value(body).unwrap();
        assert_eq!(report.subscriptions.len(), 3);
        assert!(report.subscriptions.iter().all(|s| s.error.is_some()));

        // Connected: live figures. build/push exists and has one delivery unacked.
        let bus = MemoryBus::new();
        let subs = crate::sensor::subscriptions(&sensor());
        let mut consumer = bus.subscribe(&subs[0]).await.unwrap();
        bus.publish(&ev("e1", "push")).await.unwrap();
        bus.publish(&ev("e2", "push")).await.unwrap();
        let got = consumer
            .fetch(1, std::time::Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        diagnostics.set_bus(Arc::new(bus));
        let (_, body) = get_json(router(diagnostics), BUS_PATH).await;
        assert_eq!(body["sensor"], "ns/s");
        let first = &body["subscriptions"][0];
        assert_eq!(first["trigger"], "build");
        assert_eq!(first["dependency"], "push");
        assert_eq!(first["subject"], "default.webhook.push");
        assert_eq!(first["messages"], 2);
        assert_eq!(
            first["consumer"],
            naming::durable_name("s", "build", "push")
        );
        assert_eq!(first["state"]["ackPending"], 1);
        assert_eq!(first["error"], Value::Null);
        let report: BusReport = serde_json::from_value(body).unwrap();
        assert_eq!(
            report.subscriptions[0].state,
            Some(ConsumerState {
                pending: 1,
                ack_pending: 1,
                redelivered: 0,
                delivered_stream_seq: 1,
                ack_floor_stream_seq: 0,
            })
        );
        // notify/tag was never subscribed: no consumer, no error.
        assert_eq!(report.subscriptions[2].state, None);
        assert_eq!(report.subscriptions[2].messages, Some(0));
        assert_eq!(report.subscriptions[2].error, None);
    }

    #[tokio::test]
    async fn the_eventsource_admin_router_does_not_route_them() {
        let metrics = crate::metrics::EventSourceMetrics::new("ns", "es", &["push"]);
        let es_router = admin_router(metrics.registry(), Arc::new(AtomicBool::new(true)));
        for path in [DECISIONS_PATH, BUS_PATH] {
            let (status, _) = get_json(es_router.clone(), path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
