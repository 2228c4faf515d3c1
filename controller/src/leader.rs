//! Leader election with the Lease `argo-events-controller` (kube-lease-manager): a standby
//! waits (and reports ready); the leader runs the controllers; losing the lease ends the
//! process with an error so that Kubernetes restarts it as a standby.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tracing::{info, warn};

use crate::admin::Health;

/// Name of the Lease.
pub const LEASE_NAME: &str = "argo-events-controller";

/// This replica's identity in the Lease: `POD_NAME`, else `HOSTNAME`, else a random one.
pub fn identity() -> Option<String> {
    ["POD_NAME", "HOSTNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}

/// Waits for the lease in `namespace`, then runs `work` while holding it. Returns `Ok` when
/// `work` ends (shutdown), an error when the lease is lost or cannot be managed.
pub async fn run_as_leader(
    client: Client,
    namespace: &str,
    health: Arc<Health>,
    work: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut builder = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_field_manager(format!("{}-lease", crate::reconcile::FIELD_MANAGER));
    if let Some(id) = identity() {
        builder = builder.with_identity(id);
    }
    let manager = builder
        .build()
        .await
        .with_context(|| format!("setting up the Lease {namespace}/{LEASE_NAME}"))?;
    let (mut leader, handle) = manager.watch().await;
    // A standby is healthy and ready: it only waits.
    health.ready.store(true, Ordering::Relaxed);
    info!(
        lease = LEASE_NAME,
        namespace, "waiting for the leader lease"
    );
    while !*leader.borrow_and_update() {
        leader.changed().await.map_err(|_| {
            anyhow::anyhow!("the lease manager of {namespace}/{LEASE_NAME} stopped")
        })?;
    }
    info!(lease = LEASE_NAME, namespace, "became the leader");
    health.ready.store(false, Ordering::Relaxed);
    let lost = async {
        loop {
            if leader.changed().await.is_err() || !*leader.borrow_and_update() {
                return;
            }
        }
    };
    let result = tokio::select! {
        _ = work => Ok(()),
        _ = lost => {
            warn!(lease = LEASE_NAME, namespace, "lost the leader lease; exiting");
            Err(anyhow::anyhow!("lost the leader lease {namespace}/{LEASE_NAME}"))
        }
    };
    // Dropping the receiver makes the manager release the lease.
    drop(leader);
    if result.is_ok() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), handle).await;
    }
    result
}
