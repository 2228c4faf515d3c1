//! Leader election of Sensor and EventSource replicas (reference §7.4).
//!
//! Upstream runs a Sensor (unless the bus is Kafka) and a recreate-class EventSource with more
//! than one replica only on the elected leader; rolling-class EventSources (the webhook family)
//! run on every replica. Upstream ends the process when leadership is lost; here a Sensor
//! replica stops its work and campaigns again in the same process ([`run_elected`]), and a
//! single Sensor replica rides out bus outages without stopping ([`OnOutage::RideOut`]).
//!
//! Two electors implement [`Elector`]:
//! - [`bus::BusElector`] (default): a lock key on the EventBus itself (JetStream KV bucket
//!   `leader-election`, key `<ns>-sensor-<name>` / `<ns>-eventsource-<name>`), where upstream
//!   uses graft (Raft over NATS) with those names as cluster names;
//! - [`k8s::LeaseElector`] (`LEADER_ELECTION=k8s`, set by the controller from the annotation
//!   `events.argoproj.io/leader-election: k8s`, or a Kafka bus): a Kubernetes Lease
//!   `sensor-<name>` / `eventsource-<name>` in the object's namespace.
//!
//! The decisions are pure: [`plan_sensor`] / [`plan_event_source`] (whether and how to elect),
//! [`Timings::from_lookup`] (durations from the environment) and [`Candidate`] (acquire, renew,
//! take over or wait, from the observed lock and the clock). The electors only do the I/O.

pub mod bus;
pub mod k8s;

use std::future::Future;
use std::time::{Duration, Instant};

use argo_events_api::EventSourceSpec;
use argo_events_bus::leaderlock::{LockKind, LockView, lock_key};
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// Env var choosing the elector: `k8s` for a Kubernetes Lease; anything else the bus lock.
pub const LEADER_ELECTION: &str = "LEADER_ELECTION";
/// Env var: how long a lock is valid without renewal (Go duration, default `5s`).
pub const LEADER_ELECTION_LEASE_DURATION: &str = "LEADER_ELECTION_LEASE_DURATION";
/// Env var: how long the leader keeps trying to renew before giving up (default `2s`).
pub const LEADER_ELECTION_RENEW_DEADLINE: &str = "LEADER_ELECTION_RENEW_DEADLINE";
/// Env var: how often electors retry and renew (default `1s`).
pub const LEADER_ELECTION_RETRY_PERIOD: &str = "LEADER_ELECTION_RETRY_PERIOD";
/// Env var naming this replica (set by the controller from the pod name).
pub const POD_NAME: &str = "POD_NAME";

pub use argo_events_api::eventsource::RECREATE_KINDS;

/// Election durations (upstream's Kubernetes defaults 5 s / 2 s / 1 s, for both electors here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// A lock nobody renewed for this long may be taken over.
    pub lease_duration: Duration,
    /// The leader gives up when it could not renew for this long.
    pub renew_deadline: Duration,
    /// Pause between attempts (acquire and renew).
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            lease_duration: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(2),
            retry_period: Duration::from_secs(1),
        }
    }
}

impl Timings {
    /// The durations from `LEADER_ELECTION_*` variables read through `lookup`. As upstream,
    /// an unparsable value falls back to its default (reported in the returned warnings); a
    /// set that cannot work is an error naming the variables: [`Timings::validate`].
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(Timings, Vec<String>), String> {
        let defaults = Timings::default();
        let mut warnings = Vec::new();
        let mut read = |var: &str, default: Duration| match lookup(var) {
            None => default,
            Some(text) => match argo_events_api::duration::parse_go_duration(text.trim()) {
                Ok(d) => d,
                Err(e) => {
                    warnings.push(format!("invalid value for {var} ({e}), using default"));
                    default
                }
            },
        };
        let timings = Timings {
            lease_duration: read(LEADER_ELECTION_LEASE_DURATION, defaults.lease_duration),
            renew_deadline: read(LEADER_ELECTION_RENEW_DEADLINE, defaults.renew_deadline),
            retry_period: read(LEADER_ELECTION_RETRY_PERIOD, defaults.retry_period),
        };
        timings.validate()?;
        Ok((timings, warnings))
    }

    /// Refuses durations that cannot keep a single leader: `renew > retry > 0` (as client-go)
    /// and `lease >= renew + 2 * retry`, so a standby (which takes over only after seeing the
    /// same lock unchanged for a whole lease on its own clock, polling every retry period)
    /// cannot take over before the leader's exact renew deadline has passed.
    pub fn validate(&self) -> Result<(), String> {
        let margin = self
            .renew_deadline
            .saturating_add(self.retry_period.saturating_mul(2));
        if self.retry_period.is_zero()
            || self.renew_deadline <= self.retry_period
            || self.lease_duration < margin
        {
            return Err(format!(
                "leader election needs {LEADER_ELECTION_RENEW_DEADLINE} > {LEADER_ELECTION_RETRY_PERIOD} > 0 and {LEADER_ELECTION_LEASE_DURATION} >= {LEADER_ELECTION_RENEW_DEADLINE} + 2 * {LEADER_ELECTION_RETRY_PERIOD}, got {:?} / {:?} / {:?} (lease / renew / retry)",
                self.lease_duration, self.renew_deadline, self.retry_period
            ));
        }
        Ok(())
    }
}

/// The leader's exact renew rule: leadership ends at `last_renew + renew_deadline`, where
/// `last_renew` is when the last successful renew (or the acquiring write) *started*.
/// Returns `None` once the deadline is reached, else `(pause, budget)`: how long to sleep
/// before the next attempt (`min(retry, deadline - now)`) and how long that attempt may take
/// at most if it started right now (`deadline - now`).
pub fn renew_window(
    timings: Timings,
    last_renew: Instant,
    now: Instant,
) -> Option<(Duration, Duration)> {
    let deadline = last_renew + timings.renew_deadline;
    let left = deadline.saturating_duration_since(now);
    if left.is_zero() {
        None
    } else {
        Some((timings.retry_period.min(left), left))
    }
}

/// Which elector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// A Kubernetes Lease.
    Kubernetes,
    /// A lock key on the EventBus.
    Bus,
}

/// Whether and how a replica elects a leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Every replica runs; `reason` says why.
    Everyone {
        /// Why no election.
        reason: &'static str,
    },
    /// Only the leader runs.
    Elect {
        /// Which elector.
        mechanism: Mechanism,
        /// The Lease name (`sensor-<name>` / `eventsource-<name>`).
        lease_name: String,
        /// The bus lock key (`<ns>-sensor-<name>` / `<ns>-eventsource-<name>`).
        lock_key: String,
        /// What the leader does when it cannot renew (bus lock only; a Lease always gives up
        /// at its renew deadline).
        on_outage: OnOutage,
    },
}

/// What a leader does when it cannot renew its bus lock (the bus is down or unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnOutage {
    /// Give leadership up at the renew deadline, since a standby may take over once it sees
    /// the lock unchanged for a lease duration (several replicas).
    GiveUp,
    /// Keep leading (and working) until another replica is *seen* holding the lock: a write of
    /// ours that conflicts, then a read naming someone else. For a single replica, whose only
    /// possible rival is the next pod of a rolling update: during an outage nobody can take the
    /// lock over, and once the bus is back the first renewal (one retry period) comes well
    /// before any standby's lease duration of unchanged observation.
    RideOut,
}

/// The class of an EventSource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceClass {
    /// Active on all replicas (webhook family and the other push sources).
    Rolling,
    /// Active on the leader only.
    Recreate,
}

/// The class of an EventSource's kinds; an EventSource mixing both is refused with upstream's
/// validation message (upstream's runtime would pick one at random).
pub fn source_class(spec: &EventSourceSpec) -> Result<SourceClass, String> {
    let kinds = spec.event_names();
    let recreate = kinds.iter().any(|(k, _)| RECREATE_KINDS.contains(k));
    let rolling = kinds.iter().any(|(k, _)| !RECREATE_KINDS.contains(k));
    match (recreate, rolling) {
        (true, true) => Err(
            "event sources with rolling update and recreate update strategy can not be put together"
                .into(),
        ),
        (true, false) => Ok(SourceClass::Recreate),
        _ => Ok(SourceClass::Rolling),
    }
}

/// `spec.replicas` as upstream reads it: absent or below 1 means 1.
pub fn replicas(spec_replicas: Option<i32>) -> i32 {
    spec_replicas.filter(|r| *r >= 1).unwrap_or(1)
}

fn mechanism(kafka_bus: bool, leader_election: Option<&str>) -> Mechanism {
    let k8s = leader_election.is_some_and(|v| v.trim().eq_ignore_ascii_case("k8s"));
    if kafka_bus || k8s {
        Mechanism::Kubernetes
    } else {
        Mechanism::Bus
    }
}

fn elect(
    namespace: &str,
    name: &str,
    kind: LockKind,
    kafka_bus: bool,
    leader_election: Option<&str>,
    on_outage: OnOutage,
) -> Plan {
    Plan::Elect {
        mechanism: mechanism(kafka_bus, leader_election),
        lease_name: format!("{}-{name}", kind.as_str()),
        lock_key: lock_key(namespace, kind, name),
        on_outage,
    }
}

/// The plan of a Sensor replica (`kafka_bus`: the EventBus config is Kafka; `replicas`: the
/// Sensor's `spec.replicas` as [`replicas`] reads it). Every replica of a Sensor on a Kafka
/// bus runs (Kafka consumer groups share the work); otherwise only the leader, whatever the
/// replica count, as upstream (a single replica elects itself).
///
/// A single replica still takes the lock: its Deployment rolls out by surge, so for a while
/// the old and the new pod both run, and the lock keeps the new one waiting until the old one
/// released it (two loops on one trigger would split a condition's partial state between
/// them). But it never stops for a bus outage ([`OnOutage::RideOut`]): nothing needs excluding
/// while nobody can reach the bus. With several replicas the leader gives up at its renew
/// deadline ([`OnOutage::GiveUp`]) and campaigns again ([`run_elected`]).
pub fn plan_sensor(
    namespace: &str,
    name: &str,
    replicas: i32,
    kafka_bus: bool,
    leader_election: Option<&str>,
) -> Plan {
    if kafka_bus {
        return Plan::Everyone {
            reason: "Sensors on a Kafka bus scale horizontally",
        };
    }
    let on_outage = if replicas <= 1 {
        OnOutage::RideOut
    } else {
        OnOutage::GiveUp
    };
    elect(
        namespace,
        name,
        LockKind::Sensor,
        false,
        leader_election,
        on_outage,
    )
}

/// The plan of an EventSource replica (`kafka_bus`: the EventBus config is Kafka, which
/// elects with a Lease as upstream): rolling-class sources run everywhere; recreate-class
/// ones elect when there is more than one replica (upstream skips the election for a single
/// replica since #4121).
pub fn plan_event_source(
    namespace: &str,
    name: &str,
    class: SourceClass,
    replicas: i32,
    kafka_bus: bool,
    leader_election: Option<&str>,
) -> Plan {
    match class {
        SourceClass::Rolling => Plan::Everyone {
            reason: "rolling-class event sources run on every replica",
        },
        SourceClass::Recreate if replicas <= 1 => Plan::Everyone {
            reason: "a single replica needs no election",
        },
        SourceClass::Recreate => elect(
            namespace,
            name,
            LockKind::EventSource,
            kafka_bus,
            leader_election,
            OnOutage::GiveUp,
        ),
    }
}

/// This replica's identity: `POD_NAME`, else `HOSTNAME`, else a random name.
pub fn identity(lookup: impl Fn(&str) -> Option<String>) -> String {
    for var in [POD_NAME, "HOSTNAME"] {
        if let Some(v) = lookup(var).filter(|v| !v.trim().is_empty()) {
            return v.trim().to_owned();
        }
    }
    format!("argo-events-{:016x}", rand::random::<u64>())
}

/// What a standby does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The lock is free: create it.
    Create,
    /// The lock at `revision` is stale (or ours from an earlier run): compare-and-set it.
    TakeOver {
        /// The revision to replace.
        revision: u64,
    },
    /// Someone else holds a live lock: wait a retry period.
    Wait,
}

/// What the leader does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Renew the lock held at `revision`; the call may take at most `budget` (the time left
    /// before the renew deadline).
    Renew {
        /// Our current revision.
        revision: u64,
        /// Time left before the renew deadline.
        budget: Duration,
    },
    /// The renew deadline passed: leadership is lost.
    Lost(String),
}

#[derive(Debug, Clone)]
struct Seen {
    holder: String,
    revision: u64,
    since: Instant,
}

/// The bus lock's decisions, from the observed lock and a monotonic clock. A standby takes a
/// lock over only after seeing the same holder at the same revision for a whole lease duration
/// (its own clock, no cross-host clock comparison, no server-side expiry), always by
/// compare-and-set; the leader gives up exactly at its renew deadline ([`renew_window`]), which
/// [`Timings::validate`] keeps well before any standby may take over.
#[derive(Debug, Clone)]
pub struct Candidate {
    identity: String,
    timings: Timings,
    seen: Option<Seen>,
    leading: Option<(u64, Instant)>,
    on_outage: OnOutage,
}

impl Candidate {
    /// A standby named `identity`.
    pub fn new(identity: impl Into<String>, timings: Timings) -> Candidate {
        Candidate {
            identity: identity.into(),
            timings,
            seen: None,
            leading: None,
            on_outage: OnOutage::GiveUp,
        }
    }

    /// The same candidate, leading through outages as `on_outage` says.
    pub fn with_on_outage(mut self, on_outage: OnOutage) -> Candidate {
        self.on_outage = on_outage;
        self
    }

    /// Whether the renew deadline has passed at `now` while leading (with
    /// [`OnOutage::RideOut`] this candidate keeps leading anyway).
    pub fn past_deadline(&self, now: Instant) -> bool {
        self.leading
            .is_some_and(|(_, renewed)| renew_window(self.timings, renewed, now).is_none())
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The holder last seen (standby).
    pub fn seen_holder(&self) -> Option<&str> {
        self.seen.as_ref().map(|s| s.holder.as_str())
    }

    /// Whether this candidate leads.
    pub fn is_leader(&self) -> bool {
        self.leading.is_some()
    }

    /// Our revision while leading.
    pub fn revision(&self) -> Option<u64> {
        self.leading.map(|(r, _)| r)
    }

    /// A standby's next step after reading the lock at `now`. The stale clock runs only while
    /// the same `(holder, revision)` pair is seen: a new holder or a new revision restarts it,
    /// so a revision number reused after the bucket was recreated does not count as unchanged.
    pub fn observe(&mut self, view: &LockView, now: Instant) -> Step {
        match view {
            LockView::Absent => {
                self.seen = None;
                Step::Create
            }
            LockView::Held { holder, revision } if *holder == self.identity => Step::TakeOver {
                revision: *revision,
            },
            LockView::Held { holder, revision } => match &self.seen {
                Some(seen) if seen.revision == *revision && seen.holder == *holder => {
                    if now.saturating_duration_since(seen.since) >= self.timings.lease_duration {
                        Step::TakeOver {
                            revision: *revision,
                        }
                    } else {
                        Step::Wait
                    }
                }
                _ => {
                    self.seen = Some(Seen {
                        holder: holder.clone(),
                        revision: *revision,
                        since: now,
                    });
                    Step::Wait
                }
            },
        }
    }

    /// Reading the lock failed: forget the observation, so the stale clock starts afresh from
    /// the next successful read (nothing is known about what happened meanwhile).
    pub fn read_failed(&mut self) {
        self.seen = None;
    }

    /// The write that began at `started` made us the holder at `revision`.
    pub fn acquired(&mut self, revision: u64, started: Instant) {
        self.seen = None;
        self.leading = Some((revision, started));
    }

    /// The leader's next step at `now`: lost exactly at the renew deadline, or with
    /// [`OnOutage::RideOut`] another renew bounded by the retry period (only a conflict ends
    /// leadership then).
    pub fn renewal(&self, now: Instant) -> Renewal {
        match self.leading {
            None => Renewal::Lost("not the leader".into()),
            Some((revision, renewed)) => match renew_window(self.timings, renewed, now) {
                Some((_, budget)) => Renewal::Renew { revision, budget },
                None if self.on_outage == OnOutage::RideOut => Renewal::Renew {
                    revision,
                    budget: self.timings.retry_period,
                },
                None => Renewal::Lost(format!(
                    "could not renew the lock for {:?} (renew deadline {:?})",
                    now.saturating_duration_since(renewed),
                    self.timings.renew_deadline
                )),
            },
        }
    }

    /// How long to wait before the next attempt at `now`: the retry period, cut short by the
    /// renew deadline while leading (past it, riding out an outage: the retry period).
    pub fn pause(&self, now: Instant) -> Duration {
        match self.leading {
            None => self.timings.retry_period,
            Some((_, renewed)) => match renew_window(self.timings, renewed, now) {
                Some((pause, _)) => pause,
                None if self.on_outage == OnOutage::RideOut => self.timings.retry_period,
                None => Duration::ZERO,
            },
        }
    }

    /// The renewal that began at `started` succeeded at `revision`.
    pub fn renewed(&mut self, revision: u64, started: Instant) {
        if self.leading.is_some() {
            self.leading = Some((revision, started));
        }
    }

    /// A renew met a conflict and the lock was read again as `view`. If we still hold it at a
    /// newer revision (an earlier renew timed out on our side but landed on the server), adopt
    /// that revision and keep leading (`true`); the deadline stays that of the last renew we
    /// saw succeed. Otherwise someone else wrote the lock: no longer leading (`false`).
    pub fn after_conflict(&mut self, view: &LockView) -> bool {
        match (self.leading, view) {
            (Some((ours, renewed)), LockView::Held { holder, revision })
                if *holder == self.identity && *revision > ours =>
            {
                self.leading = Some((*revision, renewed));
                true
            }
            _ => {
                self.leading = None;
                false
            }
        }
    }

    /// Someone else wrote the lock: no longer leading.
    pub fn conflicted(&mut self) {
        self.leading = None;
    }
}

/// Why an elector could not run.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// The elector cannot be set up (configuration).
    #[error("leader election for {key}: {reason}")]
    Setup {
        /// The lock key or Lease name.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// How holding leadership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Shutdown was asked; the lock was released (or the release failed and was logged).
    Released,
    /// Leadership was lost.
    Lost(String),
}

/// One replica's side of an election.
#[async_trait]
pub trait Elector: Send {
    /// What is elected (lock key or Lease), for logs.
    fn describe(&self) -> String;
    /// This replica's identity.
    fn identity(&self) -> &str;
    /// Waits until this replica leads (`Ok(true)`) or `shutdown` is cancelled (`Ok(false)`).
    /// Transient failures are logged and retried.
    async fn acquire(&mut self, shutdown: &CancellationToken) -> Result<bool, ElectionError>;
    /// Keeps leadership until `stop` is cancelled (then releases it) or it is lost.
    async fn hold(&mut self, stop: &CancellationToken) -> Hold;
}

/// How [`run_while_leader`] ended.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Shutdown came before this replica led.
    NeverLed,
    /// The work ended (shutdown or by itself) while leading; its result.
    Finished(T),
    /// Leadership was lost; the work was aborted.
    Lost(String),
}

/// Waits for leadership, then runs `work` with a token cancelled on shutdown, while holding the
/// lock. `set_leader` sees every change (for the `leader` gauge).
///
/// - Shutdown (SIGTERM): the work sees its token cancelled and finishes; only then is the lock
///   released, so two replicas never work at once by hand-over.
/// - Loss: the work is aborted at once (its future is dropped, which drops and aborts every
///   task it owns through its `JoinSet`s) with no grace period, since another replica may
///   already lead; [`run_elected`] then campaigns again (upstream exits the process).
pub async fn run_while_leader<T, F, Fut>(
    elector: &mut dyn Elector,
    shutdown: &CancellationToken,
    set_leader: &(dyn Fn(bool) + Send + Sync),
    work: F,
) -> Result<Outcome<T>, ElectionError>
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = T>,
{
    set_leader(false);
    tracing::info!(identity = %elector.identity(), lock = %elector.describe(), "waiting to become the leader");
    if !elector.acquire(shutdown).await? {
        return Ok(Outcome::NeverLed);
    }
    tracing::info!(identity = %elector.identity(), lock = %elector.describe(), "I'm the leader, starting");
    set_leader(true);
    let work_token = shutdown.child_token();
    let hold_stop = CancellationToken::new();
    let mut work = Box::pin(work(work_token.clone()));
    let identity = elector.identity().to_owned();
    let describe = elector.describe();
    let hold = elector.hold(&hold_stop);
    tokio::pin!(hold);
    tokio::select! {
        result = &mut work => {
            hold_stop.cancel();
            let _ = hold.await;
            set_leader(false);
            Ok(Outcome::Finished(result))
        }
        held = &mut hold => {
            work_token.cancel();
            drop(work);
            set_leader(false);
            let reason = match held {
                Hold::Lost(reason) => reason,
                Hold::Released => "the lock was released".to_owned(),
            };
            tracing::error!(identity = %identity, lock = %describe, %reason, "leader lost: work aborted");
            Ok(Outcome::Lost(reason))
        }
    }
}

/// Runs `work` only while this replica leads, for as long as the process runs: after a loss
/// the work (already aborted by [`run_while_leader`]) is started afresh once this replica
/// leads again, so a lost lock never ends the process. Returns when shutdown comes (`None`
/// when it came while standing by) or the work ends by itself while leading (its result).
pub async fn run_elected<T, F, Fut>(
    elector: &mut dyn Elector,
    shutdown: &CancellationToken,
    set_leader: &(dyn Fn(bool) + Send + Sync),
    mut work: F,
) -> Result<Option<T>, ElectionError>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = T>,
{
    let mut losses = 0u64;
    loop {
        match run_while_leader(elector, shutdown, set_leader, &mut work).await? {
            Outcome::NeverLed => return Ok(None),
            Outcome::Finished(result) => return Ok(Some(result)),
            Outcome::Lost(reason) => {
                losses += 1;
                if shutdown.is_cancelled() {
                    return Ok(None);
                }
                tracing::warn!(identity = %elector.identity(), lock = %elector.describe(), %reason, losses, "leadership lost; the work stopped and this replica campaigns again");
            }
        }
    }
}

#[cfg(test)]
mod tests;
