//! The Kubernetes elector (`LEADER_ELECTION=k8s`, or a Kafka bus): a `coordination.k8s.io/v1`
//! Lease `sensor-<name>` / `eventsource-<name>` in the object's namespace, held through
//! kube-lease-manager (server-side apply, so two holders cannot both win).
//!
//! kube-lease-manager counts in whole seconds and renews a fixed `grace` before expiry; upstream's
//! three durations map onto it by [`lease_params`]. It has no renew deadline of its own, so this
//! elector keeps one: every successful apply of the Lease is timed by the client
//! ([`LeaseClient`] records the start of each successful `PATCH`), and leadership is lost
//! exactly when no renew succeeded for the renew deadline ([`super::renew_window`]), or at once
//! when kube-lease-manager reports an error or another holder. Each API call is bounded by the
//! retry period ([`call_timeout`]), so a hung renew cannot go unnoticed. A Lease deleted while
//! waiting is created again: a failed attempt drops the manager, whose rebuild recreates it.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use http::{Method, Request, Response};
use kube::client::Body;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};
use tokio_util::sync::CancellationToken;

use super::{ElectionError, Elector, Hold, Timings, renew_window};

/// The read, write and connect timeout of the Lease client: the retry period, so a hung call
/// fails well before the renew deadline (which is longer than the retry period).
pub fn call_timeout(timings: Timings) -> Duration {
    timings.retry_period
}

/// When the last successful write of the Lease started (shared with the client's service).
#[derive(Debug, Clone, Default)]
pub struct Renewals(Arc<Mutex<Option<Instant>>>);

impl Renewals {
    /// The start of the last successful write, if any.
    pub fn last(&self) -> Option<Instant> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, started: Instant) {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|l| l < started) {
            *last = Some(started);
        }
    }
}

/// A service that records in [`Renewals`] the start of every `PATCH` answered with success
/// (kube-lease-manager acquires and renews by server-side apply, which is a `PATCH`).
#[derive(Clone)]
pub struct RecordRenewals<S> {
    inner: S,
    renewals: Renewals,
}

impl<S, B> tower::Service<Request<Body>> for RecordRenewals<S>
where
    S: tower::Service<Request<Body>, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<B>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let patch = request.method() == Method::PATCH;
        let started = Instant::now();
        let renewals = self.renewals.clone();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            if patch && response.as_ref().is_ok_and(|r| r.status().is_success()) {
                renewals.record(started);
            }
            response
        })
    }
}

/// The layer adding [`RecordRenewals`].
#[derive(Clone)]
pub struct RecordRenewalsLayer(Renewals);

impl<S> tower::Layer<S> for RecordRenewalsLayer {
    type Service = RecordRenewals<S>;

    fn layer(&self, inner: S) -> RecordRenewals<S> {
        RecordRenewals {
            inner,
            renewals: self.0.clone(),
        }
    }
}

/// A kube client used only for the Lease, whose successful writes are timed.
#[derive(Clone)]
pub struct LeaseClient {
    client: kube::Client,
    renewals: Renewals,
}

impl LeaseClient {
    /// From a kube configuration: read, write and connect timeouts set to [`call_timeout`]
    /// (a hung renew fails instead of blocking), no client-side retries.
    pub fn from_config(
        mut config: kube::Config,
        timings: Timings,
    ) -> Result<LeaseClient, kube::Error> {
        let timeout = call_timeout(timings);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        config.connect_timeout = Some(timeout);
        config.default_retry = false;
        let renewals = Renewals::default();
        let client = kube::client::ClientBuilder::try_from(config)?
            .with_layer(&RecordRenewalsLayer(renewals.clone()))
            .build();
        Ok(LeaseClient { client, renewals })
    }

    /// Over any HTTP service (a mocked API server in tests).
    pub fn from_service<S>(service: S, default_namespace: &str) -> LeaseClient
    where
        S: tower::Service<Request<Body>, Response = Response<Body>> + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<tower::BoxError>,
    {
        let renewals = Renewals::default();
        let service = RecordRenewals {
            inner: service,
            renewals: renewals.clone(),
        };
        LeaseClient {
            client: kube::Client::new(service, default_namespace),
            renewals,
        }
    }

    /// The timing of successful writes.
    pub fn renewals(&self) -> &Renewals {
        &self.renewals
    }
}

/// kube-lease-manager's `(duration, grace)` in seconds for upstream's durations: the Lease
/// lasts the lease duration (rounded up, at least 2 s), and the holder renews every whole
/// number of seconds not above the retry period (at least 1 s): `grace = duration - interval`,
/// kept within `1..duration`.
pub fn lease_params(timings: Timings) -> (u64, u64) {
    let ceil = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let duration = ceil(timings.lease_duration).max(2);
    let interval = timings.retry_period.as_secs().max(1);
    let grace = duration.saturating_sub(interval).clamp(1, duration - 1);
    (duration, grace)
}

/// Refuses durations the Lease elector cannot keep: kube-lease-manager renews in whole seconds
/// (`duration - grace` of [`lease_params`]), and a renew interval not shorter than the renew
/// deadline would lose leadership at every renewal.
pub fn check_lease_timings(timings: Timings) -> Result<(), String> {
    let (duration, grace) = lease_params(timings);
    let interval = Duration::from_secs(duration - grace);
    if interval >= timings.renew_deadline {
        return Err(format!(
            "a Kubernetes Lease is renewed in whole seconds (every {interval:?} with these settings), so {} ({:?}) must be longer than that",
            super::LEADER_ELECTION_RENEW_DEADLINE,
            timings.renew_deadline
        ));
    }
    Ok(())
}

/// The server-side apply field manager of a replica: `argo-events-<identity>` (stable across
/// restarts of the same pod, unlike kube-lease-manager's default, which follows its random
/// default identity).
pub fn field_manager(identity: &str) -> String {
    format!("argo-events-{identity}")
}

/// Elects through a Kubernetes Lease.
pub struct LeaseElector {
    client: LeaseClient,
    namespace: String,
    lease_name: String,
    identity: String,
    timings: Timings,
    manager: Option<LeaseManager>,
}

impl LeaseElector {
    /// An elector for Lease `lease_name` in `namespace`; talks to the API on first use.
    pub fn new(
        client: LeaseClient,
        namespace: impl Into<String>,
        lease_name: impl Into<String>,
        identity: impl Into<String>,
        timings: Timings,
    ) -> LeaseElector {
        LeaseElector {
            client,
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            timings,
            manager: None,
        }
    }

    async fn manager(&mut self) -> Result<&LeaseManager, kube_lease_manager::LeaseManagerError> {
        if self.manager.is_none() {
            let (duration, grace) = lease_params(self.timings);
            let manager = LeaseManagerBuilder::new(self.client.client.clone(), &self.lease_name)
                .with_namespace(&self.namespace)
                .with_create_mode(LeaseCreateMode::AutoCreate)
                .with_identity(&self.identity)
                .with_field_manager(field_manager(&self.identity))
                .with_duration(duration)
                .with_grace(grace)
                .build()
                .await?;
            self.manager = Some(manager);
        }
        Ok(self
            .manager
            .as_ref()
            .expect("invariant: the manager was just set"))
    }
}

#[async_trait]
impl Elector for LeaseElector {
    fn describe(&self) -> String {
        format!("Lease {}/{}", self.namespace, self.lease_name)
    }

    fn identity(&self) -> &str {
        &self.identity
    }

    async fn acquire(&mut self, shutdown: &CancellationToken) -> Result<bool, ElectionError> {
        let retry = self.timings.retry_period;
        let describe = self.describe();
        check_lease_timings(self.timings).map_err(|reason| ElectionError::Setup {
            key: describe.clone(),
            reason,
        })?;
        loop {
            if shutdown.is_cancelled() {
                return Ok(false);
            }
            let result = match self.manager().await {
                Ok(manager) => tokio::select! {
                    _ = shutdown.cancelled() => return Ok(false),
                    changed = manager.changed() => changed,
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                Err(e) => {
                    // Rebuilt on the next attempt, which creates the Lease again if it was
                    // deleted (a built manager never does).
                    self.manager = None;
                    tracing::warn!(lock = %describe, error = %e, "Lease unavailable; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(false),
                        _ = tokio::time::sleep(retry) => {}
                    }
                }
            }
        }
    }

    async fn hold(&mut self, stop: &CancellationToken) -> Hold {
        enum Event {
            Stop,
            Changed(Result<bool, kube_lease_manager::LeaseManagerError>),
            Tick,
        }
        let describe = self.describe();
        let Some(manager) = &self.manager else {
            return Hold::Lost("the Lease was never acquired".into());
        };
        let renewals = self.client.renewals.clone();
        let mut changed = Box::pin(manager.changed());
        loop {
            let now = Instant::now();
            let Some(last) = renewals.last() else {
                return Hold::Lost(format!("no successful write of {describe} was seen"));
            };
            let Some((pause, _)) = renew_window(self.timings, last, now) else {
                return Hold::Lost(format!(
                    "could not renew {describe} for {:?} (renew deadline {:?})",
                    now.saturating_duration_since(last),
                    self.timings.renew_deadline
                ));
            };
            let event = tokio::select! {
                _ = stop.cancelled() => Event::Stop,
                result = &mut changed => Event::Changed(result),
                _ = tokio::time::sleep(pause) => Event::Tick,
            };
            match event {
                Event::Tick => {}
                Event::Changed(Ok(true)) => changed = Box::pin(manager.changed()),
                Event::Changed(Ok(false)) => {
                    return Hold::Lost(format!("{describe} is held by another replica"));
                }
                Event::Changed(Err(e)) => {
                    return Hold::Lost(format!("renewing {describe} failed: {e}"));
                }
                Event::Stop => {
                    drop(changed);
                    match manager.release().await {
                        Ok(()) => tracing::info!(lock = %describe, "released the Lease"),
                        Err(e) => {
                            tracing::warn!(lock = %describe, error = %e, "releasing the Lease failed; it expires by itself")
                        }
                    }
                    return Hold::Released;
                }
            }
        }
    }
}
