//! The controller's plain-HTTP admin endpoints: Prometheus metrics (`/metrics` on the metrics
//! port) and health (`/live` = `/healthz`, `/ready` = `/readyz` on the health port).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The binary's name, as `version` and `argo_events_build_info` report it.
pub const BINARY: &str = "argo-events-controller";

/// The `kind` label of the controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `EventBus`, `EventSource` or `Sensor`.
    pub kind: String,
}

/// The `controller` label of controller-runtime's metrics: upstream's controller names.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabel {
    /// `eventbus-controller`, `eventsource-controller` or `sensor-controller`.
    pub controller: String,
}

/// `controller` and `result` of `controller_runtime_reconcile_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// The controller's name.
    pub controller: String,
    /// `success`, `error`, `requeue` or `requeue_after`.
    pub result: String,
}

/// How a reconcile ended, as controller-runtime's `result` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; wait for the next change.
    Success,
    /// Done; look again after a delay.
    RequeueAfter,
    /// Failed (transient: backs off and retries).
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::RequeueAfter => "requeue_after",
            Outcome::Error => "error",
        }
    }
}

/// Upstream's controller name for a kind (its controller-runtime controllers' names).
pub fn controller_name(kind: &str) -> String {
    format!("{}-controller", kind.to_ascii_lowercase())
}

/// controller-runtime's reconcile-time buckets (seconds), as upstream's controller reports them.
const RECONCILE_TIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
];

/// Reconcile metrics: ours by kind, and controller-runtime's by controller name (the ones
/// upstream's controller exports, so its dashboards and alerts keep working).
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabel, Counter>,
    errors: Family<KindLabel, Counter>,
    duration: Family<KindLabel, Histogram>,
    runtime_total: Family<ResultLabel, Counter>,
    runtime_errors: Family<ControllerLabel, Counter>,
    runtime_time: Family<ControllerLabel, Histogram>,
    /// Kept with the registry it is registered in (set once, never changed).
    _runtime_workers: Family<ControllerLabel, Gauge>,
    runtime_active: Family<ControllerLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers `argo_events_controller_reconciles_total`, `…_reconcile_errors_total` and
    /// `…_reconcile_duration_seconds`; controller-runtime's `controller_runtime_reconcile_total`
    /// `{controller,result}`, `…_reconcile_errors_total`, `…_reconcile_time_seconds`,
    /// `…_max_concurrent_reconciles` (set to `concurrency`) and `…_active_workers`
    /// `{controller}`; and `argo_events_build_info`.
    pub fn new() -> Self {
        Self::with_concurrency(crate::run::RECONCILE_CONCURRENCY)
    }

    /// As [`Metrics::new`], reporting `concurrency` as each controller's maximum.
    pub fn with_concurrency(concurrency: u16) -> Self {
        let mut root = Registry::default();
        argo_events_buildinfo::register_build_info(&mut root, BINARY);
        let runtime_total = Family::<ResultLabel, Counter>::default();
        let runtime_errors = Family::<ControllerLabel, Counter>::default();
        let runtime_time = Family::<ControllerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(RECONCILE_TIME_BUCKETS)
        });
        let runtime_workers = Family::<ControllerLabel, Gauge>::default();
        let runtime_active = Family::<ControllerLabel, Gauge>::default();
        root.register(
            "controller_runtime_reconcile",
            "Total number of reconciliations per controller",
            runtime_total.clone(),
        );
        root.register(
            "controller_runtime_reconcile_errors",
            "Total number of reconciliation errors per controller",
            runtime_errors.clone(),
        );
        root.register(
            "controller_runtime_reconcile_time_seconds",
            "Length of time per reconciliation per controller",
            runtime_time.clone(),
        );
        root.register(
            "controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller",
            runtime_workers.clone(),
        );
        root.register(
            "controller_runtime_active_workers",
            "Number of currently used workers per controller",
            runtime_active.clone(),
        );
        let registry = root.sub_registry_with_prefix("argo_events_controller");
        let reconciles = Family::<KindLabel, Counter>::default();
        let errors = Family::<KindLabel, Counter>::default();
        let duration = Family::<KindLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register("reconciles", "Reconciles run, by kind", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Reconciles that failed with a transient error, by kind",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciles, by kind",
            duration.clone(),
        );
        // Every kind shows from the start, at zero.
        for kind in ["EventBus", "EventSource", "Sensor"] {
            let label = KindLabel {
                kind: kind.to_owned(),
            };
            let _ = reconciles.get_or_create(&label);
            let _ = errors.get_or_create(&label);
            let _ = duration.get_or_create(&label);
            let controller = ControllerLabel {
                controller: controller_name(kind),
            };
            let _ = runtime_errors.get_or_create(&controller);
            let _ = runtime_time.get_or_create(&controller);
            let _ = runtime_active.get_or_create(&controller);
            runtime_workers
                .get_or_create(&controller)
                .set(i64::from(concurrency));
            for outcome in [Outcome::Success, Outcome::RequeueAfter, Outcome::Error] {
                let _ = runtime_total.get_or_create(&ResultLabel {
                    controller: controller.controller.clone(),
                    result: outcome.label().to_owned(),
                });
            }
        }
        Metrics {
            registry: root,
            reconciles,
            errors,
            duration,
            runtime_total,
            runtime_errors,
            runtime_time,
            _runtime_workers: runtime_workers,
            runtime_active,
        }
    }

    /// A reconcile of `kind` starts (controller-runtime's active workers); [`Metrics::observe`]
    /// ends it.
    pub fn started(&self, kind: &str) {
        self.runtime_active
            .get_or_create(&ControllerLabel {
                controller: controller_name(kind),
            })
            .inc();
    }

    /// Records one reconcile of `kind` that took `elapsed` and ended as `outcome`.
    pub fn observe(&self, kind: &str, elapsed: Duration, outcome: Outcome) {
        let label = KindLabel {
            kind: kind.to_owned(),
        };
        self.reconciles.get_or_create(&label).inc();
        let controller = ControllerLabel {
            controller: controller_name(kind),
        };
        if outcome == Outcome::Error {
            self.errors.get_or_create(&label).inc();
            self.runtime_errors.get_or_create(&controller).inc();
        }
        self.duration
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
        self.runtime_time
            .get_or_create(&controller)
            .observe(elapsed.as_secs_f64());
        self.runtime_total
            .get_or_create(&ResultLabel {
                controller: controller.controller.clone(),
                result: outcome.label().to_owned(),
            })
            .inc();
        self.runtime_active.get_or_create(&controller).dec();
    }

    /// Reconciles of `kind` so far.
    pub fn reconciles(&self, kind: &str) -> u64 {
        self.reconciles
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .get()
    }

    /// Failed reconciles of `kind` so far.
    pub fn errors(&self, kind: &str) -> u64 {
        self.errors
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .get()
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Liveness and readiness flags.
#[derive(Debug)]
pub struct Health {
    /// Cleared when the process should be restarted.
    pub live: AtomicBool,
    /// Set once the caches are synced (leader) or while standing by (not leader).
    pub ready: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            live: AtomicBool::new(true),
            ready: AtomicBool::new(false),
        }
    }
}

async fn metrics(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

fn flag(ok: bool) -> (StatusCode, &'static str) {
    if ok {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// The `/metrics` router.
pub fn metrics_router(m: Arc<Metrics>) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(m)
}

async fn live(State(h): State<Arc<Health>>) -> (StatusCode, &'static str) {
    flag(h.live.load(Ordering::Relaxed))
}

async fn ready(State(h): State<Arc<Health>>) -> (StatusCode, &'static str) {
    flag(h.ready.load(Ordering::Relaxed))
}

/// The health router: liveness on `/live` and upstream's `/healthz`, readiness on `/ready` and
/// upstream's `/readyz`.
pub fn health_router(h: Arc<Health>) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/healthz", get(live))
        .route("/ready", get(ready))
        .route("/readyz", get(ready))
        .with_state(h)
}

/// Serves `router` on `0.0.0.0:port` until the process ends.
pub async fn serve(port: u16, router: Router, what: &'static str) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding the {what} port {addr}: {e}"))?;
    tracing::info!(%addr, what, "listening");
    argo_events_httpserve::serve(
        what,
        listener,
        router,
        &argo_events_httpserve::Limits::from_env(),
        std::future::pending(),
    )
    .await;
    anyhow::bail!("serving {what} on {addr} ended")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn endpoints() {
        let m = Arc::new(Metrics::new());
        for outcome in [Outcome::Success, Outcome::Error, Outcome::RequeueAfter] {
            m.started("Sensor");
            m.observe("Sensor", Duration::from_millis(3), outcome);
        }
        // One still running.
        m.started("EventBus");
        assert_eq!((m.reconciles("Sensor"), m.errors("Sensor")), (3, 1));
        let resp = metrics_router(m)
            .oneshot(
                http::Request::get("/metrics")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("argo_events_controller_reconciles_total{kind=\"Sensor\"} 3"));
        // controller-runtime's names and labels, as upstream's controller exports them.
        for line in [
            "controller_runtime_reconcile_total{controller=\"sensor-controller\",result=\"success\"} 1",
            "controller_runtime_reconcile_total{controller=\"sensor-controller\",result=\"error\"} 1",
            "controller_runtime_reconcile_total{controller=\"sensor-controller\",result=\"requeue_after\"} 1",
            "controller_runtime_reconcile_total{controller=\"eventbus-controller\",result=\"success\"} 0",
            "controller_runtime_reconcile_errors_total{controller=\"sensor-controller\"} 1",
            "controller_runtime_reconcile_time_seconds_count{controller=\"sensor-controller\"} 3",
            "controller_runtime_reconcile_time_seconds_bucket{le=\"0.005\",controller=\"sensor-controller\"} 3",
            "controller_runtime_max_concurrent_reconciles{controller=\"eventsource-controller\"} 16",
            "controller_runtime_active_workers{controller=\"sensor-controller\"} 0",
            "controller_runtime_active_workers{controller=\"eventbus-controller\"} 1",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.contains("argo_events_controller_reconcile_errors_total{kind=\"Sensor\"} 1"));
        assert!(text.contains(
            "argo_events_controller_reconcile_duration_seconds_count{kind=\"Sensor\"} 3"
        ));
        assert!(text.contains("argo_events_controller_reconciles_total{kind=\"EventBus\"} 0"));
        let build = argo_events_buildinfo::BuildInfo::of(BINARY);
        assert!(
            text.contains(&format!(
                "argo_events_build_info{{version=\"{}\",commit=\"{}\",rustc=\"{}\",binary=\"argo-events-controller\"}} 1\n",
                build.version,
                build.git_commit,
                build.rustc_release()
            )),
            "{text}"
        );

        let h = Arc::new(Health::default());
        for (path, ready, want) in [
            ("/live", false, 200),
            ("/healthz", false, 200),
            ("/ready", false, 503),
            ("/readyz", false, 503),
            ("/ready", true, 200),
            ("/readyz", true, 200),
        ] {
            h.ready.store(ready, Ordering::Relaxed);
            let resp = health_router(h.clone())
                .oneshot(
                    http::Request::get(path)
                        .body(axum::body::Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), want, "{path} ready={ready}");
        }
    }
}
