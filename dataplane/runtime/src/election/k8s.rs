//! The Kubernetes elector (`LEADER_ELECTION=k8s`, or a Kafka bus): a `coordination.k8s.io/v1`
//! Lease `sensor-<name>` / `eventsource-<name>` in the object's namespace, held through
//! kube-lease-manager (server-side apply, so two holders cannot both win).
//!
//! kube-lease-manager counts in whole seconds and renews a fixed `grace` before expiry; upstream's
//! three durations map onto it by [`lease_params`]. It has no renew deadline of its own: any
//! failure to renew ends leadership at once (the process exits and the pod restarts, as upstream
//! does after its renew deadline).

use std::time::Duration;

use async_trait::async_trait;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};
use tokio_util::sync::CancellationToken;

use super::{ElectionError, Elector, Hold, Timings};

/// kube-lease-manager's `(duration, grace)` in seconds for upstream's durations: the Lease
/// lasts the lease duration (rounded up, at least 2 s), and the holder renews one retry period
/// after its last renewal (`grace = duration - retry`, kept within `1..duration`).
pub fn lease_params(timings: Timings) -> (u64, u64) {
    let ceil = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let duration = ceil(timings.lease_duration).max(2);
    let grace = duration
        .saturating_sub(ceil(timings.retry_period))
        .clamp(1, duration - 1);
    (duration, grace)
}

/// The server-side apply field manager of a replica: `argo-events-<identity>` (stable across
/// restarts of the same pod, unlike kube-lease-manager's default, which follows its random
/// default identity).
pub fn field_manager(identity: &str) -> String {
    format!("argo-events-{identity}")
}

/// Elects through a Kubernetes Lease.
pub struct LeaseElector {
    client: kube::Client,
    namespace: String,
    lease_name: String,
    identity: String,
    timings: Timings,
    manager: Option<LeaseManager>,
}

impl LeaseElector {
    /// An elector for Lease `lease_name` in `namespace`; talks to the API on first use.
    pub fn new(
        client: kube::Client,
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
            let manager = LeaseManagerBuilder::new(self.client.clone(), &self.lease_name)
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
        let describe = self.describe();
        let Some(manager) = &self.manager else {
            return Hold::Lost("the Lease was never acquired".into());
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    match manager.release().await {
                        Ok(()) => tracing::info!(lock = %describe, "released the Lease"),
                        Err(e) => tracing::warn!(lock = %describe, error = %e, "releasing the Lease failed; it expires by itself"),
                    }
                    return Hold::Released;
                }
                changed = manager.changed() => match changed {
                    Ok(true) => {}
                    Ok(false) => return Hold::Lost(format!("{describe} is held by another replica")),
                    Err(e) => return Hold::Lost(format!("renewing {describe} failed: {e}")),
                },
            }
        }
    }
}
