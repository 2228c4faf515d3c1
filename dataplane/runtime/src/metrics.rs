//! Prometheus metrics with upstream's names and labels (reference §10), and the admin HTTP
//! server (`/metrics`, `/health`, `/live`, `/ready`; Sensor pods add `/decisions`, `/bus`,
//! `/bus/messages` and `/replay`, [`crate::diagnostics`]; EventSource pods `/publish`,
//! [`crate::publish`]).
//!
//! Every metric carries the const label `namespace`, `argo_events_build_info` (the build, as
//! every binary of the project reports it) included. Upstream's two summaries
//! (`…_duration_milliseconds`) are histograms here, because `prometheus-client` has no summary
//! type: same name, `_bucket`/`_sum`/`_count` series instead of quantiles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use argo_events_api::cloudevent::Event;
use argo_events_eventsource::Observer;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

/// Labels `{sensor_name, trigger_name}` or `{eventsource_name, event_name}`.
type PairLabels = [(&'static str, String); 2];
/// Labels `{eventsource_name}`.
type SourceLabels = [(&'static str, String); 1];
type HistogramFamily = Family<PairLabels, Histogram, fn() -> Histogram>;

/// Duration buckets in milliseconds: 1 ms to about 65 s, doubling.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 17))
}

/// The gauge saying whether this replica is active: `argo_events_leader` (not upstream's).
pub const LEADER_GAUGE: &str = "argo_events_leader";
const LEADER_HELP: &str =
    "1 while this replica is the elected leader (or runs without election), 0 while it stands by";

/// The binary's name, as `version` and `argo_events_build_info` report it.
pub const BINARY: &str = "argo-events";

fn registry_for(namespace: &str) -> Registry {
    let mut registry = Registry::with_labels(std::iter::once((
        "namespace".into(),
        namespace.to_owned().into(),
    )));
    argo_events_buildinfo::register_build_info(&mut registry, BINARY);
    registry
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The Sensor pod's metrics.
pub struct SensorMetrics {
    registry: Arc<Registry>,
    sensor: String,
    triggered: Family<PairLabels, Counter>,
    failed: Family<PairLabels, Counter>,
    retries_failed: Family<PairLabels, Counter>,
    duration: HistogramFamily,
    leader: Family<SourceLabels, Gauge>,
}

impl SensorMetrics {
    /// Registers the Sensor metrics for `sensor` in `namespace`, with the three counters of
    /// every trigger at 0 (as upstream pre-initialises them) and an empty duration histogram.
    pub fn new(namespace: &str, sensor: &str, triggers: &[&str]) -> Self {
        let mut registry = registry_for(namespace);
        let triggered = Family::<PairLabels, Counter>::default();
        let failed = Family::<PairLabels, Counter>::default();
        let retries_failed = Family::<PairLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let leader = Family::<SourceLabels, Gauge>::default();
        // Counters get `_total` appended by the encoder.
        registry.register(
            "argo_events_action_triggered",
            "How many actions have been triggered successfully",
            triggered.clone(),
        );
        registry.register(
            "argo_events_action_failed",
            "How many actions failed",
            failed.clone(),
        );
        registry.register(
            "argo_events_action_retries_failed",
            "How many actions failed after the retries have been exhausted",
            retries_failed.clone(),
        );
        registry.register(
            "argo_events_action_duration_milliseconds",
            "Durations of triggering actions (a histogram; upstream's is a summary)",
            duration.clone(),
        );
        registry.register(LEADER_GAUGE, LEADER_HELP, leader.clone());
        let metrics = SensorMetrics {
            registry: Arc::new(registry),
            sensor: sensor.to_owned(),
            triggered,
            failed,
            retries_failed,
            duration,
            leader,
        };
        let _ = metrics.leader.get_or_create(&metrics.sensor_labels());
        for trigger in triggers {
            let labels = metrics.labels(trigger);
            let _ = metrics.triggered.get_or_create(&labels);
            let _ = metrics.failed.get_or_create(&labels);
            let _ = metrics.retries_failed.get_or_create(&labels);
            let _ = metrics.duration.get_or_create(&labels);
        }
        metrics
    }

    fn sensor_labels(&self) -> SourceLabels {
        [("sensor_name", self.sensor.clone())]
    }

    /// This replica leads (1) or stands by (0).
    pub fn set_leader(&self, leading: bool) {
        self.leader
            .get_or_create(&self.sensor_labels())
            .set(i64::from(leading));
    }

    fn labels(&self, trigger: &str) -> PairLabels {
        [
            ("sensor_name", self.sensor.clone()),
            ("trigger_name", trigger.to_owned()),
        ]
    }

    /// The registry to serve.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// A trigger ran successfully.
    pub fn action_triggered(&self, trigger: &str) {
        self.triggered.get_or_create(&self.labels(trigger)).inc();
    }

    /// A trigger attempt failed.
    pub fn action_failed(&self, trigger: &str) {
        self.failed.get_or_create(&self.labels(trigger)).inc();
    }

    /// A trigger failed after its `retryStrategy` was exhausted.
    pub fn action_retries_failed(&self, trigger: &str) {
        self.retries_failed
            .get_or_create(&self.labels(trigger))
            .inc();
    }

    /// How long a trigger took.
    pub fn action_duration(&self, trigger: &str, duration: Duration) {
        self.duration
            .get_or_create(&self.labels(trigger))
            .observe(millis(duration));
    }
}

/// The EventSource pod's metrics; also the adapters' [`Observer`].
pub struct EventSourceMetrics {
    registry: Arc<Registry>,
    event_source: String,
    running: Family<SourceLabels, Gauge>,
    sent: Family<PairLabels, Counter>,
    sent_failed: Family<PairLabels, Counter>,
    processing_failed: Family<PairLabels, Counter>,
    processing_duration: HistogramFamily,
    leader: Family<SourceLabels, Gauge>,
}

impl EventSourceMetrics {
    /// Registers the EventSource metrics for `event_source` in `namespace`; the counters
    /// (and an empty duration histogram) of each name in `events` start at 0, as does the
    /// running gauge.
    pub fn new(namespace: &str, event_source: &str, events: &[&str]) -> Self {
        let mut registry = registry_for(namespace);
        let running = Family::<SourceLabels, Gauge>::default();
        let sent = Family::<PairLabels, Counter>::default();
        let sent_failed = Family::<PairLabels, Counter>::default();
        let processing_failed = Family::<PairLabels, Counter>::default();
        let processing_duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        let leader = Family::<SourceLabels, Gauge>::default();
        // A gauge keeps its name as given (upstream's ends in `_total`).
        registry.register(
            "argo_events_event_service_running_total",
            "How many configured events in the EventSource object are actively running",
            running.clone(),
        );
        registry.register(
            "argo_events_events_sent",
            "How many events have been sent successfully",
            sent.clone(),
        );
        registry.register(
            "argo_events_events_sent_failed",
            "How many events failed to send to EventBus",
            sent_failed.clone(),
        );
        registry.register(
            "argo_events_events_processing_failed",
            "Number of events failed to process, it includes argo_events_events_sent_failed_total",
            processing_failed.clone(),
        );
        registry.register(
            "argo_events_event_processing_duration_milliseconds",
            "Durations of event processing (a histogram; upstream's is a summary)",
            processing_duration.clone(),
        );
        registry.register(LEADER_GAUGE, LEADER_HELP, leader.clone());
        let metrics = EventSourceMetrics {
            registry: Arc::new(registry),
            event_source: event_source.to_owned(),
            running,
            sent,
            sent_failed,
            processing_failed,
            processing_duration,
            leader,
        };
        let _ = metrics.running.get_or_create(&metrics.source_labels());
        let _ = metrics.leader.get_or_create(&metrics.source_labels());
        for event in events {
            let labels = metrics.labels(event);
            let _ = metrics.sent.get_or_create(&labels);
            let _ = metrics.sent_failed.get_or_create(&labels);
            let _ = metrics.processing_failed.get_or_create(&labels);
            let _ = metrics.processing_duration.get_or_create(&labels);
        }
        metrics
    }

    fn source_labels(&self) -> SourceLabels {
        [("eventsource_name", self.event_source.clone())]
    }

    fn labels(&self, event: &str) -> PairLabels {
        [
            ("eventsource_name", self.event_source.clone()),
            ("event_name", event.to_owned()),
        ]
    }

    /// The registry to serve.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// This replica leads (1) or stands by (0); 1 when every replica runs (no election).
    pub fn set_leader(&self, leading: bool) {
        self.leader
            .get_or_create(&self.source_labels())
            .set(i64::from(leading));
    }

    /// One more event service (listener) is running.
    pub fn service_started(&self) {
        self.running.get_or_create(&self.source_labels()).inc();
    }

    /// One event service stopped.
    pub fn service_stopped(&self) {
        self.running.get_or_create(&self.source_labels()).dec();
    }

    /// How long handling one event took (receipt to bus answer).
    pub fn event_processing_duration(&self, event_name: &str, duration: Duration) {
        self.processing_duration
            .get_or_create(&self.labels(event_name))
            .observe(millis(duration));
    }
}

impl Observer for EventSourceMetrics {
    fn published(&self, event: &Event) {
        self.sent.get_or_create(&self.labels(&event.subject)).inc();
    }

    /// A failed publish is also a failed processing, as upstream counts it.
    fn publish_failed(&self, event_name: &str, _error: &str) {
        let labels = self.labels(event_name);
        self.sent_failed.get_or_create(&labels).inc();
        self.processing_failed.get_or_create(&labels).inc();
    }

    fn rejected(&self, event_name: &str, _reason: &str) {
        self.processing_failed
            .get_or_create(&self.labels(event_name))
            .inc();
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
}

/// The admin routes: `/metrics` (OpenMetrics text), `/health` and `/live` (200 `OK`), `/ready`
/// (503 until `ready` is set).
pub fn admin_router(registry: Arc<Registry>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/health", get(|| async { "OK" }))
        .route("/live", get(|| async { "OK" }))
        .route("/ready", get(ready_handler))
        .with_state(AdminState { registry, ready })
}

/// Serves [`admin_router`] on `addr` until `shutdown` is cancelled (EventSource pods).
pub async fn serve_admin(
    addr: SocketAddr,
    registry: Arc<Registry>,
    ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> Result<(), std::io::Error> {
    serve_router(addr, admin_router(registry, ready), shutdown).await
}

/// Serves `router` on `addr` until `shutdown` is cancelled: [`admin_router`] with more routes
/// (Sensor pods add [`crate::diagnostics::diagnostics_router`], EventSource pods
/// [`crate::publish::publish_router`]).
pub async fn serve_router(
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(address = %listener.local_addr()?, "admin server listening");
    argo_events_httpserve::serve(
        "admin",
        listener,
        router,
        &argo_events_httpserve::Limits::from_env(),
        shutdown.cancelled_owned(),
    )
    .await;
    Ok(())
}

async fn metrics_handler(State(state): State<AdminState>) -> axum::response::Response {
    let mut text = String::new();
    match encode(&mut text, &state.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}"),
        )
            .into_response(),
    }
}

async fn ready_handler(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn sensor_metrics_use_upstream_names_and_start_at_zero() {
        let m = SensorMetrics::new("argo-events", "webhook", &["build", "notify"]);
        let out = text(&m.registry());
        for name in [
            "argo_events_action_triggered_total",
            "argo_events_action_failed_total",
            "argo_events_action_retries_failed_total",
        ] {
            for trigger in ["build", "notify"] {
                let line = format!(
                    "{name}{{namespace=\"argo-events\",sensor_name=\"webhook\",trigger_name=\"{trigger}\"}} 0"
                );
                assert!(out.contains(&line), "missing {line:?} in\n{out}");
            }
        }
        assert!(out.contains("# TYPE argo_events_action_duration_milliseconds histogram"));

        m.action_triggered("build");
        m.action_triggered("build");
        m.action_failed("notify");
        m.action_retries_failed("notify");
        m.action_duration("build", Duration::from_millis(12));
        let out = text(&m.registry());
        assert!(out.contains(
            "argo_events_action_triggered_total{namespace=\"argo-events\",sensor_name=\"webhook\",trigger_name=\"build\"} 2"
        ));
        assert!(out.contains(
            "argo_events_action_failed_total{namespace=\"argo-events\",sensor_name=\"webhook\",trigger_name=\"notify\"} 1"
        ));
        assert!(out.contains(
            "argo_events_action_retries_failed_total{namespace=\"argo-events\",sensor_name=\"webhook\",trigger_name=\"notify\"} 1"
        ));
        assert!(out.contains(
            "argo_events_action_duration_milliseconds_count{namespace=\"argo-events\",sensor_name=\"webhook\",trigger_name=\"build\"} 1"
        ));
        assert!(out.contains(
            "argo_events_action_duration_milliseconds_sum{namespace=\"argo-events\",sensor_name=\"webhook\",trigger_name=\"build\"} 12"
        ));
    }

    #[test]
    fn the_leader_gauge_starts_at_zero_and_follows_the_election() {
        let s = SensorMetrics::new("ns", "pair", &["log"]);
        let e = EventSourceMetrics::new("ns", "cal", &["tick"]);
        let sensor_line =
            |v: u8| format!("argo_events_leader{{namespace=\"ns\",sensor_name=\"pair\"}} {v}");
        let source_line =
            |v: u8| format!("argo_events_leader{{namespace=\"ns\",eventsource_name=\"cal\"}} {v}");
        assert!(text(&s.registry()).contains(&sensor_line(0)));
        assert!(text(&e.registry()).contains(&source_line(0)));
        s.set_leader(true);
        e.set_leader(true);
        assert!(text(&s.registry()).contains(&sensor_line(1)));
        assert!(text(&e.registry()).contains(&source_line(1)));
        s.set_leader(false);
        assert!(text(&s.registry()).contains(&sensor_line(0)));
    }

    #[test]
    fn eventsource_metrics_count_what_the_observer_sees() {
        let m = EventSourceMetrics::new("ns", "webhook", &["push"]);
        let out = text(&m.registry());
        for name in [
            "argo_events_events_sent_total",
            "argo_events_events_sent_failed_total",
            "argo_events_events_processing_failed_total",
        ] {
            let line = format!(
                "{name}{{namespace=\"ns\",eventsource_name=\"webhook\",event_name=\"push\"}} 0"
            );
            assert!(out.contains(&line), "missing {line:?} in\n{out}");
        }
        assert!(out.contains(
            "argo_events_event_service_running_total{namespace=\"ns\",eventsource_name=\"webhook\"} 0"
        ));

        m.service_started();
        m.service_started();
        m.service_stopped();
        let event = Event {
            id: "1".into(),
            source: "webhook".into(),
            specversion: "1.0".into(),
            type_: "webhook".into(),
            datacontenttype: "application/json".into(),
            subject: "push".into(),
            time: None,
            trace: Default::default(),
            data: b"{}".to_vec(),
        };
        m.published(&event);
        m.publish_failed("push", "bus down");
        m.rejected("push", "bad signature");
        m.event_processing_duration("push", Duration::from_millis(3));
        let out = text(&m.registry());
        let cases = [
            ("argo_events_events_sent_total", "1"),
            ("argo_events_events_sent_failed_total", "1"),
            ("argo_events_events_processing_failed_total", "2"),
            (
                "argo_events_event_processing_duration_milliseconds_count",
                "1",
            ),
        ];
        for (name, value) in cases {
            let line = format!(
                "{name}{{namespace=\"ns\",eventsource_name=\"webhook\",event_name=\"push\"}} {value}"
            );
            assert!(out.contains(&line), "missing {line:?} in\n{out}");
        }
        assert!(out.contains(
            "argo_events_event_service_running_total{namespace=\"ns\",eventsource_name=\"webhook\"} 1"
        ));
    }

    #[tokio::test]
    async fn admin_server_serves_metrics_health_and_readiness() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let metrics = SensorMetrics::new("ns", "s", &["t"]);
        let ready = Arc::new(AtomicBool::new(false));
        let shutdown = CancellationToken::new();
        // Pick a free port, then serve on it.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let server = tokio::spawn(serve_admin(
            addr,
            metrics.registry(),
            ready.clone(),
            shutdown.clone(),
        ));
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");
        let get = |path: &'static str| {
            let client = client.clone();
            let url = format!("{base}{path}");
            async move {
                for _ in 0..100 {
                    if let Ok(r) = client.get(&url).send().await {
                        let status = r.status().as_u16();
                        let ctype = r
                            .headers()
                            .get("content-type")
                            .map(|v| v.to_str().unwrap().to_owned());
                        return (status, ctype, r.text().await.unwrap());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                panic!("admin server never answered {url}");
            }
        };
        let (status, ctype, body) = get("/metrics").await;
        assert_eq!(status, 200);
        assert!(ctype.unwrap().starts_with("application/openmetrics-text"));
        assert!(body.contains("argo_events_action_triggered_total{namespace=\"ns\",sensor_name=\"s\",trigger_name=\"t\"} 0"));
        let build = argo_events_buildinfo::BuildInfo::of(BINARY);
        let build_info = format!(
            "argo_events_build_info{{namespace=\"ns\",version=\"{}\",commit=\"{}\",rustc=\"{}\",binary=\"argo-events\"}} 1\n",
            build.version,
            build.git_commit,
            build.rustc_release()
        );
        assert!(body.contains(&build_info), "{build_info} not in\n{body}");
        assert!(body.ends_with("# EOF\n"));
        assert_eq!(get("/health").await.0, 200);
        assert_eq!(get("/health").await.2, "OK");
        assert_eq!(get("/live").await.0, 200);
        assert_eq!(get("/ready").await.0, 503);
        ready.store(true, Ordering::Release);
        assert_eq!(get("/ready").await.0, 200);

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("server stops on shutdown")
            .unwrap()
            .unwrap();
    }
}
