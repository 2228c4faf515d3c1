//! The Sensor loop: one task per trigger, pulling its dependencies' events from the bus,
//! running the engine, executing what fires, and acknowledging an event only once everything
//! it caused is done: a trigger that succeeded, or condition state safely written to the
//! Sensor's key-value bucket. A crash anywhere before the ack means redelivery: at least once.
//! Events replayed through [`Replays`] (the pod's `/replay`) take the same path, see
//! [`crate::replay`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argo_events_api::cloudevent::Event;
use argo_events_api::defaults::{EffectiveBackoff, effective_retry};
use argo_events_api::{RateLimit, Sensor, Trigger};
use argo_events_bus::{Delivery, EventBus, KeyValue, Subscription, naming};
use argo_events_engine::machine::{DependencyVerdict, StoredEvent, TriggerState, TriggerVerdict};
use argo_events_engine::render::{self, Rendered, SourceLoader};
use argo_events_engine::{Command, SensorMachine, State};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::metrics::SensorMetrics;
use crate::replay::{Injected, Replays};
use crate::triggers::{Executor, TriggerError};

/// Hears about what the Sensor does (the `run` command prints it; pods log it, keep it for
/// `/decisions` and turn it into Kubernetes Events).
pub trait SensorObserver: Send + Sync {
    /// An event reached a trigger's dependencies.
    fn event(&self, trigger: &str, event: &Event, verdicts: &[DependencyVerdict]);
    /// The engine's decision for a trigger on that event.
    fn decision(&self, verdict: &TriggerVerdict);
    /// A trigger ran (once per attempt).
    fn executed(&self, trigger: &str, result: &Result<String, String>);
    /// A trigger failed with `error` (just reported through [`SensorObserver::executed`]) and
    /// will be tried again as `retry` says. The loop logs it already; nothing by default.
    fn retried(&self, _trigger: &str, _error: &str, _retry: &Retry) {}
    /// A trigger failed for good with `error`: its `dlqTrigger` named `dlq` runs next (`None`:
    /// it has none, and the event is acknowledged). The loop logs it already; nothing by
    /// default.
    fn dead_lettered(&self, _trigger: &str, _error: &str, _dlq: Option<&str>) {}
}

/// How a failed trigger is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Its `retryStrategy`: attempt `attempt` of `steps` failed; the next follows after `wait`.
    Backoff {
        /// The attempt that failed, from 1.
        attempt: u32,
        /// How many attempts the strategy allows.
        steps: u32,
        /// The wait before the next attempt.
        wait: Duration,
    },
    /// Every attempt of this delivery failed: the bus delivers the event again after `delay`.
    Redelivery {
        /// The delivery that failed, from 1.
        delivered: u64,
        /// Deliveries allowed before the trigger gives up.
        max: u64,
        /// When the bus delivers it again.
        delay: Duration,
    },
}

impl std::fmt::Display for Retry {
    /// For people: waits to the millisecond.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: &Duration| {
            argo_events_bus::config::go_duration(Duration::from_millis(
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            ))
        };
        match self {
            Retry::Backoff {
                attempt,
                steps,
                wait,
            } => write!(
                f,
                "attempt {attempt} of {steps} failed; retrying in {}",
                ms(wait)
            ),
            Retry::Redelivery {
                delivered,
                max,
                delay,
            } => write!(
                f,
                "delivery {delivered} of {max} failed; the event is redelivered in {}",
                ms(delay)
            ),
        }
    }
}

/// Logs through `tracing`.
pub struct LogObserver;

impl SensorObserver for LogObserver {
    fn event(&self, trigger: &str, event: &Event, verdicts: &[DependencyVerdict]) {
        for v in verdicts {
            tracing::info!(trigger, event_id = %event.id, dependency = %v.name, matched = v.matched, reason = %v.reason, "event");
        }
    }
    fn decision(&self, v: &TriggerVerdict) {
        tracing::info!(trigger = %v.name, fired = v.fired, reason = %v.reason, "decision");
    }
    fn executed(&self, trigger: &str, result: &Result<String, String>) {
        match result {
            Ok(summary) => tracing::info!(trigger, %summary, "trigger succeeded"),
            Err(error) => tracing::warn!(trigger, %error, "trigger failed"),
        }
    }
}

/// Env var: firings in flight at once per trigger loop ([`Options::concurrency`]).
pub const TRIGGER_CONCURRENCY: &str = "TRIGGER_CONCURRENCY";
/// Env var: the longest attempt of a trigger kind without a timeout of its own
/// ([`Options::trigger_timeout`], a Go duration).
pub const TRIGGER_TIMEOUT: &str = "TRIGGER_TIMEOUT";
/// Default of [`Options::concurrency`].
pub const DEFAULT_TRIGGER_CONCURRENCY: usize = 4;
/// Largest accepted [`Options::concurrency`].
pub const MAX_TRIGGER_CONCURRENCY: usize = 256;
/// Default of [`Options::trigger_timeout`] (as upstream's http trigger's default timeout).
pub const DEFAULT_TRIGGER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long past its own `timeout` an http attempt may run before the loop gives up on it (the
/// client enforces `timeout` itself; this only backs it up).
const HTTP_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// Tuning of the loop.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages per fetch.
    pub batch: usize,
    /// Longest wait of one fetch.
    pub fetch_wait: Duration,
    /// Events with an id seen within this window are acknowledged without running again.
    pub dedupe_window: Duration,
    /// How often `in_progress` is sent while a trigger runs.
    pub heartbeat: Duration,
    /// A retryable failure is redelivered at most this many times before it is given up.
    pub max_deliveries: u64,
    /// Ack confirmations awaited in the background at once.
    pub acks_in_flight: usize,
    /// Firings in flight at once per trigger (`TRIGGER_CONCURRENCY`, default 4): a slow or
    /// hung action holds one slot, and later events go on in the others. Events of a trigger
    /// may then complete out of bus order; 1 keeps the order (each event is settled before
    /// the next is taken).
    pub concurrency: usize,
    /// The longest attempt of a trigger kind that has no timeout of its own
    /// (`TRIGGER_TIMEOUT`, default 60 s): an attempt cut off fails retryably. An http
    /// trigger's attempt is bounded by its `timeout` (seconds, default 60); a `k8s` or
    /// `argoWorkflow` trigger waiting for `policy.k8s` labels gets its backoff's total wait
    /// on top ([`attempt_timeout`]).
    pub trigger_timeout: Duration,
}

impl Options {
    /// The defaults with `TRIGGER_CONCURRENCY` and `TRIGGER_TIMEOUT` read through `lookup`;
    /// a value that cannot be used is an error naming the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Options, String> {
        let mut options = Options::default();
        if let Some(text) = lookup(TRIGGER_CONCURRENCY) {
            options.concurrency = text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_TRIGGER_CONCURRENCY).contains(n))
                .ok_or_else(|| {
                    format!(
                        "{TRIGGER_CONCURRENCY} must be a whole number from 1 to {MAX_TRIGGER_CONCURRENCY}, got {text:?}"
                    )
                })?;
        }
        if let Some(text) = lookup(TRIGGER_TIMEOUT) {
            options.trigger_timeout = argo_events_api::duration::parse_go_duration(text.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    format!(
                        "{TRIGGER_TIMEOUT} must be a positive Go duration (e.g. 60s), got {text:?}"
                    )
                })?;
        }
        Ok(options)
    }
}

/// The longest one attempt of a rendered trigger may take: an http trigger's own `timeout`
/// (plus a second, the client enforcing it first); `default` for other kinds, plus the total
/// wait of the `policy.k8s` backoff for `k8s` and `argoWorkflow` triggers that wait for labels.
pub fn attempt_timeout(
    rendered: &Rendered,
    policy: Option<&argo_events_api::TriggerPolicy>,
    default: Duration,
) -> Duration {
    if let Some(http) = &rendered.template.http {
        return http.effective_timeout().saturating_add(HTTP_TIMEOUT_GRACE);
    }
    let waits_for_labels = matches!(rendered.kind, "k8s" | "argoWorkflow")
        && policy
            .and_then(|p| p.k8s.as_ref())
            .is_some_and(|k| !k.labels.is_empty());
    if !waits_for_labels {
        return default;
    }
    let backoff = policy
        .and_then(|p| p.k8s.as_ref())
        .and_then(|k| k.backoff.clone())
        .unwrap_or_default()
        .effective()
        .unwrap_or(EffectiveBackoff::ONCE);
    default.saturating_add(backoff_total(&backoff))
}

/// The most a backoff's polls can wait in all (a wait between each two of its `steps`
/// checks, every one at its full jitter), capped at a day.
fn backoff_total(backoff: &EffectiveBackoff) -> Duration {
    let cap = Duration::from_secs(24 * 3600).as_secs_f64();
    let mut wait = backoff.duration.as_secs_f64();
    let mut total = 0.0f64;
    for _ in 1..backoff.steps.max(1) {
        total += wait * (1.0 + backoff.jitter.max(0.0));
        if !total.is_finite() || total >= cap {
            total = cap;
            break;
        }
        wait *= backoff.factor.max(0.0);
    }
    Duration::try_from_secs_f64(total.min(cap)).unwrap_or(Duration::ZERO)
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 64,
            fetch_wait: Duration::from_secs(1),
            dedupe_window: Duration::from_secs(60),
            heartbeat: Duration::from_secs(5),
            max_deliveries: 5,
            acks_in_flight: 256,
            concurrency: DEFAULT_TRIGGER_CONCURRENCY,
            trigger_timeout: DEFAULT_TRIGGER_TIMEOUT,
        }
    }
}

/// Everything a Sensor needs to run.
pub struct SensorRunner {
    /// The Sensor.
    pub sensor: Sensor,
    /// The bus.
    pub bus: Arc<dyn EventBus>,
    /// Runs triggers.
    pub executor: Arc<Executor>,
    /// Reads trigger sources that are not inline.
    pub loader: Arc<dyn SourceLoader + Send + Sync>,
    /// Metrics.
    pub metrics: Arc<SensorMetrics>,
    /// Sees decisions.
    pub observer: Arc<dyn SensorObserver>,
    /// Tuning.
    pub options: Options,
}

/// A runtime failure of the Sensor as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// The bus failed.
    #[error("trigger {trigger}: {source}")]
    Bus {
        /// Which trigger's loop.
        trigger: String,
        /// The bus error.
        #[source]
        source: argo_events_bus::BusError,
    },
    /// The Sensor cannot run as written.
    #[error("Sensor {sensor}: {reason}")]
    Invalid {
        /// Sensor name.
        sensor: String,
        /// What is wrong.
        reason: String,
    },
}

impl SensorRunner {
    /// Runs every trigger until `shutdown`; returns the first fatal error.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), SensorError> {
        self.run_with_replays(shutdown, Arc::new(Replays::default()))
            .await
    }

    /// [`SensorRunner::run`], each trigger loop also taking the events `replays` hands it while
    /// it runs.
    pub async fn run_with_replays(
        self,
        shutdown: CancellationToken,
        replays: Arc<Replays>,
    ) -> Result<(), SensorError> {
        Arc::new(self).run_shared(shutdown, replays).await
    }

    /// [`SensorRunner::run_with_replays`] on a shared runner, which can be run again after it
    /// stopped (a replica that leads again after losing leadership starts its loops afresh:
    /// condition state is read back from the bus, durable consumers resume where they were).
    ///
    /// While the bus is unavailable, opening the key-value bucket, reading condition state and
    /// opening consumers are retried with [`crate::busconnect::Backoff`] until shutdown, and
    /// failed fetches every second: a bus outage never ends the loops.
    pub async fn run_shared(
        self: Arc<Self>,
        shutdown: CancellationToken,
        replays: Arc<Replays>,
    ) -> Result<(), SensorError> {
        let name = self.sensor.metadata.name.clone().unwrap_or_default();
        let machine_problems = SensorMachine::new(&self.sensor).problems();
        for p in &machine_problems {
            tracing::error!(sensor = %name, problem = %p, "this part of the Sensor will never match or fire");
        }
        let bucket = naming::kv_bucket(&name);
        let opened = retry_unavailable("opening the condition-state bucket", "", &shutdown, || {
            self.bus.key_value(&bucket)
        })
        .await;
        let kv: Arc<dyn KeyValue> = match opened {
            None => return Ok(()),
            Some(kv) => Arc::from(kv.map_err(|source| SensorError::Bus {
                trigger: String::new(),
                source,
            })?),
        };
        let runner = self;
        let mut tasks = tokio::task::JoinSet::new();
        for trigger in runner.sensor.spec.triggers.clone() {
            let runner = runner.clone();
            let kv = kv.clone();
            let shutdown = shutdown.clone();
            let replays = replays.clone();
            tasks.spawn(async move {
                runner
                    .run_trigger(Arc::new(trigger), kv, replays, shutdown)
                    .await
            });
        }
        let mut result = Ok(());
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    shutdown.cancel();
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
                Err(join) => {
                    shutdown.cancel();
                    if result.is_ok() {
                        result = Err(SensorError::Invalid {
                            sensor: name.clone(),
                            reason: format!("a trigger task stopped: {join}"),
                        });
                    }
                }
            }
        }
        result
    }

    async fn run_trigger(
        self: Arc<Self>,
        trigger: Arc<Trigger>,
        kv: Arc<dyn KeyValue>,
        replays: Arc<Replays>,
        shutdown: CancellationToken,
    ) -> Result<(), SensorError> {
        let trigger_name: Arc<str> = Arc::from(
            trigger
                .template
                .as_ref()
                .map(|t| t.name.as_str())
                .unwrap_or_default(),
        );
        let bus_err = |source| SensorError::Bus {
            trigger: trigger_name.to_string(),
            source,
        };
        // One engine per trigger, so each trigger acknowledges its own deliveries.
        let mut single = self.sensor.clone();
        single.spec.triggers = vec![(*trigger).clone()];
        let machine = SensorMachine::new(&single);
        let deps = trigger_dependencies(&single, &trigger);
        let expression = expression_of(&trigger);
        let loaded = retry_unavailable("reading condition state", &trigger_name, &shutdown, || {
            load_state(kv.as_ref(), &trigger_name, &expression, &deps)
        })
        .await;
        let mut state = match loaded {
            None => return Ok(()),
            Some(loaded) => loaded.map_err(bus_err)?,
        };

        let (tx, mut rx) = mpsc::channel::<(String, Delivery)>(self.options.batch * 2);
        let mut fetchers = tokio::task::JoinSet::new();
        for subscription in trigger_subscriptions(&single, &trigger) {
            let opened = retry_unavailable(
                "opening the durable consumer",
                &trigger_name,
                &shutdown,
                || self.bus.subscribe(&subscription),
            )
            .await;
            let mut consumer = match opened {
                None => return Ok(()),
                Some(consumer) => consumer.map_err(bus_err)?,
            };
            let tx = tx.clone();
            let shutdown = shutdown.clone();
            let options = self.options.clone();
            let dep_name = subscription.dependency;
            fetchers.spawn(async move {
                let mut failing = FailureLog::default();
                loop {
                    let batch = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        b = consumer.fetch(options.batch, options.fetch_wait) => b,
                    };
                    match batch {
                        Ok(deliveries) => {
                            if let Some(failed_for) = failing.recovered() {
                                tracing::info!(dependency = %dep_name, ?failed_for, "fetching works again");
                            }
                            for d in deliveries {
                                if tx.send((dep_name.clone(), d)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(argo_events_bus::BusError::BadMessage { sequence, reason }) => {
                            tracing::error!(dependency = %dep_name, sequence, %reason, "skipping a message that is not a CloudEvent");
                        }
                        Err(e) => {
                            if let Some(failed_for) = failing.failed(Instant::now()) {
                                tracing::warn!(dependency = %dep_name, error = %e, ?failed_for, "fetch failed; retrying every second");
                            }
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            }
                        }
                    }
                }
            });
        }
        drop(tx);

        let sensor_name = self.sensor.metadata.name.clone().unwrap_or_default();
        let mut seen = Dedupe::new(self.options.dedupe_window);
        // Acks are confirmed by the bus in the background, a bounded number at a time, so the
        // next event is handled while earlier confirmations are in flight. An ack that fails
        // means a redelivery, which the dedupe window absorbs.
        let mut acks = AckQueue::new(self.options.acks_in_flight);
        let mut limiter = trigger.rate_limit.as_ref().map(RateLimiter::new);
        // Replayed events arrive here while the loop runs; one that fails retryably is put
        // back after the redelivery delay, as the bus would deliver it again.
        let mut inlet = replays.open(&trigger_name);
        let mut replays_again = tokio::task::JoinSet::new();
        // Firings in flight: at most `concurrency`, each settling its own delivery, so a slow
        // or hung action delays only its own event. The engine and condition state stay here,
        // one event at a time. The firings are futures this task polls (not tasks of their
        // own): each is first polled in the order its event came, so actions that finish at
        // once (a log line) still happen in bus order; only those that wait overtake.
        let limit = self.options.concurrency.max(1);
        let mut running = FuturesUnordered::new();
        let ctx = SettleContext {
            trigger: &trigger_name,
            deps: &deps,
            kv: &kv,
        };
        loop {
            while replays_again.try_join_next().is_some() {}
            let (dep, delivery, replayed) = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(fired) = running.next(), if !running.is_empty() => {
                    let again = inlet.again();
                    let mut loop_state = LoopState { state: &mut state, seen: &mut seen, acks: &mut acks, again: &again, replays_again: &mut replays_again };
                    settle_fired(&ctx, fired, &mut loop_state).await;
                    continue;
                }
                n = rx.recv(), if running.len() < limit => match n {
                    Some((dep, delivery)) => (dep, delivery, false),
                    None => break,
                },
                Some(injected) = inlet.recv(), if running.len() < limit => {
                    tracing::info!(trigger = %trigger_name, dependency = %injected.dependency, sequence = injected.sequence, event_id = %injected.event.id, delivered = injected.delivered, "replaying a stored event");
                    let (dep, delivery) = injected.into_delivery();
                    (dep, delivery, true)
                }
            };
            // A replay is asked for: the duplicate window does not swallow it.
            if !replayed && seen.contains(&delivery.event.id) {
                tracing::debug!(trigger = %trigger_name, event_id = %delivery.event.id, "duplicate event acknowledged");
                acks.ack(delivery).await;
                continue;
            }
            // The event's trace continues here: a consumer span per delivery, an evaluate span
            // for the engine (the verdicts as attributes), a span per trigger attempt.
            let process = process_span(&sensor_name, &trigger_name, &dep, &delivery, replayed);
            let evaluate = tracing::info_span!(
                parent: &process,
                "evaluate",
                otel.name = %format_args!("evaluate {trigger_name}"),
                argo.dependency = %dep,
                argo.dependency.matched = tracing::field::Empty,
                argo.dependency.reason = tracing::field::Empty,
                argo.trigger.fired = tracing::field::Empty,
                argo.trigger.reason = tracing::field::Empty,
            );
            let snapshot = state.clone();
            let now = Utc::now();
            let evaluated = evaluate.in_scope(|| {
                machine.on_event(
                    &mut state,
                    &delivery.event,
                    Some(&dep),
                    now,
                    self.loader.as_ref(),
                )
            });
            let outcome = match evaluated {
                Ok(o) => {
                    record_verdicts(&evaluate, &dep, &o);
                    drop(evaluate);
                    o
                }
                Err(e) => {
                    tracing::error!(trigger = %trigger_name, error = %e, "routing failed");
                    if !replayed {
                        acks.ack(delivery).await;
                    }
                    continue;
                }
            };
            self.observer
                .event(&trigger_name, &delivery.event, &outcome.dependencies);
            for v in &outcome.triggers {
                self.observer.decision(v);
            }
            let fires = match self
                .record(&trigger_name, &deps, outcome.commands, &kv, &state)
                .await
            {
                Ok(fires) => fires,
                Err(delay) => {
                    // Condition state could not be written: as if nothing happened.
                    state = snapshot;
                    let again = inlet.again();
                    let mut loop_state = LoopState {
                        state: &mut state,
                        seen: &mut seen,
                        acks: &mut acks,
                        again: &again,
                        replays_again: &mut replays_again,
                    };
                    let fired = Fired {
                        dep,
                        delivery,
                        replayed,
                        settle: Settle::Redeliver(delay),
                        restore: Vec::new(),
                    };
                    settle_fired(&ctx, fired, &mut loop_state).await;
                    continue;
                }
            };
            if fires.is_empty() {
                seen.insert(&delivery.event.id);
                if !replayed {
                    acks.ack(delivery).await;
                }
                continue;
            }
            // The stored events this firing consumed (those of other dependencies): put back
            // if it fails and the event comes again, as the state was before it.
            let restore = consumed(&snapshot, &trigger_name, &dep, &fires);
            // `rateLimit`: the slot is taken here, in bus order, and waited for inside the
            // firing, so the loop (and the firings in flight) go on meanwhile.
            let slot = limiter.as_mut().map(RateLimiter::reserve);
            let (this, trigger, name) = (&self, &trigger, &trigger_name);
            running.push(
                async move {
                    if let Some(at) = slot {
                        tokio::time::sleep(at.saturating_duration_since(Instant::now())).await;
                    }
                    let settle = this.fire(trigger, name, &fires, &delivery).await;
                    Fired {
                        dep,
                        delivery,
                        replayed,
                        settle,
                        restore,
                    }
                }
                .instrument(process),
            );
        }
        // Let what is in flight finish (each firing is bounded by its trigger's timeout) and
        // settle it, so nothing that succeeded is redelivered needlessly.
        while let Some(fired) = running.next().await {
            let again = inlet.again();
            let mut loop_state = LoopState {
                state: &mut state,
                seen: &mut seen,
                acks: &mut acks,
                again: &again,
                replays_again: &mut replays_again,
            };
            settle_fired(&ctx, fired, &mut loop_state).await;
        }
        acks.drain().await;
        fetchers.abort_all();
        replays_again.abort_all();
        Ok(())
    }

    /// Carries out what the engine decided except firing, in order: condition state written,
    /// failures reported. Returns the firings to run, or the redelivery delay when condition
    /// state could not be written.
    async fn record(
        &self,
        trigger_name: &str,
        deps: &[String],
        commands: Vec<Command>,
        kv: &Arc<dyn KeyValue>,
        state: &State,
    ) -> Result<Vec<Firing>, Duration> {
        let mut fires = Vec::new();
        for command in commands {
            match command {
                Command::Persist { trigger: t } | Command::Reset { trigger: t, .. } => {
                    if let Err(e) =
                        persist_trigger(kv.as_ref(), &t, state.triggers.get(&t), deps).await
                    {
                        tracing::warn!(trigger = %t, error = %e, "could not persist condition state; redelivering");
                        return Err(Duration::from_secs(1));
                    }
                }
                Command::Fire {
                    events, rendered, ..
                } => fires.push(Firing { events, rendered }),
                Command::Fail { error, .. } => {
                    self.metrics.action_failed(trigger_name);
                    self.observer.executed(trigger_name, &Err(error.clone()));
                }
                Command::Ack => {}
            }
        }
        Ok(fires)
    }

    /// Runs the firings of one delivery (with retries, heartbeats and the dead-letter
    /// trigger) and says how the delivery is to be settled.
    async fn fire(
        &self,
        trigger: &Trigger,
        trigger_name: &str,
        fires: &[Firing],
        delivery: &Delivery,
    ) -> Settle {
        for firing in fires {
            let result = self
                .with_heartbeat(
                    delivery,
                    self.execute_with_retry(
                        trigger,
                        trigger_name,
                        &firing.rendered,
                        &firing.events,
                    ),
                )
                .await;
            match result {
                Ok(()) => {}
                Err(e) if e.is_retryable() && delivery.delivered < self.options.max_deliveries => {
                    tracing::warn!(trigger = %trigger_name, error = %e, delivered = delivery.delivered, "trigger failed; the event will be redelivered");
                    let delay = Duration::from_secs(2u64.pow(delivery.delivered.min(6) as u32));
                    self.observer.retried(
                        trigger_name,
                        &e.to_string(),
                        &Retry::Redelivery {
                            delivered: delivery.delivered,
                            max: self.options.max_deliveries,
                            delay,
                        },
                    );
                    return Settle::Redeliver(delay);
                }
                Err(e) => {
                    self.dead_letter(trigger, trigger_name, &firing.events, &e)
                        .await;
                }
            }
        }
        Settle::Ack
    }

    /// Runs `work` while telling the bus every `heartbeat` that the delivery is still being
    /// handled, so a slow trigger is not redelivered to another consumer meanwhile.
    async fn with_heartbeat<T>(
        &self,
        delivery: &Delivery,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        // The first heartbeat is due one period from now (a fresh `interval` would tick at once,
        // and that first tick costs a timer round trip per trigger run).
        let period = self.options.heartbeat;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = ticker.tick() => {
                    if let Err(e) = delivery.acker.in_progress().await {
                        tracing::debug!(event_id = %delivery.event.id, error = %e, "in-progress heartbeat failed");
                    }
                }
            }
        }
    }

    async fn execute_with_retry(
        &self,
        trigger: &Trigger,
        trigger_name: &str,
        rendered: &Rendered,
        events: &BTreeMap<String, Event>,
    ) -> Result<(), TriggerError> {
        let backoff = effective_retry(trigger.retry_strategy.as_ref()).unwrap_or_else(|e| {
            tracing::warn!(trigger = %trigger_name, error = %e, "retryStrategy cannot be read; one attempt");
            EffectiveBackoff::ONCE
        });
        let steps = backoff.steps.max(1);
        let mut wait = backoff.duration;
        let mut attempt = 1;
        let limit = attempt_timeout(
            rendered,
            trigger.policy.as_ref(),
            self.options.trigger_timeout,
        );
        loop {
            let started = Instant::now();
            let span = tracing::info_span!(
                "trigger",
                otel.name = %format_args!("trigger {trigger_name}"),
                argo.trigger.name = %trigger_name,
                argo.trigger.kind = rendered.kind,
                argo.trigger.attempt = attempt,
                argo.trigger.result = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            let attempt_result = tokio::time::timeout(
                limit,
                self.executor
                    .execute(trigger_name, rendered, events, trigger.policy.as_ref()),
            )
            .instrument(span.clone())
            .await;
            let result = attempt_result.unwrap_or_else(|_| {
                Err(TriggerError::TimedOut {
                    trigger: trigger_name.to_owned(),
                    kind: rendered.kind.to_owned(),
                    after: limit,
                })
            });
            self.metrics
                .action_duration(trigger_name, started.elapsed());
            match &result {
                Ok(r) => {
                    span.record("argo.trigger.result", r.summary.as_str());
                }
                Err(e) => {
                    span.record("argo.trigger.result", "failed");
                    argo_events_bus::tracecontext::record_error(&span, e);
                }
            }
            drop(span);
            match result {
                Ok(r) => {
                    self.metrics.action_triggered(trigger_name);
                    self.observer.executed(trigger_name, &Ok(r.summary));
                    return Ok(());
                }
                Err(e) => {
                    self.metrics.action_failed(trigger_name);
                    self.observer.executed(trigger_name, &Err(e.to_string()));
                    if !(e.is_retryable() && attempt < steps) {
                        if trigger.retry_strategy.is_some() {
                            self.metrics.action_retries_failed(trigger_name);
                        }
                        return Err(e);
                    }
                    let pause = jittered(wait, backoff.jitter);
                    self.observer.retried(
                        trigger_name,
                        &e.to_string(),
                        &Retry::Backoff {
                            attempt,
                            steps,
                            wait: pause,
                        },
                    );
                    tokio::time::sleep(pause).await;
                    wait = wait.mul_f64(backoff.factor.max(1.0));
                    attempt += 1;
                }
            }
        }
    }

    async fn dead_letter(
        &self,
        trigger: &Trigger,
        trigger_name: &str,
        events: &BTreeMap<String, Event>,
        error: &TriggerError,
    ) {
        let Some(dlq) = trigger.dlq_trigger.as_deref() else {
            tracing::error!(trigger = %trigger_name, %error, "trigger failed for good; no dlqTrigger, the event is acknowledged");
            self.observer
                .dead_lettered(trigger_name, &error.to_string(), None);
            return;
        };
        let dlq_name = dlq
            .template
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_else(|| format!("{trigger_name}-dlq"));
        self.observer
            .dead_lettered(trigger_name, &error.to_string(), Some(&dlq_name));
        match render::render(dlq, events, self.loader.as_ref()) {
            Ok(rendered) => {
                if let Err(e) = self
                    .execute_with_retry(dlq, &dlq_name, &rendered, events)
                    .await
                {
                    tracing::error!(trigger = %trigger_name, dlq = %dlq_name, error = %e, "dlqTrigger failed too");
                }
            }
            Err(e) => {
                tracing::error!(trigger = %trigger_name, dlq = %dlq_name, error = %e, "dlqTrigger cannot be rendered")
            }
        }
    }
}

enum Settle {
    Ack,
    Redeliver(Duration),
}

/// One firing the engine asked for.
struct Firing {
    events: BTreeMap<String, Event>,
    rendered: Box<Rendered>,
}

/// A delivery whose firings ran, and how to settle it.
struct Fired {
    dep: String,
    delivery: Delivery,
    replayed: bool,
    settle: Settle,
    /// Stored events the firing consumed, put back on a redelivery.
    restore: Vec<(String, StoredEvent)>,
}

/// What settling needs from the trigger loop that does not change.
struct SettleContext<'a> {
    trigger: &'a str,
    deps: &'a [String],
    kv: &'a Arc<dyn KeyValue>,
}

/// What settling changes in the trigger loop.
struct LoopState<'a> {
    state: &'a mut State,
    seen: &'a mut Dedupe,
    acks: &'a mut AckQueue,
    again: &'a mpsc::Sender<Injected>,
    replays_again: &'a mut tokio::task::JoinSet<()>,
}

/// Settles a delivery whose firings finished: acked (and remembered as seen) on success;
/// on a redelivery, the events the firing consumed go back into the condition state where
/// no newer event took their place, and the bus (or the replay inlet) gets it again later.
async fn settle_fired(ctx: &SettleContext<'_>, fired: Fired, lp: &mut LoopState<'_>) {
    let Fired {
        dep,
        delivery,
        replayed,
        settle,
        restore,
    } = fired;
    let delay = match settle {
        Settle::Ack => {
            lp.seen.insert(&delivery.event.id);
            if !replayed {
                lp.acks.ack(delivery).await;
            }
            return;
        }
        Settle::Redeliver(delay) => delay,
    };
    if !restore.is_empty() {
        let ts = lp.state.triggers.entry(ctx.trigger.to_owned()).or_default();
        for (d, stored) in restore {
            ts.events.entry(d).or_insert(stored);
        }
        if let Err(e) = persist_trigger(
            ctx.kv.as_ref(),
            ctx.trigger,
            lp.state.triggers.get(ctx.trigger),
            ctx.deps,
        )
        .await
        {
            tracing::warn!(trigger = %ctx.trigger, error = %e, "could not persist the restored condition state; it is kept in memory");
        }
    }
    if replayed {
        let again = lp.again.clone();
        let injected = Injected {
            dependency: dep,
            sequence: delivery.stream_sequence,
            delivered: delivery.delivered + 1,
            event: delivery.event,
        };
        lp.replays_again.spawn(async move {
            tokio::time::sleep(delay).await;
            // The loop has stopped when this fails: the replay ends there.
            let _ = again.send(injected).await;
        });
    } else if let Err(e) = delivery.acker.nak(Some(delay)).await {
        tracing::warn!(trigger = %ctx.trigger, error = %e, "nak failed; the bus redelivers after its ack wait");
    }
}

/// The stored events of `snapshot` (the state before the event on `dep`) that `fires`
/// consumed: those of the other dependencies of the firing.
fn consumed(
    snapshot: &State,
    trigger: &str,
    dep: &str,
    fires: &[Firing],
) -> Vec<(String, StoredEvent)> {
    let Some(ts) = snapshot.triggers.get(trigger) else {
        return Vec::new();
    };
    ts.events
        .iter()
        .filter(|(d, _)| d.as_str() != dep && fires.iter().any(|f| f.events.contains_key(*d)))
        .map(|(d, stored)| (d.clone(), stored.clone()))
        .collect()
}

/// Runs `call` until it does not fail with [`argo_events_bus::BusError::Unavailable`],
/// waiting [`crate::busconnect::Backoff`] between attempts (each logged); `None` when
/// `shutdown` comes first.
async fn retry_unavailable<T, F, Fut>(
    what: &str,
    trigger: &str,
    shutdown: &CancellationToken,
    mut call: F,
) -> Option<Result<T, argo_events_bus::BusError>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, argo_events_bus::BusError>>,
{
    let mut backoff = crate::busconnect::Backoff::default();
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let result = tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = call() => r,
        };
        match result {
            Err(argo_events_bus::BusError::Unavailable(reason)) => {
                let wait = backoff.next_wait();
                tracing::warn!(trigger, attempt, retry_in = ?wait, %reason, "{what}: the event bus is unavailable; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            other => return Some(other),
        }
    }
}

/// Rate-limits the logs of a failure that repeats (a fetch every second through an outage):
/// the first failure, then one per [`FailureLog::PERIOD`].
#[derive(Debug, Default)]
struct FailureLog {
    /// Failing since, and last logged at.
    failing: Option<(Instant, Instant)>,
}

impl FailureLog {
    const PERIOD: Duration = Duration::from_secs(30);

    /// A failure at `now`: `Some(failing for)` when it is to be logged.
    fn failed(&mut self, now: Instant) -> Option<Duration> {
        match self.failing {
            None => {
                self.failing = Some((now, now));
                Some(Duration::ZERO)
            }
            Some((since, said)) if now.duration_since(said) >= Self::PERIOD => {
                self.failing = Some((since, now));
                Some(now.duration_since(since))
            }
            Some(_) => None,
        }
    }

    /// A success: `Some(failed for)` when it ends a run of failures.
    fn recovered(&mut self) -> Option<Duration> {
        self.failing.take().map(|(since, _)| since.elapsed())
    }
}

/// Acks confirmed in the background, at most `limit` at a time.
struct AckQueue {
    limit: usize,
    pending: tokio::task::JoinSet<()>,
}

impl AckQueue {
    fn new(limit: usize) -> Self {
        AckQueue {
            limit: limit.max(1),
            pending: tokio::task::JoinSet::new(),
        }
    }

    async fn ack(&mut self, delivery: Delivery) {
        while self.pending.len() >= self.limit {
            self.pending.join_next().await;
        }
        self.pending.spawn(async move {
            if let Err(e) = delivery.acker.ack().await {
                tracing::warn!(event_id = %delivery.event.id, error = %e, "ack failed; the event may be redelivered");
            }
        });
    }

    async fn drain(&mut self) {
        while self.pending.join_next().await.is_some() {}
    }
}

fn jittered(wait: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return wait;
    }
    wait.mul_f64(1.0 + rand::random::<f64>() * jitter)
}

/// The dependencies a trigger listens to: those its conditions name, `-` and `_` alike (all
/// without conditions).
pub fn trigger_dependencies(sensor: &Sensor, trigger: &Trigger) -> Vec<String> {
    let all: Vec<String> = sensor
        .spec
        .dependencies
        .iter()
        .map(|d| d.name.clone())
        .collect();
    let conditions = trigger
        .template
        .as_ref()
        .map(|t| t.conditions.trim())
        .unwrap_or_default();
    if conditions.is_empty() {
        return all;
    }
    match argo_events_engine::conditions::Conditions::parse(conditions) {
        Ok(c) => c
            .dependencies(&all)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The subscriptions of one trigger: one durable consumer per dependency it listens to, in
/// spec order.
pub fn trigger_subscriptions(sensor: &Sensor, trigger: &Trigger) -> Vec<Subscription> {
    let sensor_name = sensor.metadata.name.clone().unwrap_or_default();
    let trigger_name = trigger
        .template
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let deps = trigger_dependencies(sensor, trigger);
    sensor
        .spec
        .dependencies
        .iter()
        .filter(|d| deps.contains(&d.name))
        .map(|d| Subscription {
            sensor: sensor_name.clone(),
            trigger: trigger_name.clone(),
            dependency: d.name.clone(),
            event_source: d.event_source_name.clone(),
            event_name: d.event_name.clone(),
        })
        .collect()
}

/// Every subscription of a Sensor, trigger by trigger (what its pod reads, and `/bus` reports).
pub fn subscriptions(sensor: &Sensor) -> Vec<Subscription> {
    sensor
        .spec
        .triggers
        .iter()
        .flat_map(|t| trigger_subscriptions(sensor, t))
        .collect()
}

fn expression_of(trigger: &Trigger) -> String {
    trigger
        .template
        .as_ref()
        .map(|t| t.conditions.clone())
        .unwrap_or_default()
}

/// Reads a trigger's stored condition state. When the stored conditions differ from the
/// current ones the old state no longer means anything: it is purged, as upstream does.
async fn load_state(
    kv: &dyn KeyValue,
    trigger: &str,
    expression: &str,
    deps: &[String],
) -> Result<State, argo_events_bus::BusError> {
    let expression_key = naming::kv_expression_key(trigger);
    let stored_expression = kv.get(&expression_key).await?;
    let prefix = format!("{trigger}/");
    if stored_expression.as_deref() != Some(expression.as_bytes()) {
        for key in kv.keys().await? {
            if key.starts_with(&prefix) {
                kv.delete(&key).await?;
            }
        }
        kv.put(
            &expression_key,
            Bytes::copy_from_slice(expression.as_bytes()),
        )
        .await?;
        return Ok(State::default());
    }
    let mut ts = TriggerState::default();
    for dep in deps {
        let Some(raw) = kv.get(&naming::kv_dependency_key(trigger, dep)).await? else {
            continue;
        };
        match decode_stored(&raw) {
            Ok(stored) => {
                ts.events.insert(dep.clone(), stored);
            }
            Err(e) => {
                tracing::warn!(trigger, dependency = %dep, error = %e, "dropping unreadable stored state")
            }
        }
    }
    let mut state = State::default();
    if !ts.events.is_empty() {
        state.triggers.insert(trigger.to_owned(), ts);
    }
    Ok(state)
}

/// Upstream's stored-event layout: `{"StreamSeq","ConsumerSeq","Timestamp","Event"}`.
fn encode_stored(stored: &StoredEvent) -> Bytes {
    Bytes::from(
        json!({
            "StreamSeq": 0,
            "ConsumerSeq": 0,
            "Timestamp": stored.stored_at.to_rfc3339(),
            "Event": stored.event.to_cloudevent(),
        })
        .to_string(),
    )
}

fn decode_stored(raw: &[u8]) -> Result<StoredEvent, String> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    let stored_at = v
        .get("Timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or("no Timestamp")?;
    let event =
        Event::from_cloudevent(v.get("Event").ok_or("no Event")?).map_err(|e| e.to_string())?;
    Ok(StoredEvent { event, stored_at })
}

/// Writes a trigger's state: present dependencies put, absent ones deleted.
async fn persist_trigger(
    kv: &dyn KeyValue,
    trigger: &str,
    state: Option<&TriggerState>,
    deps: &[String],
) -> Result<(), argo_events_bus::BusError> {
    for dep in deps {
        let key = naming::kv_dependency_key(trigger, dep);
        match state.and_then(|s| s.events.get(dep)) {
            Some(stored) => kv.put(&key, encode_stored(stored)).await?,
            None => kv.delete(&key).await?,
        }
    }
    Ok(())
}

/// Remembers event ids for a while (upstream keeps a one-minute window per trigger).
struct Dedupe {
    window: Duration,
    order: VecDeque<(Instant, String)>,
    ids: HashMap<String, Instant>,
}

impl Dedupe {
    fn new(window: Duration) -> Self {
        Dedupe {
            window,
            order: VecDeque::new(),
            ids: HashMap::new(),
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        while let Some((at, id)) = self.order.front() {
            if now.duration_since(*at) < self.window {
                break;
            }
            if self.ids.get(id) == Some(at) {
                self.ids.remove(id);
            }
            self.order.pop_front();
        }
    }

    fn contains(&mut self, id: &str) -> bool {
        self.expire();
        !id.is_empty() && self.ids.contains_key(id)
    }

    fn insert(&mut self, id: &str) {
        if id.is_empty() {
            return;
        }
        let now = Instant::now();
        self.ids.insert(id.to_owned(), now);
        self.order.push_back((now, id.to_owned()));
    }
}

/// `rateLimit`: at most `requestsPerUnit` executions per unit, spaced evenly.
struct RateLimiter {
    interval: Duration,
    next: Instant,
}

impl RateLimiter {
    fn new(limit: &RateLimit) -> Self {
        let unit = match limit.unit.as_str() {
            "Minute" => Duration::from_secs(60),
            "Hour" => Duration::from_secs(3600),
            _ => Duration::from_secs(1),
        };
        let per_unit = limit.requests_per_unit.max(1) as u32;
        RateLimiter {
            interval: unit / per_unit,
            next: Instant::now(),
        }
    }

    /// Takes the next slot: when the execution may start.
    fn reserve(&mut self) -> Instant {
        let at = self.next.max(Instant::now());
        self.next = at + self.interval;
        at
    }
}

#[cfg(test)]
mod tests;

/// The consumer span of one delivery to one trigger, a child of the span that published the
/// event (its CloudEvent's `traceparent`): `process <eventSource>.<eventName>`.
fn process_span(
    sensor: &str,
    trigger: &str,
    dependency: &str,
    delivery: &Delivery,
    replayed: bool,
) -> tracing::Span {
    let event = &delivery.event;
    let span = tracing::info_span!(
        "process",
        otel.name = %format_args!("process {}.{}", event.source, event.subject),
        otel.kind = "consumer",
        messaging.operation.type = "process",
        messaging.message.id = %event.id,
        messaging.consumer.group.name = %argo_events_bus::naming::durable_name(sensor, trigger, dependency),
        messaging.message.delivery_count = delivery.delivered,
        argo.sensor = %sensor,
        argo.trigger = %trigger,
        argo.dependency = %dependency,
        argo.event_source = %event.source,
        argo.event_name = %event.subject,
        argo.replayed = replayed,
    );
    argo_events_bus::tracecontext::continue_trace(&span, &event.trace);
    span
}

/// The engine's verdicts on the evaluate span: this delivery's dependency and the trigger.
fn record_verdicts(
    span: &tracing::Span,
    dependency: &str,
    outcome: &argo_events_engine::machine::Outcome,
) {
    if let Some(v) = outcome.dependencies.iter().find(|v| v.name == dependency) {
        span.record("argo.dependency.matched", v.matched);
        span.record("argo.dependency.reason", v.reason.as_str());
    }
    if let Some(t) = outcome.triggers.first() {
        span.record("argo.trigger.fired", t.fired);
        span.record("argo.trigger.reason", t.reason.as_str());
    }
}
