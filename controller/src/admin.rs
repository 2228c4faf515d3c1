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

/// Reconcile metrics, by kind.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabel, Counter>,
    errors: Family<KindLabel, Counter>,
    duration: Family<KindLabel, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers `argo_events_controller_reconciles_total`, `…_reconcile_errors_total` and
    /// `…_reconcile_duration_seconds`, and `argo_events_build_info` (outside the prefix).
    pub fn new() -> Self {
        let mut root = Registry::default();
        argo_events_buildinfo::register_build_info(&mut root, BINARY);
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
        }
        Metrics {
            registry: root,
            reconciles,
            errors,
            duration,
        }
    }

    /// Records one reconcile of `kind` that took `elapsed` and failed when `failed`.
    pub fn observe(&self, kind: &str, elapsed: Duration, failed: bool) {
        let label = KindLabel {
            kind: kind.to_owned(),
        };
        self.reconciles.get_or_create(&label).inc();
        if failed {
            self.errors.get_or_create(&label).inc();
        }
        self.duration
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
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
        m.observe("Sensor", Duration::from_millis(3), false);
        m.observe("Sensor", Duration::from_millis(3), true);
        assert_eq!((m.reconciles("Sensor"), m.errors("Sensor")), (2, 1));
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
        assert!(text.contains("argo_events_controller_reconciles_total{kind=\"Sensor\"} 2"));
        assert!(text.contains("argo_events_controller_reconcile_errors_total{kind=\"Sensor\"} 1"));
        assert!(text.contains(
            "argo_events_controller_reconcile_duration_seconds_count{kind=\"Sensor\"} 2"
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
