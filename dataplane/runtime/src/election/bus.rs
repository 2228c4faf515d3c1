//! The default elector: a lock key on the EventBus ([`argo_events_bus::leaderlock`]), driven by
//! the pure [`Candidate`].

use std::time::{Duration, Instant};

use argo_events_bus::BusError;
use argo_events_bus::config::JetStreamOptions;
use argo_events_bus::leaderlock::{BUCKET, LeaderLock, LockWriteError};
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::{Candidate, ElectionError, Elector, Hold, OnOutage, Renewal, Step, Timings};

/// While renewals keep failing, one warning per this period (the first failure is logged at
/// once).
const FAILING_LOG_PERIOD: Duration = Duration::from_secs(30);

/// Elects through the bus's `leader-election` KV bucket.
pub struct BusElector {
    options: JetStreamOptions,
    key: String,
    timings: Timings,
    candidate: Candidate,
    lock: Option<LeaderLock>,
}

impl BusElector {
    /// An elector for lock `key` on the bus of `options`; connects on first use. Staleness is
    /// judged by the standby's own clock ([`Candidate`]), never by server-side expiry.
    pub fn new(
        options: JetStreamOptions,
        key: impl Into<String>,
        identity: impl Into<String>,
        timings: Timings,
    ) -> BusElector {
        BusElector {
            options,
            key: key.into(),
            timings,
            candidate: Candidate::new(identity, timings),
            lock: None,
        }
    }

    /// The same elector, leading through bus outages as `on_outage` says
    /// ([`OnOutage::RideOut`]: a single replica keeps leading until it sees another holder).
    pub fn with_on_outage(mut self, on_outage: OnOutage) -> BusElector {
        self.candidate = self.candidate.with_on_outage(on_outage);
        self
    }

    async fn lock(&mut self) -> Result<LeaderLock, BusError> {
        if let Some(lock) = &self.lock {
            return Ok(lock.clone());
        }
        let lock = LeaderLock::open(&self.options, &self.key, self.timings.lease_duration).await?;
        self.lock = Some(lock.clone());
        Ok(lock)
    }

    /// One acquisition attempt: `Ok(true)` when this replica now leads.
    async fn try_acquire(&mut self) -> Result<bool, ElectionError> {
        let lock = match self.lock().await {
            Ok(lock) => lock,
            Err(BusError::Config(reason)) => {
                return Err(ElectionError::Setup {
                    key: self.describe(),
                    reason,
                });
            }
            Err(e) => {
                tracing::warn!(lock = %self.describe(), error = %e, "leader lock unavailable; retrying");
                return Ok(false);
            }
        };
        let view = match timed(self.timings, lock.read()).await {
            Ok(view) => view,
            Err(e) => {
                self.candidate.read_failed();
                tracing::warn!(lock = %self.describe(), error = %e, "reading the leader lock failed; retrying");
                return Ok(false);
            }
        };
        let previous = self.candidate.seen_holder().map(str::to_owned);
        let step = self.candidate.observe(&view, Instant::now());
        let started = Instant::now();
        let identity = self.candidate.identity().to_owned();
        let written = match step {
            Step::Wait => {
                let holder = self.candidate.seen_holder().map(str::to_owned);
                if holder != previous {
                    tracing::info!(lock = %self.describe(), leader = holder.as_deref().unwrap_or(""), "another replica leads; standing by");
                }
                return Ok(false);
            }
            Step::Create => timed(self.timings, lock.create(&identity)).await,
            Step::TakeOver { revision } => {
                tracing::info!(lock = %self.describe(), revision, "the leader lock is stale; taking it over");
                timed(self.timings, lock.update(&identity, revision)).await
            }
        };
        match written {
            Ok(revision) => {
                self.candidate.acquired(revision, started);
                Ok(true)
            }
            Err(LockWriteError::Conflict { .. }) => Ok(false),
            Err(e) => {
                tracing::warn!(lock = %self.describe(), error = %e, "writing the leader lock failed; retrying");
                Ok(false)
            }
        }
    }
}

/// Bounds one lock call by the retry period, so a hung call cannot outlive the renew deadline.
async fn timed<T>(
    timings: Timings,
    call: impl std::future::Future<Output = Result<T, impl Into<LockWriteError>>>,
) -> Result<T, LockWriteError> {
    within(timings.retry_period, call).await
}

/// Bounds one lock call by `limit`.
async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, impl Into<LockWriteError>>>,
) -> Result<T, LockWriteError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(LockWriteError::Bus(BusError::Unavailable(format!(
            "leader lock call timed out after {limit:?}"
        )))),
    }
}

#[async_trait]
impl Elector for BusElector {
    fn describe(&self) -> String {
        format!("{BUCKET}/{}", self.key)
    }

    fn identity(&self) -> &str {
        self.candidate.identity()
    }

    async fn acquire(&mut self, shutdown: &CancellationToken) -> Result<bool, ElectionError> {
        loop {
            if shutdown.is_cancelled() {
                return Ok(false);
            }
            if self.try_acquire().await? {
                return Ok(true);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(false),
                _ = tokio::time::sleep(self.timings.retry_period) => {}
            }
        }
    }

    async fn hold(&mut self, stop: &CancellationToken) -> Hold {
        let Some(lock) = self.lock.clone() else {
            return Hold::Lost("the leader lock was never opened".into());
        };
        let identity = self.candidate.identity().to_owned();
        // Renewals failing since (for rate-limited logs), and when that was last said.
        let mut failing: Option<(Instant, Instant)> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    if let Some(revision) = self.candidate.revision() {
                        match timed(self.timings, lock.release(revision)).await {
                            Ok(()) => tracing::info!(lock = %self.describe(), "released the leader lock"),
                            Err(e) => tracing::warn!(lock = %self.describe(), error = %e, "releasing the leader lock failed; a standby takes over once it sees it unchanged for a lease duration"),
                        }
                    }
                    self.candidate.conflicted();
                    return Hold::Released;
                }
                _ = tokio::time::sleep(self.candidate.pause(Instant::now())) => {}
            }
            let started = Instant::now();
            let (revision, budget) = match self.candidate.renewal(started) {
                Renewal::Lost(reason) => {
                    self.candidate.conflicted();
                    return Hold::Lost(reason);
                }
                Renewal::Renew { revision, budget } => (revision, budget),
            };
            match within(budget, lock.update(&identity, revision)).await {
                Ok(revision) => {
                    self.candidate.renewed(revision, started);
                    if let Some((since, _)) = failing.take() {
                        tracing::info!(lock = %self.describe(), failed_for = ?since.elapsed(), "renewing the leader lock works again");
                    }
                }
                Err(LockWriteError::Conflict { .. }) => {
                    let left = match self.candidate.renewal(Instant::now()) {
                        Renewal::Renew { budget, .. } => budget,
                        Renewal::Lost(_) => continue,
                    };
                    match within(left, lock.read()).await {
                        Ok(view) => {
                            if self.candidate.after_conflict(&view) {
                                tracing::info!(lock = %self.describe(), revision = ?self.candidate.revision(), "an earlier renew landed after its timeout; continuing at its revision");
                            } else {
                                return Hold::Lost("another replica wrote the leader lock".into());
                            }
                        }
                        Err(e) => {
                            tracing::warn!(lock = %self.describe(), error = %e, "re-reading the leader lock after a conflict failed; retrying until the renew deadline");
                        }
                    }
                }
                Err(e) => {
                    let now = Instant::now();
                    let say = match failing {
                        None => {
                            failing = Some((now, now));
                            true
                        }
                        Some((since, said)) if now.duration_since(said) >= FAILING_LOG_PERIOD => {
                            failing = Some((since, now));
                            true
                        }
                        Some(_) => false,
                    };
                    if say {
                        let failed_for = failing.map(|(since, _)| now.duration_since(since));
                        if self.candidate.past_deadline(now) {
                            tracing::warn!(lock = %self.describe(), error = %e, ?failed_for, "renewing the leader lock fails past the renew deadline; a single replica keeps working and renewing until it sees another holder");
                        } else {
                            tracing::warn!(lock = %self.describe(), error = %e, ?failed_for, "renewing the leader lock failed; retrying until the renew deadline");
                        }
                    }
                }
            }
        }
    }
}
